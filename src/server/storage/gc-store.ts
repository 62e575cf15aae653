/**
 * What online garbage collection (ops/gc.ts) needs from a backend. It lives with storage, not
 * with the algorithm, so backends implement it without importing ops/ (imports point down).
 */

export interface GcObject {
  digest: string;
  size: number;
  /** Last modification, ms since epoch. */
  modified: number;
}

export interface DeleteGuard {
  /** Do not delete (return false) if the object was modified at or after this time (ms since epoch). */
  notModifiedSince: number;
}

export interface GcStore {
  listRepositories(): Promise<string[]>;
  /** Every tag of the repository and the manifest digest it points at. */
  listTags(repository: string): Promise<Array<{ tag: string; digest: string }>>;
  /** Every manifest the repository holds, tagged or not. */
  listManifests(repository: string): Promise<GcObject[]>;
  /** Manifest bytes, undefined when missing. */
  readManifest(repository: string, digest: string): Promise<Uint8Array | undefined>;
  /** Every blob linked into the repository (may include the blobs holding manifest bytes). */
  listBlobs(repository: string): Promise<GcObject[]>;
  /** Remove the manifest (and the blob holding its bytes, if the store keeps one). */
  deleteManifest(repository: string, digest: string, guard: DeleteGuard): Promise<boolean>;
  /** Unlink the blob from the repository. Never called for a digest passed to deleteManifest in the same run. */
  deleteBlob(repository: string, digest: string, guard: DeleteGuard): Promise<boolean>;
  listUploads(): Promise<Array<{ repository: string; id: string; size: number; modified: number }>>;
  deleteUpload(repository: string, id: string): Promise<boolean>;
  /** Problems the store met (e.g. repositories it left alone); added to the report. */
  warnings?(): string[];
}
