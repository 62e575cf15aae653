import { HttpError, NotFoundError, RegctlError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf, isValidDigest } from '../oci/digest.js';
import type { Descriptor, ManifestData } from '../oci/manifest.js';
import { MediaType } from '../oci/mediatypes.js';
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

export interface TagRemoval {
  /** Where the tag pointed. */
  digest: string;
  /** `tag-delete`: the registry removed the tag alone; `placeholder`: see deleteTag. */
  method: 'tag-delete' | 'placeholder';
  /** The placeholder manifest pointed at and then deleted. */
  placeholder?: string;
}

/**
 * Remove one tag, leaving the manifest and its other tags.
 *  - Registries that advertise `tag-delete` (regctl serve): DELETE by tag.
 *  - Elsewhere (distribution deletes by digest only, which takes every tag on the digest): point
 *    the tag at a small placeholder manifest of its own, then delete the placeholder by digest.
 *    If that delete is refused (deletes disabled), the tag is put back where it was.
 */
export async function deleteTag(repository: RetagRepository, tag: string, features?: Set<string>): Promise<TagRemoval> {
  const head = await repository.headManifest(tag);
  if (!head) throw new NotFoundError(`tag ${tag} not found in ${repository.description}`, 'MANIFEST_UNKNOWN');
  const offered = features ?? (repository.features ? await repository.features() : new Set<string>());
  if (!offered.has('tag-delete')) return deleteTagByPlaceholder(repository, tag, head.digest);
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
  return { digest: head.digest, method: 'tag-delete' };
}

/** The OCI empty descriptor's content (`{}`): the placeholder's config and only layer. */
const EMPTY = Buffer.from('{}');
const EMPTY_DESC: Descriptor = { mediaType: MediaType.ociEmpty, digest: digestOf(EMPTY), size: EMPTY.length };

/** A manifest no one else has: a random annotation makes its digest unique, so deleting it takes only this tag. */
export function placeholderManifest(tag: string): ManifestData {
  const body = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: 'application/vnd.regctl.placeholder.v1',
    config: EMPTY_DESC,
    layers: [EMPTY_DESC],
    annotations: { 'dev.regctl.placeholder': `tag rm ${tag} ${randomBytes(8).toString('hex')}` },
  };
  const bytes = Buffer.from(JSON.stringify(body));
  return { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
}

async function deleteTagByPlaceholder(repository: RetagRepository, tag: string, digest: string): Promise<TagRemoval> {
  const original = await repository.getManifest(digest);
  if (!(await repository.hasBlob(EMPTY_DESC))) await repository.putBlob(EMPTY_DESC, Readable.from([EMPTY]));
  const placeholder = placeholderManifest(tag);
  await repository.putManifest(tag, placeholder);
  try {
    await repository.deleteManifest(placeholder.digest);
  } catch (e) {
    // Put the tag back: a refused delete must not leave it on the placeholder.
    await repository.putManifest(tag, original);
    if (e instanceof HttpError) {
      throw new RegctlError(
        'TAG_DELETE_REFUSED',
        `${repository.description} refused to delete the placeholder for tag ${tag}: ${registryAnswer(e)}; the tag is unchanged (deletes may be disabled on this registry)`,
        { cause: e, exitCode: e.exitCode },
      );
    }
    throw e;
  }
  return { digest, method: 'placeholder', placeholder: placeholder.digest };
}
