import type { Readable } from 'node:stream';
import type { ManifestHead } from '../content/types.js';
import type { Descriptor, ManifestData } from '../oci/manifest.js';

/**
 * What retag and delete need from a registry repository: the subset of the registry client's
 * Repository they use, so these features can be driven by anything that speaks it.
 */
export interface RetagRepository {
  /** `registry/name`, for messages (no credentials). */
  readonly description: string;
  listTags(): Promise<string[]>;
  headManifest(ref: string): Promise<ManifestHead | undefined>;
  getManifest(ref: string): Promise<ManifestData>;
  putManifest(ref: string, data: ManifestData): Promise<void>;
  deleteManifest(ref: string): Promise<void>;
  /** PUT under `tag` only while it points at `expected` (undefined: absent); false on 412. Only where features() has `tag-cas`. */
  putManifestIf?(tag: string, data: ManifestData, expected: string | undefined): Promise<boolean>;
  /** What the registry advertises beyond the distribution API (`Regctl-Features` on /v2/). */
  features?(): Promise<Set<string>>;
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Stream a blob (callers verify what they read). */
  getBlob(desc: Descriptor): Promise<Readable>;
  /** Store a blob; the registry verifies it against desc.digest. */
  putBlob(desc: Descriptor, body: Readable): Promise<void>;
  /** Cross-repository mount on the same registry; false when the registry did not mount it. */
  mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean>;
}
