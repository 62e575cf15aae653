import pLimit from 'p-limit';
import { NotFoundError } from '../errors.js';
import { listTagsOrNone, withRetries } from './converge.js';
import { deleteManifest } from './delete.js';
import type { RetagRepository } from './repository.js';

/**
 * `regctl repo rm HOST/REPO`: every manifest a tag reaches is deleted by digest; on registries
 * that advertise `repo-delete` (regctl serve) the repository itself is removed instead, so it
 * leaves the catalog and its untagged manifests go too (the bytes at the next gc).
 */

export interface RepoRemovalPlan {
  tags: string[];
  digests: string[];
  /** The registry removes the repository in one request. */
  repoDelete: boolean;
}

export async function planRepoRemoval(repository: RetagRepository, concurrency = 8): Promise<RepoRemovalPlan> {
  const features = repository.features ? await repository.features() : new Set<string>();
  const tags = await listTagsOrNone(repository);
  const limit = pLimit(concurrency);
  const heads = await Promise.all(tags.map((t) => limit(() => withRetries(() => repository.headManifest(t)))));
  const digests = [...new Set(heads.map((h) => h?.digest).filter((d): d is string => d !== undefined))].sort();
  const repoDelete = features.has('repo-delete') && repository.deleteRepository !== undefined;
  if (tags.length === 0 && !repoDelete) throw new NotFoundError(`repository ${repository.description} not found (or it has no tags)`, 'NAME_UNKNOWN');
  return { tags, digests, repoDelete };
}

export async function removeRepository(repository: RetagRepository, plan: RepoRemovalPlan): Promise<void> {
  if (plan.repoDelete) {
    if (!(await repository.deleteRepository!())) throw new NotFoundError(`repository ${repository.description} not found`, 'NAME_UNKNOWN');
    return;
  }
  for (const d of plan.digests) {
    try {
      await deleteManifest(repository, d);
    } catch (e) {
      // Gone meanwhile (another tag's delete took it): that is the goal.
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
}
