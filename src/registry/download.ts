import { Readable } from 'node:stream';
import { NetworkError } from '../errors.js';
import { drain, type HttpResponse } from '../transport/http.js';
import { isRetryableNetworkError } from '../transport/retry.js';

/** How many times one download may be resumed after the connection broke. */
const MAX_RESUMES = 5;

/**
 * A blob download that survives connection resets: when the body breaks (or ends short of
 * `size`), it re-requests from the byte it got to with `Range` and carries on, so the caller
 * sees one continuous stream. A server that ignores Range gets its first bytes skipped.
 */
export function resumingStream(
  first: HttpResponse,
  size: number | undefined,
  open: (offset: number) => Promise<HttpResponse>,
  what: string,
): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let res = first;
    let offset = 0;
    let resumes = 0;
    let skip = 0;
    for (;;) {
      let failure: unknown;
      try {
        for await (const raw of res.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            const drop = Math.min(skip, chunk.length);
            skip -= drop;
            chunk = chunk.subarray(drop);
            if (chunk.length === 0) continue;
          }
          offset += chunk.length;
          yield chunk;
        }
      } catch (e) {
        if (!isRetryableNetworkError(e)) throw e;
        failure = e;
      }
      const short = size !== undefined && offset < size;
      if (failure === undefined && !short) return;
      if (resumes >= MAX_RESUMES) {
        throw new NetworkError(`${what}: download interrupted at byte ${offset}, gave up after ${MAX_RESUMES} resumes`, { cause: failure });
      }
      resumes++;
      res = await open(offset);
      if (res.status === 200) {
        // Range ignored: the whole blob again from byte 0.
        skip = offset;
      } else if (res.status === 206) {
        const m = /bytes (\d+)-/.exec(res.header('content-range') ?? '');
        if (!m || Number(m[1]) !== offset) {
          await drain(res);
          throw new NetworkError(`${what}: resumed download started at the wrong byte (${res.header('content-range') ?? 'no Content-Range'})`);
        }
      }
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
}
