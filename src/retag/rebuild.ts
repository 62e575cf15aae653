import pLimit from 'p-limit';
import { NotFoundError } from '../errors.js';
import type { ManifestData } from '../oci/manifest.js';
import { convergeFloating } from './converge.js';
import { floatingTargets, isFloatingTag, type FloatingOptions } from '../policy/floating-tags.js';
import type { RetagRepository } from './repository.js';

/**
 * `retag --semver --rebuild REPO`: recompute every floating tag from the releases present
 * (after deletes or a mistaken push), then apply with the same convergence as a release.
 */

export interface RebuildEntry {
  tag: string;
  /** The release it should point at; absent when no release of its line is left. */
  release?: string;
  oldDigest?: string;
  newDigest?: string;
  action: 'create' | 'move' | 'unchanged' | 'skipped';
  reason?: string;
}

export interface RebuildResult {
  entries: RebuildEntry[];
  applied: string[];
  dryRun: boolean;
}

export async function rebuildFloating(
  repository: RetagRepository,
  options: FloatingOptions & { dryRun?: boolean; concurrency?: number } = {},
): Promise<RebuildResult> {
  const tags = await repository.listTags();
  if (tags.length === 0) throw new NotFoundError(`${repository.description} has no tags`, 'NAME_UNKNOWN');
  const targets = floatingTargets(tags, options);
  const limit = options.concurrency ?? 8;
  const floating = [...targets.keys()].sort();
  const releases = [...new Set(targets.values())];
  const [now, rel] = await Promise.all([
    pLimit(limit).map(floating, (t) => repository.headManifest(t)),
    pLimit(limit).map(releases, (r) => repository.headManifest(r)),
  ]);
  const relDigest = new Map(releases.map((r, i) => [r, rel[i]?.digest]));
  const entries: RebuildEntry[] = floating.map((tag, i) => {
    const release = targets.get(tag)!;
    const oldDigest = now[i]?.digest;
    const newDigest = relDigest.get(release);
    const e: RebuildEntry = { tag, release, action: oldDigest === undefined ? 'create' : oldDigest === newDigest ? 'unchanged' : 'move' };
    if (oldDigest !== undefined) e.oldDigest = oldDigest;
    if (newDigest !== undefined) e.newDigest = newDigest;
    return e;
  });
  // Floating-looking tags with no release left in their line: reported, not touched.
  for (const tag of tags) {
    if (isFloatingTag(tag) && !targets.has(tag) && !(options.noLatest && tag === 'latest')) {
      entries.push({ tag, action: 'skipped', reason: 'no release of this line is left' });
    }
  }
  const changes = entries.filter((e) => e.action === 'create' || e.action === 'move').map((e) => e.tag);
  if (options.dryRun || changes.length === 0) return { entries, applied: [], dryRun: Boolean(options.dryRun) };
  const known = new Map<string, ManifestData>();
  const written = await convergeFloating(repository, changes, { ...options, known });
  return { entries, applied: changes.filter((t) => written.tags.has(t)), dryRun: false };
}
