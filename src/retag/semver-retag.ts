import { DigestMismatchError, NotFoundError, UsageError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import pLimit from 'p-limit';
import { convergeFloating, listTagsOrNone, withRetries } from './converge.js';
import { parseReleaseVersion, planChanges, planSemverTags, planTagNames, type PlanEntry, type SemverPlan } from './plan.js';
import type { RetagRepository } from './repository.js';

/**
 * `retag --semver`: look at the repository, plan exact / X.Y / X / latest, and PUT the same
 * manifest bytes under each tag that changes, in plan order. No blob is read or written.
 */

export interface SemverRetagOptions {
  repository: RetagRepository;
  /** Tag or digest of the image being released. */
  ref: string;
  /** The version to release it as; defaults to `ref` when that is a version tag. */
  version?: string;
  force?: boolean;
  noLatest?: boolean;
  /** Also maintain `X.Y-ID` for pre-releases (`2.1.0-rc.2` -> `2.1-rc`). */
  prereleaseTags?: boolean;
  dryRun?: boolean;
  /** HEAD requests in flight while resolving tag digests. */
  concurrency?: number;
  /** Called after each tag is written (for progress lines). */
  onApplied?: (entry: PlanEntry) => void;
}

export interface SemverRetagResult {
  plan: SemverPlan;
  /** Entries written to the registry (empty for a dry run, a refused plan, or a re-run). */
  applied: PlanEntry[];
  dryRun: boolean;
}

export async function planSemverRetag(options: SemverRetagOptions): Promise<SemverPlan> {
  const { repository, ref } = options;
  const version = options.version ?? ref;
  if (options.version === undefined && isValidDigest(ref)) {
    throw new UsageError(`${ref} is a digest, not a version: pass --version X.Y.Z`);
  }
  // Fail on a bad version before any request.
  parseReleaseVersion(version);

  const [head, tags] = await Promise.all([withRetries(() => repository.headManifest(ref)), listTagsOrNone(repository)]);
  if (!head) throw new NotFoundError(`manifest ${ref} not found in ${repository.description}`, 'MANIFEST_UNKNOWN');

  // Only the tags the plan may touch need their digests; the comparison itself uses tag names.
  const present = new Set(tags);
  const wanted = planTagNames(version, { noLatest: options.noLatest, prereleaseTags: options.prereleaseTags }).filter((t) => present.has(t));
  const heads = await pLimit(options.concurrency ?? 8).map(wanted, (t) => withRetries(() => repository.headManifest(t)));
  const digests = new Map<string, string>();
  wanted.forEach((t, i) => {
    const h = heads[i];
    if (h) digests.set(t, h.digest);
  });
  // A tag listed but gone by the time of the HEAD was deleted meanwhile: treat it as absent.
  const existing = tags.filter((t) => !wanted.includes(t) || digests.has(t)).map((tag) => ({ tag, digest: digests.get(tag) }));

  return planSemverTags({
    version,
    digest: head.digest,
    tags: existing,
    force: options.force,
    noLatest: options.noLatest,
    prereleaseTags: options.prereleaseTags,
  });
}

export async function retagSemver(options: SemverRetagOptions): Promise<SemverRetagResult> {
  const plan = await planSemverRetag(options);
  const dryRun = Boolean(options.dryRun);
  const changes = planChanges(plan);
  if (dryRun || plan.refused || changes.length === 0) return { plan, applied: [], dryRun };

  // By digest: the bytes cannot change between planning and writing.
  const manifest = await options.repository.getManifest(plan.digest);
  if (manifest.digest !== plan.digest) throw new DigestMismatchError(plan.digest, manifest.digest, 'manifest');
  const applied: PlanEntry[] = [];
  // The exact tag first: a floating tag never points ahead of a release that is not there yet,
  // and every concurrent run that lists tags after this sees the release.
  const exact = changes.find((e) => e.role === 'exact');
  if (exact) {
    await withRetries(() => options.repository.putManifest(exact.tag, manifest));
    applied.push(exact);
    options.onApplied?.(exact);
  }
  // Floating tags: other runs may be moving them at the same time. Converge on the highest
  // release of each line (compare-and-swap where the registry offers it, else write, re-read
  // and repair), so the result is the same as if the runs had happened one after another.
  const floating = changes.filter((e) => e.role !== 'exact');
  if (floating.length > 0) {
    const written = await convergeFloating(options.repository, floating.map((e) => e.tag), {
      noLatest: options.noLatest,
      prereleaseTags: options.prereleaseTags,
      known: new Map([[plan.digest, manifest]]),
    });
    for (const e of floating) {
      if (!written.tags.has(e.tag)) continue;
      applied.push(e);
      options.onApplied?.(e);
    }
  }
  return { plan, applied, dryRun };
}
