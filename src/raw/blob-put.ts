import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { Descriptor } from '../oci/manifest.js';
import type { RawRepository } from './types.js';

export interface BlobPutOptions {
  repo: RawRepository;
  /** A file path, or a stream (standard input). */
  input: string | Readable;
  mediaType?: string;
  onProgress?: (bytes: number) => void;
}

/**
 * Upload one blob, streamed: the digest is computed while the bytes go out (one pass over the
 * input, which may be a pipe) and the registry checks it when the upload is closed.
 */
export async function putBlob(opts: BlobPutOptions): Promise<Descriptor> {
  let body: Readable;
  if (typeof opts.input === 'string') {
    const s = await stat(opts.input).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${opts.input}: ${e.code ?? e.message}`);
    });
    if (!s.isFile()) throw new UsageError(`${opts.input} is not a file`);
    body = createReadStream(opts.input, { highWaterMark: 1024 * 1024 });
  } else body = opts.input;
  if (!opts.repo.putBlobComputed) throw new UsageError(`${opts.repo.description} cannot store a blob of unknown digest`);
  return opts.repo.putBlobComputed(body, opts.mediaType ?? 'application/octet-stream', opts.onProgress);
}
