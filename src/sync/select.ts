import semver from 'semver';
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

/** A tag's version: `X.Y.Z` or `X.Y.Z-pre`, with an optional `v` (strict: no leading zeros). */
export function versionOf(tag: string): semver.SemVer | undefined {
  const m = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/.exec(tag);
  return m ? (semver.parse(m[1]!) ?? undefined) : undefined;
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
