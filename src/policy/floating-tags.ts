import semver from 'semver';
import { floatingTags, isPrerelease, parseVersionTag, type VersionTag } from './version-tags.js';

/**
 * Where every floating tag belongs, from the release tags alone: `X.Y` and `X` at the highest
 * release of their line (within their family, v or not), `latest` at the highest release of
 * all, and with pre-release lines on `X.Y-ID` (e.g. `2.1-rc`) at the highest `X.Y.*-ID...`.
 * Pure: the concurrent-write repair, `--rebuild` and prune all decide with it.
 */

export interface FloatingOptions {
  noLatest?: boolean;
  /** Also maintain `X.Y-ID` lines for pre-releases `X.Y.Z-ID.N`. */
  prereleaseTags?: boolean;
}

export const LATEST_TAG = 'latest';

/** `2.1-rc` for `2.1.0-rc.2` (the letters that start the first pre-release identifier); undefined when there are none. */
export function prereleaseLine(v: VersionTag): string | undefined {
  const first = v.version.prerelease[0];
  if (typeof first !== 'string') return undefined;
  const letters = /^[A-Za-z]+/.exec(first)?.[0];
  return letters ? `${v.prefix}${v.version.major}.${v.version.minor}-${letters.toLowerCase()}` : undefined;
}

/** The floating tags `v` belongs to (the lines it may lead), in plan order. */
export function linesOf(v: VersionTag, options: FloatingOptions = {}): string[] {
  if (isPrerelease(v)) {
    const line = options.prereleaseTags ? prereleaseLine(v) : undefined;
    return line ? [line] : [];
  }
  const { minor, major } = floatingTags(v);
  return options.noLatest ? [minor, major] : [minor, major, LATEST_TAG];
}

/** floating tag -> the release tag it should point at, for every line with at least one release among `tags`. */
export function floatingTargets(tags: Iterable<string>, options: FloatingOptions = {}): Map<string, string> {
  const best = new Map<string, VersionTag>();
  // Sorted so ties (1.9.3 and v1.9.3 for latest) resolve the same way whatever order the registry lists.
  for (const tag of [...tags].sort()) {
    const v = parseVersionTag(tag);
    if (!v) continue;
    for (const line of linesOf(v, options)) {
      const cur = best.get(line);
      if (!cur || semver.gt(v.version, cur.version)) best.set(line, v);
    }
  }
  return new Map([...best].map(([line, v]) => [line, v.tag]));
}

/** True for tags that look like a floating tag (`1`, `v1.9`, `2.1-rc`, `latest`). */
export function isFloatingTag(tag: string): boolean {
  return tag === LATEST_TAG || /^v?\d+(\.\d+)?$/.test(tag) || /^v?\d+\.\d+-[a-z]+$/.test(tag);
}
