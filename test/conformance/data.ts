import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { digestOf } from '../../src/oci/digest.js';

/**
 * The fixtures of the OCI distribution-spec conformance suite (conformance/setup.go), rebuilt in
 * TypeScript: the same kinds of blobs, configs, manifests, referrers artifacts and names, fresh
 * for every run (random config authors, random 42-byte blobs), so two runs never share digests.
 */

export interface TestBlob {
  content: Buffer;
  /** Decimal, as sent in Content-Length. */
  length: string;
  digest: string;
}

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
export const EMPTY_JSON_TYPE = 'application/vnd.oci.empty.v1+json';
export const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** Every error code the spec defines; an error body must use one of them. */
export const ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
] as const;

export const TEST_TAG_NAME = 'tagtest0';
export const EMPTY_LAYER_TEST_TAG = 'emptylayer';
export const NONEXISTENT_MANIFEST = '.INVALID_MANIFEST_NAME';
export const INVALID_MANIFEST_CONTENT = Buffer.from('blablabla');
export const ANNOTATION_KEY = 'org.opencontainers.conformance.test';
export const ARTIFACT_TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
export const ARTIFACT_TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
export const ARTIFACT_TYPE_INDEX = 'application/vnd.food.stand';
export const ARTIFACT_TYPE_FILTER = 'artifactType';
/** sha256 of "{}", which the suite checks before using the empty JSON descriptor. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/**
 * The suite sizes its config and manifest arrays with a constant that is declared after four
 * `1 << iota` flags and so evaluates to 1 << 4 = 16; manifests[4] (subject of the referrers) and
 * manifests[3] (the "missing" subject, also the management image) come from that quirk. Keep it.
 */
const NUM_FIXTURES = 16;

function blob(content: Buffer): TestBlob {
  return { content, length: String(content.length), digest: digestOf(content) };
}

/** Tab-indented JSON, the shape Go's json.MarshalIndent(v, "", "\t") gives. */
function marshal(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, '\t'));
}

/** A descriptor as the suite's Go struct serialises it: `newUnspecifiedField` is never omitted. */
interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  data?: string;
  newUnspecifiedField: string | null;
}

function descriptor(mediaType: string, content: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  const { annotations, data, newUnspecifiedField } = extra;
  return {
    mediaType,
    digest: digestOf(content),
    size: content.length,
    ...(annotations ? { annotations } : {}),
    ...(data !== undefined ? { data } : {}),
    newUnspecifiedField: newUnspecifiedField ?? null,
  };
}

const LETTERS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += LETTERS[randomInt(LETTERS.length)];
  return s;
}

/** A gzipped tarball holding one small text file, like the suite's layer. */
async function makeLayer(): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.once('end', () => resolve());
    pack.once('error', reject);
  });
  pack.entry({ name: 'test.txt', mtime: new Date(0) }, 'you bothered to find out what was in here. Congratulations!\n');
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

export interface ChunkedBlob {
  blob: TestBlob;
  chunk1: Buffer;
  chunk2: Buffer;
  /** "0-N" of chunk1 and "N+1-END" of chunk2, as Content-Range values and the expected Range. */
  chunk1Range: string;
  chunk2Range: string;
}

/** A random blob split after size/2+1 bytes (the suite's chunked-upload blob). */
export function makeChunkedBlob(size: number): ChunkedBlob {
  const content = randomBytes(size);
  const cut = Math.floor(size / 2) + 1;
  const chunk1 = content.subarray(0, cut);
  const chunk2 = content.subarray(cut);
  return {
    blob: blob(content),
    chunk1,
    chunk2,
    chunk1Range: `0-${chunk1.length - 1}`,
    chunk2Range: `${chunk1.length}-${content.length - 1}`,
  };
}

export interface ConformanceData {
  /** OCI_NAMESPACE */
  name: string;
  /** OCI_CROSSMOUNT_NAMESPACE */
  crossmountName: string;
  configs: TestBlob[];
  manifests: TestBlob[];
  layer: TestBlob;
  emptyLayerManifest: TestBlob;
  /** 42 random bytes, pushed by the streamed upload and cross-mounted. */
  blobA: TestBlob;
  chunked: ChunkedBlob;
  emptyJson: TestBlob;
  refBlobA: TestBlob;
  refBlobB: TestBlob;
  refsManifestAConfig: TestBlob;
  refsManifestBConfig: TestBlob;
  refsManifestALayer: TestBlob;
  refsManifestBLayer: TestBlob;
  /** Same as B layer but its subject (manifests[3]) is never pushed in the discovery workflow. */
  refsManifestCLayer: TestBlob;
  refsIndex: TestBlob;
  /** Digest of each referrer that carries an annotation -> that annotation's value. */
  annotationValues: Map<string, string>;
  /** sha256 of "hello world": a digest nothing in the registry has. */
  dummyDigest: string;
}

