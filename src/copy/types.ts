import type { ImageSource, ImageTarget } from '../content/types.js';
import type { Platform } from '../oci/manifest.js';
import type { Limiter } from './limiter.js';

/** What happened to one blob at the destination. */
export type BlobOutcome = 'copied' | 'skipped' | 'mounted';

/** Progress and decisions, as they happen. The CLI renders them; tests record them. */
export type CopyEvent =
  /** A blob will be checked/transferred (size counts towards the planned total). */
  | { type: 'blob-queued'; digest: string; size: number; mediaType: string }
  /** Bytes actually began to flow for a blob. */
  | { type: 'blob-start'; digest: string; size: number; mediaType: string }
  | { type: 'blob-progress'; digest: string; bytes: number; size: number }
  | { type: 'blob-done'; digest: string; size: number; outcome: BlobOutcome; bytes: number }
  | { type: 'manifest'; digest: string; ref: string; mediaType: string; outcome: 'pushed' | 'exists' }
  | { type: 'tag'; tag: string; digest: string; outcome: TagOutcome }
  | { type: 'image'; ref: string; digest: string; upToDate: boolean };

export type TagOutcome = 'pushed' | 'up-to-date' | 'skipped-existing' | 'planned';

export interface CopyCommonOptions {
  source: ImageSource;
  target: ImageTarget;
  /** Blob transfers in flight at once across the whole command (default 4). */
  jobs?: number;
  /** Share a limiter between several engine calls (wins over `jobs`). */
  limiter?: Limiter;
  /** Manifest requests in flight at once (HEAD/GET/PUT of manifests and tags; default 16). */
  manifestJobs?: number;
  /** Copy just this platform's manifest out of an index (the child is tagged, not the index). */
  platform?: Platform;
  /** Also copy manifests that refer to the copied ones (recursively). */
  referrers?: boolean;
  /** Check and list what would be transferred; write nothing. */
  dryRun?: boolean;
  /**
   * The source's repository name when source and target are repositories on the same registry:
   * blobs are then mounted (`mount`/`from`) instead of uploaded, when the target allows it.
   */
  mountFrom?: string;
  onEvent?: (event: CopyEvent) => void;
  signal?: AbortSignal;
  /** Call target.commit() at the end / target.abort() on failure (default true). */
  finish?: boolean;
}

export interface CopyImageOptions extends CopyCommonOptions {
  /** Tag or digest at the source. */
  ref: string;
  /** Destination tags; none means the image is stored by digest only. */
  tags?: string[];
}

export interface CopyTagsOptions extends CopyCommonOptions {
  /** Tags to consider; default every tag of the source. */
  tags?: string[];
  include?: RegExp;
  exclude?: RegExp;
  /** Tags declared immutable: present at the destination means no further checks. */
  skipExisting?: RegExp;
  /** Tag groups (tags resolving to one digest) copied at once (default 8). */
  tagJobs?: number;
}

/** One line of a dry run (or of what a real run did, for --json). */
export interface PlanEntry {
  kind: 'blob' | 'manifest' | 'tag';
  digest: string;
  size?: number;
  mediaType?: string;
  /** For tags. */
  tag?: string;
  action: 'copy' | 'mount' | 'skip' | 'push' | 'exists';
}

export interface ImageResult {
  /** The ref asked for at the source. */
  ref: string;
  digest: string;
  mediaType: string;
  tags: string[];
  upToDate: boolean;
}

export interface TagResult {
  tag: string;
  digest?: string;
  outcome: TagOutcome;
}

export interface CopyReport {
  source: string;
  target: string;
  /** Digest of the (single) copied root manifest; absent for several images. */
  digest?: string;
  /** Every root was already at the destination under every tag: nothing transferred. */
  upToDate: boolean;
  dryRun: boolean;
  images: ImageResult[];
  tags: TagResult[];
  blobs: { copied: number; skipped: number; mounted: number };
  manifests: { pushed: number; skipped: number };
  referrers: number;
  /** Blob bytes that crossed the wire (mounted and skipped blobs count nothing). */
  bytes: number;
  seconds: number;
  /** Dry run only: what would be transferred. */
  plan?: PlanEntry[];
}
