import semver from 'semver';

/**
 * Version tags as the semver scheme sees them. A tag is a version when it is exactly
 * `X.Y.Z` or `X.Y.Z-PRE` (strict semver, no leading zeros), optionally with a lowercase `v`
 * in front. Build metadata (`+...`) cannot occur: `+` is not allowed in tags.
 *
 * The `v` marks the tag's family: `v1.9.2` derives `v1.9` and `v1`, `1.9.2` derives `1.9` and
 * `1`. Floating tags of a family are compared only against versions of the same family (the
 * two families are separate tag sets, `v1.9` says nothing about `1.9.3`); `latest` is a single
 * tag shared by both families, so it is compared against every release of either.
 */
export interface VersionTag {
  /** The tag as written, e.g. `v1.9.2`. */
  tag: string;
  /** `v` or ``. */
  prefix: string;
  version: semver.SemVer;
}

const SHAPE = /^(v?)(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/;

/** The version a tag stands for, or undefined when the tag is not a semver version. */
export function parseVersionTag(tag: string): VersionTag | undefined {
  const m = SHAPE.exec(tag);
  if (!m) return undefined;
  const version = semver.parse(m[2]!);
  if (!version) return undefined;
  return { tag, prefix: m[1]!, version };
}

export function isPrerelease(v: VersionTag): boolean {
  return v.version.prerelease.length > 0;
}

/** `X.Y` and `X` for a version, with its prefix kept. */
export function floatingTags(v: VersionTag): { minor: string; major: string } {
  return { minor: `${v.prefix}${v.version.major}.${v.version.minor}`, major: `${v.prefix}${v.version.major}` };
}
