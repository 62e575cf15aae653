import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, RegctlError } from '../errors.js';
import { parseDigest, VerifyingStream } from '../oci/digest.js';
import type { RawRepository } from './types.js';

export interface BlobGetOptions {
  repo: RawRepository;
  digest: string;
  /** Write here (atomically: a temporary file beside it, renamed once verified). */
  file?: string;
  /** Or stream to this (stdout). A mismatch is found only once every byte has passed. */
  sink?: Writable;
  signal?: AbortSignal;
}

export interface BlobGetResult {
  digest: string;
  size: number;
  file?: string;
}

/**
 * Stream one blob to a file or a writable, verified against its digest (and the size the
 * registry announced). A file is written under a temporary name and renamed when the digest
 * matched, so a mismatch or an interruption leaves no partial file and an existing file untouched.
 */
export async function getBlob(opts: BlobGetOptions): Promise<BlobGetResult> {
  parseDigest(opts.digest);
  const head = await opts.repo.headBlob(opts.digest);
  if (!head) throw new NotFoundError(`blob ${opts.digest} not found in ${opts.repo.description}`, 'BLOB_UNKNOWN');
  const size = head.size >= 0 ? head.size : undefined;
  const body = await opts.repo.getBlob({ mediaType: 'application/octet-stream', digest: opts.digest, size: size ?? -1 });
  const verify = new VerifyingStream({ digest: opts.digest, ...(size !== undefined ? { size } : {}), what: `blob ${opts.digest}` });
  const signal = opts.signal ? { signal: opts.signal } : {};
  if (opts.file === undefined) {
    if (!opts.sink) throw new TypeError('getBlob needs a file or a sink');
    await pipeline(body, verify, opts.sink, { ...signal, end: false });
    return { digest: opts.digest, size: verify.bytes };
  }
  const partial = join(dirname(opts.file), `.${basename(opts.file)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await pipeline(body, verify, createWriteStream(partial, { flags: 'wx', mode: 0o644 }), signal);
    await rename(partial, opts.file);
  } catch (e) {
    body.destroy();
    await rm(partial, { force: true });
    // A file system error names the file asked for, not the temporary one beside it.
    const code = (e as NodeJS.ErrnoException).code;
    if (!(e instanceof RegctlError) && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new RegctlError('WRITE_FAILED', `cannot write ${opts.file}: ${code}`, { cause: e });
    }
    throw e;
  }
  return { digest: opts.digest, size: verify.bytes, file: opts.file };
}
