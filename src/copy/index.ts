import { copyOne } from './image.js';
import { CopySession } from './blob-transfer.js';
import { copyTags } from './tags.js';
import type { CopyImageOptions, CopyReport, CopyTagsOptions } from './types.js';

export { Limiter, mapLimit } from './limiter.js';
export { DEFAULT_JOBS } from './blob-transfer.js';
export type * from './types.js';

/**
 * Copy one image or index from `source` to `target` under `tags` (byte-exact manifests,
 * verified blobs, nothing tagged unless everything below the tag is in place).
 */
export async function copyImage(options: CopyImageOptions): Promise<CopyReport> {
  const session = new CopySession(options);
  return session.run(async () => {
    const r = await copyOne(session, options.ref, options.tags ?? []);
    return { images: [r.image], tags: r.tags };
  });
}

/** Copy every tag (or the selected ones) of the source repository. */
export async function copyAllTags(options: CopyTagsOptions): Promise<CopyReport> {
  const session = new CopySession(options);
  return session.run(() => copyTags(session, options));
}
