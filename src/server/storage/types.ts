import type { Readable, Writable } from 'node:stream';
import type { Descriptor } from '../../oci/manifest.js';
import type { TagCondition } from '../protocol/errors.js';
import type { GcStore } from './gc-store.js';

/**
 * What the registry needs from where it keeps data. Written so an object store can implement
 * it too: operations are whole-object puts, reads, deletes and "append a stream to an upload
 * session"; nothing here assumes rename, hard links or directories (the filesystem backend
 * uses them internally for atomicity and deduplication).
 *
 * All names, tags, digests and upload ids are validated by the HTTP layer before they get here.
 * Failures the client caused are thrown as OciError (BLOB_UNKNOWN, DIGEST_INVALID, 416 ranges...).
 */
export interface BlobInfo {
  digest: string;
  size: number;
}

export interface UploadInfo {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
  /** ms since epoch; used for the TTL purge. */
  startedAt: number;
}

export interface StoredManifest {
  digest: string;
  /** The Content-Type it was pushed with; served back unchanged. */
  mediaType: string;
  bytes: Buffer;
}

export interface ManifestRecord extends StoredManifest {
  /** Digest of the `subject` descriptor, for the referrers API. */
  subject?: string;
  /** What the referrers API reports: `artifactType`, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PutManifestOptions {
  /** Tags the repository may hold after this put. */
  maxTags?: number;
  /**
   * Compare-and-swap: apply only if this tag points where the condition says, checked atomically
   * with the write where `tagCas` is true (else OciError TAG_MOVED, 412).
   */
  ifTag?: TagCondition;
}

export interface ByteRange {
  /** Inclusive offsets. */
  start: number;
  end: number;
}

export interface RegistryStorage {
  /** True when putManifest checks `ifTag` atomically with the write (advertised as `tag-cas`). */
  readonly tagCas?: boolean;
  /** Every repository, sorted. */
  listRepositories(): Promise<string[]>;

  statBlob(repo: string, digest: string): Promise<BlobInfo | undefined>;
  /** Throws OciError BLOB_UNKNOWN when missing. */
  readBlob(repo: string, digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path for GET: opens the blob (throws BLOB_UNKNOWN when missing) and returns a
   * function that writes it, or `range` of it, to `out` and releases the blob. Must be called.
   */
  openBlobSender?(repo: string, digest: string, range?: ByteRange): Promise<(out: Writable) => Promise<void>>;
  deleteBlob(repo: string, digest: string): Promise<boolean>;
  /** Make a blob visible in `repo` without upload: from `from`, or (no `from`) from anywhere in the registry. */
  mountBlob(repo: string, digest: string, from?: string): Promise<boolean>;

  createUpload(repo: string): Promise<UploadInfo>;
  /** Undefined when unknown, expired or belonging to another repository. */
  statUpload(repo: string, id: string): Promise<UploadInfo | undefined>;
  /**
   * Append a stream to the session. With `offset`, it must equal the bytes received so far
   * (else OciError 416). Bytes are hashed as they are written.
   */
  appendUpload(repo: string, id: string, body: Readable, offset?: number): Promise<UploadInfo>;
  /** Verify the received bytes against `digest` and make the blob visible; the session ends. */
  completeUpload(repo: string, id: string, digest: string): Promise<BlobInfo>;
  cancelUpload(repo: string, id: string): Promise<boolean>;
  /** Remove sessions idle for longer than maxAgeMs; returns how many. */
  purgeUploads(maxAgeMs: number): Promise<number>;

  getManifest(repo: string, digest: string): Promise<StoredManifest | undefined>;
  resolveTag(repo: string, tag: string): Promise<string | undefined>;
  /** Optional: resolveTag + getManifest in one step, where that saves work. */
  getManifestByTag?(repo: string, tag: string): Promise<StoredManifest | undefined>;
  /**
   * Store a manifest (its bytes also become a blob) and point `tags` at it, atomically. With
   * `maxTags`, a change that would leave the repository with more tags throws OciError DENIED
   * (fs and memory atomically; s3 per instance, best effort).
   */
  putManifest(repo: string, manifest: ManifestRecord, tags: string[], options?: PutManifestOptions): Promise<void>;
  /** Remove the manifest and every tag pointing at it. */
  deleteManifest(repo: string, digest: string): Promise<boolean>;
  /** Remove one tag; the manifest stays reachable by digest. */
  deleteTag(repo: string, tag: string): Promise<boolean>;
  /**
   * Optional: remove the repository itself (tags, manifests, its links to blobs): it leaves the
   * catalog; bytes no other repository holds go with it (or at the next gc). Other repositories
   * nested under its name stay.
   * False when it did not exist. Advertised as `repo-delete`.
   */
  deleteRepository?(repo: string): Promise<boolean>;
  /** Sorted tags; undefined when the repository does not exist. */
  listTags(repo: string): Promise<string[] | undefined>;
  /**
   * Optional (the tag-digests extension): every tag with its manifest's descriptor, sorted by tag;
   * undefined when the repository does not exist. Backends without it answer plain tag lists.
   */
  listTagDescriptors?(repo: string): Promise<Array<[string, { mediaType: string; digest: string; size: number }]> | undefined>;
  /**
   * Optional: when the manifest was last pushed to `repo` (ms), as the storage records it, so it
   * survives restarts (fs: the manifest file's mtime; memory: recorded at put). Undefined when
   * unknown.
   */
  manifestPushedAt?(repo: string, digest: string): Promise<number | undefined>;
  /** Descriptors of manifests whose subject is `digest`. */
  listReferrers(repo: string, digest: string): Promise<Descriptor[]>;

  /**
   * Optional: where a client can fetch the blob directly (e.g. a presigned object-store URL).
   * When it resolves to a URL, blob GETs answer 307 to it instead of streaming the bytes.
   */
  blobRedirectUrl?(repo: string, digest: string): Promise<string | undefined>;

  close(): Promise<void>;

  // ---- optional: operations (security/ops wiring uses them when a backend has them)

  /** statBlob that also marks the blob as just used, so a concurrent gc keeps it. */
  touchBlob?(repo: string, digest: string): Promise<BlobInfo | undefined>;
  /**
   * Upload sessions that exist (after a restart: to count them against upload limits).
   * `maxIdleMs`: the session expires sooner than the upload TTL (its owner process is gone).
   */
  listUploads?(): Promise<Array<{ repository: string; id: string; size: number; modified: number; maxIdleMs?: number }>>;
  /**
   * Make `path`, a file the caller wrote and already verified against `digest` (`size` bytes),
   * a blob of `repo` without copying its bytes (the pull-through cache's store). The caller's
   * file stays where it is (readers may still have it open). False: this backend cannot adopt
   * it (e.g. another file system); use the upload path.
   */
  adoptVerifiedFile?(repo: string, digest: string, path: string, size: number): Promise<boolean>;
  /** Stored blob bytes and count, each digest once (metrics). */
  stats?(): Promise<{ bytes: number; blobs: number }>;
  /** Online garbage collection over this storage. */
  gcStore?(): GcStore;
}
