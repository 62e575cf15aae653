import semver from 'semver';
import { UsageError } from '../errors.js';
import { prereleaseLine } from '../policy/floating-tags.js';
import { floatingTags, isPrerelease, parseVersionTag, type VersionTag } from '../policy/version-tags.js';

/**
 * The semver tag planner: given the version being released, the digest it is released as and
 * the repository's tags, decide what happens to `X.Y.Z`, `X.Y`, `X` and `latest`. Pure: no I/O,
 * so every rule is covered by a table test and the CLI can print the plan before acting.
 */

export type PlanAction = 'create' | 'move' | 'unchanged' | 'skipped';
export type PlanRole = 'exact' | 'minor' | 'major' | 'latest' | 'prerelease';

export interface PlanEntry {
  tag: string;
  role: PlanRole;
  /** Where the tag points now; absent when the tag does not exist. */
  oldDigest?: string;
  newDigest: string;
  action: PlanAction;
  /** Why a tag is skipped (or why a move happens anyway, for --force). */
  reason?: string;
}

export interface SemverPlan {
  /** The version tag, as given (prefix kept). */
  version: string;
  digest: string;
  /** Exact version first, then X.Y, X, latest: applying in this order never leaves a floating tag ahead of the exact one. */
  entries: PlanEntry[];
  /** Set when the plan must not be applied (the exact version tag points elsewhere and --force was not given). */
  refused?: string;
}

export interface ExistingTag {
  tag: string;
  /** Required for the tags the plan touches (see planTagNames); ignored for the others. */
  digest?: string;
}

export interface PlanOptions {
  version: string;
  digest: string;
  tags: Iterable<ExistingTag>;
  /** Move an exact version tag that points at another digest. */
  force?: boolean;
  /** Leave `latest` alone. */
  noLatest?: boolean;
  /** Maintain `X.Y-ID` (e.g. `2.1-rc`) for a pre-release `X.Y.Z-ID.N`. */
  prereleaseTags?: boolean;
}

export const LATEST = 'latest';

/** Parse the version being released; a one-line usage error when it is not X.Y.Z[-PRE]. */
export function parseReleaseVersion(version: string): VersionTag {
  const v = parseVersionTag(version);
  if (!v) {
    throw new UsageError(
      `"${version}" is not a semver version (expected X.Y.Z or X.Y.Z-PRE, optionally with a leading v); use --version to name the version`,
    );
  }
  return v;
}

/** The tags a plan for `version` may touch, in plan order: the only ones whose digests the caller must look up. */
export function planTagNames(version: string, options: { noLatest?: boolean; prereleaseTags?: boolean } = {}): string[] {
  const v = parseReleaseVersion(version);
  const { minor, major } = floatingTags(v);
  const names = [v.tag, minor, major];
  if (!options.noLatest) names.push(LATEST);
  const line = options.prereleaseTags ? prereleaseLine(v) : undefined;
  if (line) names.push(line);
  return names;
}

export function shortDigest(digest: string | undefined): string {
  if (!digest) return '-';
  const colon = digest.indexOf(':');
  return colon >= 0 ? `${digest.slice(0, colon + 1)}${digest.slice(colon + 1, colon + 13)}` : digest;
}

/** The highest release among `candidates`, or undefined. */
function newest(candidates: VersionTag[]): VersionTag | undefined {
  let best: VersionTag | undefined;
  for (const c of candidates) {
    // Ties (1.9.3 and v1.9.3) resolve to the first in tag order: only the name in a reason depends on it.
    if (!best || semver.gt(c.version, best.version)) best = c;
  }
  return best;
}

export function planSemverTags(options: PlanOptions): SemverPlan {
  const v = parseReleaseVersion(options.version);
  const digest = options.digest;
  const digests = new Map<string, string | undefined>();
  for (const t of options.tags) digests.set(t.tag, t.digest);

  const current = (tag: string): string | undefined => {
    if (!digests.has(tag)) return undefined;
    const d = digests.get(tag);
    // A programming error in the caller, not a user error: it must look these up (planTagNames).
    if (d === undefined) throw new Error(`planner needs the digest of existing tag ${tag}`);
    return d;
  };
  const entry = (tag: string, role: PlanRole, skipReason?: string): PlanEntry => {
    const oldDigest = current(tag);
    const e: PlanEntry = { tag, role, newDigest: digest, action: 'create' };
    if (oldDigest !== undefined) e.oldDigest = oldDigest;
    if (skipReason !== undefined) {
      e.action = 'skipped';
      e.reason = skipReason;
    } else if (oldDigest === undefined) e.action = 'create';
    else if (oldDigest === digest) e.action = 'unchanged';
    else e.action = 'move';
    return e;
  };

  const entries: PlanEntry[] = [];
  let refused: string | undefined;

  // The exact version never moves by accident: a digest change there means a different build
  // was released under the same version, which users must ask for explicitly.
  const exactOld = current(v.tag);
  if (exactOld !== undefined && exactOld !== digest) {
    if (options.force) {
      entries.push({ ...entry(v.tag, 'exact'), reason: '--force' });
    } else {
      refused = `tag ${v.tag} already points at ${exactOld}; a released version does not move (use --force to move it)`;
      entries.push(entry(v.tag, 'exact', `points at another digest (use --force)`));
    }
  } else {
    entries.push(entry(v.tag, 'exact'));
  }

  const releases: VersionTag[] = [];
  for (const tag of digests.keys()) {
    const parsed = parseVersionTag(tag);
    if (parsed && !isPrerelease(parsed)) releases.push(parsed);
  }
  const family = releases.filter((r) => r.prefix === v.prefix);

  const floatingSkip = (candidates: VersionTag[]): string | undefined => {
    if (refused) return `${v.tag} was not moved`;
    if (isPrerelease(v)) return `${v.tag} is a pre-release`;
    const top = newest(candidates);
    if (top && semver.gt(top.version, v.version)) return `${top.tag} exists`;
    return undefined;
  };

  const { minor, major } = floatingTags(v);
  entries.push(entry(minor, 'minor', floatingSkip(family.filter((r) => r.version.major === v.version.major && r.version.minor === v.version.minor))));
  entries.push(entry(major, 'major', floatingSkip(family.filter((r) => r.version.major === v.version.major))));
  if (options.noLatest) {
    // Not looked up (planTagNames leaves it out), so no old digest is shown.
    entries.push({ tag: LATEST, role: 'latest', newDigest: digest, action: 'skipped', reason: '--no-latest' });
  } else {
    entries.push(entry(LATEST, 'latest', floatingSkip(releases)));
  }

  const line = options.prereleaseTags ? prereleaseLine(v) : undefined;
  if (line) {
    const same = [...digests.keys()].map(parseVersionTag).filter((p): p is VersionTag => p !== undefined && prereleaseLine(p) === line);
    const top = newest(same);
    const skip = refused ? `${v.tag} was not moved` : top && semver.gt(top.version, v.version) ? `${top.tag} exists` : undefined;
    entries.push(entry(line, 'prerelease', skip));
  }

  const plan: SemverPlan = { version: v.tag, digest, entries };
  if (refused) plan.refused = refused;
  return plan;
}

/** Entries that change the registry (create or move), in plan order. */
export function planChanges(plan: SemverPlan): PlanEntry[] {
  return plan.entries.filter((e) => e.action === 'create' || e.action === 'move');
}
