import type { DataConfig } from './v2-data.js';

/**
 * The conformance engine's settings (distribution-spec conformance/config.go) with its defaults
 * per spec version. OCI_VERSION picks the profile as it does for the engine: unset or "1.1" is
 * the stable profile, "dev" / "1.1+dev" adds upload cancel, required digest headers and tag
 * parameters, "1.0" drops anonymous mounts and the referrers API.
 */
export interface EngineConfig {
  version: string;
  repo1: string;
  repo2: string;
  apis: {
    ping: boolean;
    pull: boolean;
    push: boolean;
    blobs: { atomic: boolean; delete: boolean; digestHeader: boolean; mountAnonymous: boolean; uploadCancel: boolean };
    manifests: { atomic: boolean; delete: boolean; digestHeader: boolean; tagParam: boolean };
    tags: { atomic: boolean; delete: boolean; list: boolean };
    referrer: boolean;
  };
  /** The data switches; push, tagParam and largeManifest come from the API switches and the run. */
  data: Omit<DataConfig, 'push' | 'tagParam' | 'largeManifest'>;
}

/** The engine's minimum chunk size for chunked uploads (config.go chunkMin). */
export const CHUNK_MIN = 1024;

export function engineConfig(version = process.env['OCI_VERSION'] ?? ''): EngineConfig {
  const c: EngineConfig = {
    version: '1.1',
    repo1: 'conformance/repo1',
    repo2: 'conformance/repo2',
    apis: {
      ping: true,
      pull: true,
      push: true,
      blobs: { atomic: true, delete: true, digestHeader: false, mountAnonymous: true, uploadCancel: false },
      manifests: { atomic: true, delete: true, digestHeader: false, tagParam: false },
      tags: { atomic: true, delete: true, list: true },
      referrer: true,
    },
    data: {
      image: true,
      index: true,
      indexList: true,
      sparse: false,
      artifact: true,
      subject: true,
      subjectMissing: true,
      artifactList: true,
      subjectList: true,
      dataField: true,
      nondistributable: true,
      customFields: true,
      noLayers: true,
      emptyBlob: true,
      sha512: true,
    },
  };
  switch (version) {
    case 'dev':
    case '1.1+dev':
      c.apis.blobs.uploadCancel = true;
      c.apis.blobs.digestHeader = true;
      c.apis.manifests.digestHeader = true;
      c.apis.manifests.tagParam = true;
      c.version = '1.1+dev';
      break;
    case '':
    case 'stable':
    case '1.1':
      break;
    case '1.0':
      c.apis.blobs.mountAnonymous = false;
      c.apis.referrer = false;
      c.version = '1.0';
      break;
    default:
      throw new Error(`unsupported OCI_VERSION ${version}`);
  }
  return c;
}
