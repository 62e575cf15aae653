import { HttpError, NotFoundError, RegctlError } from '../errors.js';
import { isValidDigest } from '../oci/digest.js';
import pLimit from 'p-limit';
import type { RetagRepository } from './repository.js';

/**
 * Deleting images and tags. A manifest delete is by digest and takes every tag on that digest
 * with it; a tag delete removes one name only, where the registry supports it.
 */

export interface ResolvedManifest {
  digest: string;
  mediaType: string;
}

/** Resolve a tag (or check a digest) to the manifest a delete would remove. */
export async function resolveManifest(repository: RetagRepository, ref: string): Promise<ResolvedManifest> {
  const head = await repository.headManifest(ref);
  if (!head) throw new NotFoundError(`manifest ${ref} not found in ${repository.description}`, 'MANIFEST_UNKNOWN');
  return { digest: head.digest, mediaType: head.mediaType };
}

export interface TagsOnDigest {
  tags: string[];
  /** False when the repository has more tags than were checked. */
  complete: boolean;
}

/** Tags that point at `digest` (HEAD per tag, bounded), for the warning before a delete. */
export async function tagsPointingAt(
  repository: RetagRepository,
  digest: string,
  options: { maxTags?: number; concurrency?: number } = {},
): Promise<TagsOnDigest> {
  const all = await repository.listTags();
  const max = options.maxTags ?? 500;
  const checked = all.slice(0, max);
  const heads = await pLimit(options.concurrency ?? 8).map(checked, (t) => repository.headManifest(t));
  return { tags: checked.filter((_, i) => heads[i]?.digest === digest).sort(), complete: all.length <= max };
}

/** DELETE the manifest by digest. */
export async function deleteManifest(repository: RetagRepository, digest: string): Promise<void> {
  if (!isValidDigest(digest)) throw new RegctlError('DIGEST_INVALID', `not a digest: ${digest}`);
  await repository.deleteManifest(digest);
}

/** What the registry said, from an HTTP error: `HTTP 405 (UNSUPPORTED: ...)`. */
function registryAnswer(e: HttpError): string {
  const first = e.errors[0];
  return `HTTP ${e.status}${first ? ` (${first.code}${first.message ? `: ${first.message}` : ''})` : ''}`;
}

/**
 * DELETE by tag. The OCI spec lets registries refuse this; the error then names their answer
 * and points at the by-digest delete.
 */
export async function deleteTag(repository: RetagRepository, tag: string): Promise<{ digest: string }> {
  const head = await repository.headManifest(tag);
  if (!head) throw new NotFoundError(`tag ${tag} not found in ${repository.description}`, 'MANIFEST_UNKNOWN');
  try {
    await repository.deleteManifest(tag);
  } catch (e) {
    if (e instanceof HttpError) {
      throw new RegctlError(
        'TAG_DELETE_REFUSED',
        `${repository.description} refused to delete tag ${tag}: ${registryAnswer(e)}; registries may refuse deletes by tag (regctl delete removes the manifest ${head.digest} and every tag on it)`,
        { cause: e, exitCode: e.exitCode },
      );
    }
    throw e;
  }
  return { digest: head.digest };
}