export async function makeConformanceData(): Promise<ConformanceData> {
  const configs: TestBlob[] = [];
  for (let i = 0; i < NUM_FIXTURES; i++) {
    // A random author makes each workflow's config (and so its manifest) unique.
    configs.push(
      blob(
        marshal({
          author: randomString(16),
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
    );
  }
  const layer = blob(await makeLayer());
  const layers = [descriptor(LAYER_TYPE, layer.content)];
  // The config descriptor carries `data` (the config itself, base64) and a field no spec
  // defines: registries must store and serve such manifests unchanged.
  const configDescriptor = (c: TestBlob): Descriptor =>
    descriptor(CONFIG_TYPE, c.content, {
      data: c.content.toString('base64'),
      newUnspecifiedField: Buffer.from('hello world').toString('base64'),
    });
  const manifests = configs.map((c) =>
    blob(marshal({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: configDescriptor(c), layers })),
  );
  // No mediaType field and no layers.
  const emptyLayerManifest = blob(marshal({ schemaVersion: 2, config: configDescriptor(configs[1]!), layers: [] }));

  const emptyJson = blob(Buffer.from('{}'));
  const emptyJsonDescriptor = descriptor(EMPTY_JSON_TYPE, emptyJson.content);
  const refBlobA = blob(Buffer.from('NHL Peanut Butter on my NHL bagel'));
  const refBlobB = blob(Buffer.from('NBA Strawberry Jam on my NBA croissant'));
  const subject4 = descriptor(MANIFEST_TYPE, manifests[4]!.content);
  const subject3 = descriptor(MANIFEST_TYPE, manifests[3]!.content);
  const annotationValues = new Map<string, string>();
  const annotated = (doc: Record<string, unknown>, value: string): TestBlob => {
    const b = blob(marshal({ ...doc, annotations: { [ANNOTATION_KEY]: value } }));
    annotationValues.set(b.digest, value);
    return b;
  };

  // Artifacts whose type is the config's media type.
  const configArtifact = (artifactType: string, ref: TestBlob) => ({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: descriptor(artifactType, ref.content),
    layers: [emptyJsonDescriptor],
    subject: subject4,
  });
  // Artifacts with an artifactType field and the empty JSON config.
  const layerArtifact = (artifactType: string, ref: TestBlob, subject: Descriptor) => ({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    artifactType,
    config: emptyJsonDescriptor,
    layers: [descriptor(artifactType, ref.content)],
    subject,
  });
  const refsManifestAConfig = annotated(configArtifact(ARTIFACT_TYPE_A, refBlobA), 'test config a');
  const refsManifestBConfig = annotated(configArtifact(ARTIFACT_TYPE_B, refBlobB), 'test config b');
  const refsManifestALayer = annotated(layerArtifact(ARTIFACT_TYPE_A, refBlobA, subject4), 'test layer a');
  const refsManifestBLayer = annotated(layerArtifact(ARTIFACT_TYPE_B, refBlobB, subject4), 'test layer b');
  const refsManifestCLayer = blob(marshal(layerArtifact(ARTIFACT_TYPE_B, refBlobB, subject3)));
  const refsIndex = annotated(
    {
      schemaVersion: 2,
      mediaType: INDEX_TYPE,
      artifactType: ARTIFACT_TYPE_INDEX,
      manifests: [
        descriptor(MANIFEST_TYPE, refsManifestAConfig.content),
        descriptor(MANIFEST_TYPE, refsManifestALayer.content),
      ],
      subject: subject4,
    },
    'test index',
  );

  return {
    name: 'oci-conformance/myrepo',
    crossmountName: `conformance-${randomUUID()}`,
    configs,
    manifests,
    layer,
    emptyLayerManifest,
    blobA: blob(randomBytes(42)),
    chunked: makeChunkedBlob(42),
    emptyJson,
    refBlobA,
    refBlobB,
    refsManifestAConfig,
    refsManifestBConfig,
    refsManifestALayer,
    refsManifestBLayer,
    refsManifestCLayer,
    refsIndex,
    annotationValues,
    dummyDigest: digestOf('hello world'),
  };
}
