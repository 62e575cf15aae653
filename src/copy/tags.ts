import type { ManifestHead, TagHeads } from '../content/types.js';
import { NotFoundError } from '../errors.js';
import { mapLimit } from './limiter.js';
import { copyOne } from './image.js';
import type { CopySession } from './blob-transfer.js';
import type { CopyTagsOptions, ImageResult, TagResult } from './types.js';

export const DEFAULT_TAG_JOBS = 8;

/**
 * Copy many tags of one repository. Tags are resolved at the source first and grouped by
 * digest, so tags sharing content are copied once (the other tags are then single manifest
 * PUTs); groups run concurrently and share the session's blob limiter and blob dedupe.
 */
export async function copyTags(session: CopySession, options: CopyTagsOptions): Promise<{ images: ImageResult[]; tags: TagResult[] }> {
  // Both listings at once. Where a side offers the tag-digests extension (regctl serve), its
  // listing also says what each tag points at, and no HEAD per tag is needed on that side.
  const [sourceList, targetList] = await Promise.all([
    options.tags !== undefined ? undefined : session.source.listTagHeads ? session.source.listTagHeads() : session.source.listTags().then((tags) => ({ tags, heads: undefined })),
    listTargetTags(session),
  ]);
  const all = options.tags ?? sourceList!.tags;
  const sourceHeads = sourceList?.heads;
  const selected = all.filter((t) => (!options.include || options.include.test(t)) && !(options.exclude && options.exclude.test(t)));
  const tagResults: TagResult[] = [];

  let toCopy = selected;
  // One tag listing at the target (when it can list) spares a HEAD for every tag it lacks.
  const targetTags = targetList?.tags;
  const targetHeadsListed = targetList?.heads;
  if (options.skipExisting) {
    const immutable = selected.filter((t) => options.skipExisting!.test(t));
    const present = targetTags ?? (await headPresent(session, immutable));
    for (const t of immutable) {
      if (!present.has(t)) continue;
      tagResults.push({ tag: t, outcome: 'skipped-existing' });
      session.emit({ type: 'tag', tag: t, digest: '', outcome: 'skipped-existing' });
    }
    toCopy = selected.filter((t) => !(present.has(t) && options.skipExisting!.test(t)));
  }

  // Resolve each tag to a digest at the source and, at the same time, at the target (two
  // servers answering at once: an up-to-date repository costs one round of HEADs, not two).
  // Tags the target's listing lacks need no HEAD there.
  const targetHeads = new Map<string, Promise<ManifestHead | undefined>>();
  const heads = await Promise.all(
    toCopy.map(async (t) => {
      session.checkAlive();
      const atTarget = targetHeadsListed?.has(t) || (targetTags && !targetTags.has(t)) ? Promise.resolve(targetHeadsListed?.get(t)) : session.headTarget(t);
      atTarget.catch(() => {});
      targetHeads.set(t, atTarget);
      return sourceHeads?.get(t) ?? session.headSource(t);
    }),
  );
  const groups = new Map<string, { head: ManifestHead; tags: string[] }>();
  toCopy.forEach((t, i) => {
    const h = heads[i];
    if (!h) throw new NotFoundError(`${session.source.description}: tag ${t} disappeared while copying`, 'MANIFEST_UNKNOWN');
    const g = groups.get(h.digest);
    if (g) g.tags.push(t);
    else groups.set(h.digest, { head: h, tags: [t] });
  });

  const images: ImageResult[] = [];
  await mapLimit([...groups.values()], options.tagJobs ?? DEFAULT_TAG_JOBS, async (g) => {
    try {
      const r = await copyOne(session, g.head.digest, g.tags, g.head, targetHeads);
      images.push({ ...r.image, ref: g.tags[0]! });
      tagResults.push(...r.tags);
    } catch (e) {
      session.fail(e);
      throw e;
    }
  });
  const order = new Map(all.map((t, i) => [t, i]));
  tagResults.sort((a, b) => (order.get(a.tag) ?? 0) - (order.get(b.tag) ?? 0));
  return { images, tags: tagResults };
}

/**
 * The target's tags, when it can list them (a repository that does not exist yet has none), and
 * their manifest heads when its listing carries them (tag-digests extension).
 */
async function listTargetTags(session: CopySession): Promise<{ tags: Set<string>; heads?: Map<string, ManifestHead> } | undefined> {
  const target = session.target as { listTags?: () => Promise<string[]>; listTagHeads?: () => Promise<TagHeads> };
  if (typeof target.listTags !== 'function' && typeof target.listTagHeads !== 'function') return undefined;
  try {
    if (typeof target.listTagHeads === 'function') {
      const r = await target.listTagHeads();
      return { tags: new Set(r.tags), heads: r.heads };
    }
    return { tags: new Set(await target.listTags!()) };
  } catch (e) {
    if (e instanceof NotFoundError || (e as { exitCode?: number }).exitCode === 3) return { tags: new Set() };
    throw e;
  }
}

/** Which of `tags` exist at the target, by HEAD (targets that cannot list tags). */
async function headPresent(session: CopySession, tags: string[]): Promise<Set<string>> {
  const heads = await Promise.all(tags.map((t) => session.headTarget(t)));
  return new Set(tags.filter((_, i) => heads[i] !== undefined));
}
