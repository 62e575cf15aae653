import { DigestMismatchError, NotFoundError, UsageError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import pLimit from 'p-limit';
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

  const [head, tags] = await Promise.all([repository.headManifest(ref), repository.listTags()]);
  if (!head) throw new NotFoundError(`manifest ${ref} not found in ${repository.description}`, 'MANIFEST_UNKNOWN');

  // Only the tags the plan may touch need their digests; the comparison itself uses tag names.
  const present = new Set(tags);
  const wanted = planTagNames(version, { noLatest: options.noLatest }).filter((t) => present.has(t));
  const heads = await pLimit(options.concurrency ?? 8).map(wanted, (t) => repository.headManifest(t));
  const digests = new Map<string, string>();
  wanted.forEach((t, i) => {
    const h = heads[i];
    if (h) digests.set(t, h.digest);
  });
  // A tag listed but gone by the time of the HEAD was deleted meanwhile: treat it as absent.
  const existing = tags.filter((t) => !wanted.includes(t) || digests.has(t)).map((tag) => ({ tag, digest: digests.get(tag) }));

  return planSemverTags({ version, digest: head.digest, tags: existing, force: options.force, noLatest: options.noLatest });
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
  // One at a time, in plan order: if a PUT fails, no floating tag is ahead of the exact one.
  for (const entry of changes) {
    await options.repository.putManifest(entry.tag, manifest);
    applied.push(entry);
    options.onApplied?.(entry);
  }
  return { plan, applied, dryRun };
}
