import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DigestMismatchError, InvalidContentError, UsageError } from '../errors.js';
import { digestOf, isValidDigest, parseDigest } from '../oci/digest.js';
import { manifestFromJson } from '../oci/manifest.js';
import { isManifestMediaType, isValidMediaType } from '../oci/mediatypes.js';
import { MANIFEST_FILE_LIMIT, type RawRepository } from './types.js';

export interface ManifestPutOptions {
  repo: RawRepository;
  /** Tag or digest to store it under. */
  ref: string;
  /** A file path, or a stream (standard input). */
  input: string | Readable;
  /** Overrides (or supplies) the document's own `mediaType`. */
  mediaType?: string;
}

export interface ManifestPutResult {
  digest: string;
  mediaType: string;
  size: number;
}

async function readLimited(input: string | Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const add = (c: Buffer): void => {
    n += c.length;
    if (n > MANIFEST_FILE_LIMIT) throw new UsageError(`the manifest is larger than ${MANIFEST_FILE_LIMIT} bytes`);
    chunks.push(c);
  };
  if (typeof input !== 'string') {
    for await (const c of input) add(Buffer.from(c as Buffer));
    return Buffer.concat(chunks);
  }
  const handle = await open(input, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${input}: ${e.code ?? e.message}`);
  });
  try {
    for await (const c of handle.createReadStream({ autoClose: false })) add(c as Buffer);
  } finally {
    await handle.close();
  }
  return Buffer.concat(chunks);
}

/**
 * Store a manifest file byte for byte (never re-serialised, so its digest is the file's). The
 * media type is `--media-type` or the document's `mediaType`; image manifests and indexes are
 * checked for shape first, so a typo fails here and not as a registry's MANIFEST_INVALID.
 */
export async function putManifest(opts: ManifestPutOptions): Promise<ManifestPutResult> {
  const bytes = await readLimited(opts.input);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UsageError('the manifest file is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError('the manifest file is not a JSON object');
  const own = (json as { mediaType?: unknown }).mediaType;
  const mediaType = opts.mediaType ?? (typeof own === 'string' ? own : undefined);
  if (mediaType === undefined) throw new UsageError('the manifest names no mediaType: pass --media-type');
  if (!isValidMediaType(mediaType)) throw new UsageError(`"${String(mediaType).slice(0, 80)}" is not a media type`);
  if (isManifestMediaType(mediaType)) {
    try {
      manifestFromJson(json, mediaType);
    } catch (e) {
      throw new InvalidContentError(`the file is not a valid ${mediaType}: ${(e as Error).message}`, 'MANIFEST_INVALID', { cause: e });
    }
  }
  const digest = digestOf(bytes, isValidDigest(opts.ref) ? parseDigest(opts.ref).algorithm : 'sha256');
  if (isValidDigest(opts.ref) && opts.ref !== digest) throw new DigestMismatchError(opts.ref, digest, 'manifest file');
  await opts.repo.putManifest(opts.ref, { bytes, mediaType, digest });
  return { digest, mediaType, size: bytes.length };
}
