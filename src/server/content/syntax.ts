import { isValidDigest } from '../../oci/digest.js';
import { isValidRepository, isValidTag } from '../../ref/reference.js';
import { OciError } from '../protocol/errors.js';

/**
 * Grammar checks for everything that comes from a URL and may end up in a file path.
 * Nothing reaches storage without passing these (no `..`, no absolute paths, no `%2f`).
 */

/**
 * Components that would collide with an OCI layout's own files when one repository is nested
 * inside another (`a` is a layout directory, so `a/blobs` or `a/index.json` cannot be a repository).
 */
const RESERVED_COMPONENTS = new Set(['blobs', 'index.json', 'oci-layout']);

export function checkRepository(name: string): void {
  if (!isValidRepository(name)) throw new OciError('NAME_INVALID', `invalid repository name "${clip(name)}"`);
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (RESERVED_COMPONENTS.has(parts[i]!)) {
      throw new OciError('NAME_INVALID', `repository name component "${parts[i]}" is reserved (it names a file of the OCI layout)`);
    }
  }
}

export function isAllowedRepository(name: string): boolean {
  try {
    checkRepository(name);
    return true;
  } catch {
    return false;
  }
}

export function checkDigestSyntax(digest: string, code: 'DIGEST_INVALID' | 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'DIGEST_INVALID'): void {
  if (!isValidDigest(digest)) throw new OciError(code, `invalid digest "${clip(digest)}"`, code === 'DIGEST_INVALID' ? {} : { status: 400 });
}

export function isDigestRef(ref: string): boolean {
  return ref.includes(':');
}

export function checkTag(tag: string): void {
  if (!isValidTag(tag)) throw new OciError('MANIFEST_INVALID', `invalid tag "${clip(tag)}"`, { detail: { tag: clip(tag) } });
}

/** Upload ids are ours: 32 lowercase hex characters. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

export function checkUploadId(id: string): void {
  if (!UPLOAD_ID.test(id)) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
