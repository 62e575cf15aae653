import type { Readable } from 'node:stream';
import type { Descriptor, ManifestData } from '../oci/manifest.js';

/**
 * The seam between features (copy, retag, archive import/export) and where images live:
 * a registry repository, an OCI layout directory or tar, a docker-save archive. Each backend
 * implements these for one repository (or one archive); features never know which one it is.
 */

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface TagHeads {
  tags: string[];
  heads?: Map<string, ManifestHead>;
}

export interface ImageSource {
  /** Human-readable location for messages, without credentials, e.g. `localhost:5000/app`. */
  readonly description: string;
  /** Resolve a tag or digest without fetching the body; undefined when it does not exist. */
  headManifest(ref: string): Promise<ManifestHead | undefined>;
  /** Manifest bytes exactly as stored; throws NotFoundError when missing. */
  getManifest(ref: string): Promise<ManifestData>;
  /**
   * A stream of the blob's bytes. Implementations over the network resume an interrupted
   * download themselves (Range) so callers see one continuous stream. Callers verify the digest.
   */
  getBlob(desc: Descriptor): Promise<Readable>;
  listTags(): Promise<string[]>;
  /**
   * Optional: every tag (sorted) and, where the store can say in the same answer, each tag's
   * manifest head (regctl serve's tag-digests extension); `heads` undefined means "HEAD each".
   */
  listTagHeads?(): Promise<TagHeads>;
  /** Manifests whose `subject` is `digest` (referrers API or fallback); optional. */
  referrers?(digest: string, artifactType?: string): Promise<Descriptor[]>;
  /**
   * The image under `ref` as blobs to stream before its manifest exists (a docker-archive's
   * layers gzipped on the way: their digests are known only once they have streamed). Optional;
   * undefined when `ref` is better copied the ordinary way (getManifest, then getBlob).
   */
  streamImage?(ref: string): Promise<StreamedImage | undefined>;
}

/** One blob of a StreamedImage. */
export type StreamedBlob =
  /** The digest is known, or learnt by one read, before the upload (so the target is asked first). */
  | { kind: 'known'; prepare(): Promise<{ desc: Descriptor; open(): Readable }> }
  /**
   * The digest is known only once streamed: the target computes it (putBlobComputed). `key`
   * and `size` name the bytes read at the source (e.g. the layer's diff_id and tar size).
   */
  | { kind: 'computed'; key: string; size: number; mediaType: string; open(onRead: (bytes: number) => void): Readable };

export interface StreamedImage {
  blobs: StreamedBlob[];
  /** The manifest over the blobs' final descriptors, given in `blobs` order. */
  manifest(descs: Descriptor[]): ManifestData;
}

export interface ImageTarget {
  readonly description: string;
  /** Holds a single image (a docker-archive): an index must be narrowed with a platform first. */
  readonly holdsOneImage?: boolean;
  headManifest(ref: string): Promise<ManifestHead | undefined>;
  hasBlob(desc: Descriptor): Promise<boolean>;
  /**
   * Store a blob from a stream. The implementation must verify the bytes against
   * `desc.digest` (and `desc.size`) before making the blob visible.
   */
  putBlob(desc: Descriptor, body: Readable, onProgress?: (bytes: number) => void): Promise<void>;
  /**
   * Store a blob whose digest is not known in advance (e.g. a layer gzipped on the fly): the
   * implementation hashes while storing and returns the descriptor. Optional; callers spool to
   * a temporary file and use putBlob when a target lacks it.
   */
  putBlobComputed?(body: Readable, mediaType: string, onProgress?: (bytes: number) => void): Promise<Descriptor>;
  /** Cross-repository mount on the same registry; false when refused (caller uploads instead). */
  mountBlob?(desc: Descriptor, fromRepository: string): Promise<boolean>;
  /** Store manifest bytes under a tag or by digest (ref = digest). Bytes are never re-serialised. */
  putManifest(ref: string, data: ManifestData): Promise<void>;
  /** Finish writing (archives write their index/manifest.json here); called only on success. */
  commit?(): Promise<void>;
  /** Give up: remove partial output. */
  abort?(): Promise<void>;
}
