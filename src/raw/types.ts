import type { ImageSource, ImageTarget } from '../content/types.js';

/**
 * What raw access needs of a repository: the seam plus a blob HEAD (a blob's size before it is
 * fetched). The registry backend provides it; layouts may later.
 */
export interface RawRepository extends ImageSource, ImageTarget {
  headBlob(digest: string): Promise<{ size: number } | undefined>;
}

/** Manifests and configs are small JSON documents; anything larger is refused before parsing. */
export const MANIFEST_FILE_LIMIT = 4 * 1024 * 1024;
export const CONFIG_LIMIT = 8 * 1024 * 1024;
