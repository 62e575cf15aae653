import type { Readable, Writable } from 'node:stream';
import type { ImageSource, ImageTarget } from '../content/types.js';
import type { Platform } from '../oci/manifest.js';

/** What opening a layout or archive takes (src/wiring/open-location.ts passes its options on). */
export interface ArchiveOpenOptions {
  /** Standard input for `docker-archive:-` / `oci-archive:-` sources. */
  stdin?: NodeJS.ReadableStream | Readable;
  /** Standard output for `docker-archive:-` / `oci-archive:-` targets. */
  stdout?: NodeJS.WritableStream | Writable;
  /** Parent directory for spooled temporary files (default os.tmpdir()). */
  tmpDir?: string;
  /**
   * docker-archive sources: present layers gzipped (default true; the `--no-compress` flag sets
   * false). Layers are compressed once into a temporary directory; diff_ids are unchanged.
   */
  compress?: boolean;
  /** docker-archive targets: which image of a multi-platform index to write. */
  platform?: Platform;
  /**
   * docker-archive targets: image name for manifest.json RepoTags when the location names none
   * (e.g. the source repository `localhost:5000/app`). Without either, RepoTags stays empty.
   */
  defaultName?: string;
}

/** What the archive backends hand back to the composition root. */
export interface ArchiveSource {
  source: ImageSource;
  ref: string;
  close(): Promise<void>;
}

export interface ArchiveTarget {
  target: ImageTarget;
  ref?: string;
  close(): Promise<void>;
}
