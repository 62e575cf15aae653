import semver from 'semver';
import { parseVersionTag } from '../policy/version-tags.js';
import type { SyncTagsFilter } from './file.js';

/**
 * Which tags of a repository an entry wants (pure). Order of the filters: include, exclude,
 * semver range, then the latest N of what is left. Regular expressions are not anchored (as
 * `copy --include`): write `^v1\.` to mean "starts with".
 */
export function selectTags(tags: readonly string[], filter: SyncTagsFilter): string[] {
  let out = tags.filter((t) => (!filter.include || filter.include.some((r) => r.test(t))) && !(filter.exclude && filter.exclude.some((r) => r.test(t))));
  if (filter.semver !== undefined) {
    const range = filter.semver;
    out = out.filter((t) => {
      const v = versionOf(t);
      return v !== undefined && semver.satisfies(v, range);
    });
  }
  if (filter.latest !== undefined) out = [...out].sort(newestFirst).slice(0, filter.latest).sort(newestFirst);
  return out;
}

/** A tag's version, as retag --semver reads tags (`X.Y.Z`, `X.Y.Z-pre`, optional `v`). */
export function versionOf(tag: string): semver.SemVer | undefined {
  return parseVersionTag(tag)?.version;
}

/** Versions first, highest first (equal versions `1.0.0`/`v1.0.0` by name); then other tags by name, last first. */
export function newestFirst(a: string, b: string): number {
  const va = versionOf(a);
  const vb = versionOf(b);
  if (va && vb) return semver.rcompare(va, vb) || (a < b ? 1 : a > b ? -1 : 0);
  if (va) return -1;
  if (vb) return 1;
  return a < b ? 1 : a > b ? -1 : 0;
}
