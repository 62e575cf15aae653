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
  return new ResumingDownload(first, size, open, what);
}

/**
 * Chunks are passed on as the response body emits them, with its own backpressure (a plain
 * Readable, not an async generator: ~8,000 chunks per 500 MiB each paid for several promises).
 */
class ResumingDownload extends Readable {
  private body: HttpResponse['body'] | undefined;
  private offset = 0;
  private resumes = 0;
  private skip = 0;

  constructor(
    first: HttpResponse,
    private readonly size: number | undefined,
    private readonly open: (offset: number) => Promise<HttpResponse>,
    private readonly what: string,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.attach(first);
  }

  private attach(res: HttpResponse): void {
    const body = res.body;
    this.body = body;
    let settled = false;
    const settle = (failure?: unknown) => {
      if (settled || this.body !== body) return;
      settled = true;
      this.bodyEnded(failure);
    };
    body.on('data', (raw: Buffer) => {
      let chunk = raw;
      if (this.skip > 0) {
        const drop = Math.min(this.skip, chunk.length);
        this.skip -= drop;
        chunk = chunk.subarray(drop);
        if (chunk.length === 0) return;
      }
      this.offset += chunk.length;
      if (!this.push(chunk)) body.pause();
    });
    body.once('end', () => settle());
    body.once('error', (e: unknown) => settle(e ?? new Error('download failed')));
    body.once('close', () => settle(body.readableEnded ? undefined : new NetworkError(`${this.what}: connection closed mid-body`)));
  }

  override _read(): void {
    this.body?.resume();
  }

  private bodyEnded(failure: unknown): void {
    if (this.destroyed) return;
    if (failure !== undefined && !isRetryableNetworkError(failure) && !(failure instanceof NetworkError)) {
      this.destroy(failure as Error);
      return;
    }
    const short = this.size !== undefined && this.offset < this.size;
    if (failure === undefined && !short) {
      this.push(null);
      return;
    }
    if (this.resumes >= MAX_RESUMES) {
      this.destroy(new NetworkError(`${this.what}: download interrupted at byte ${this.offset}, gave up after ${MAX_RESUMES} resumes`, { cause: failure }));
      return;
    }
    this.resumes++;
    this.body = undefined;
    this.reopen().catch((e: unknown) => this.destroy(e as Error));
  }

  private async reopen(): Promise<void> {
    const res = await this.open(this.offset);
    if (this.destroyed) {
      await drain(res);
      return;
    }
    if (res.status === 200) {
      // Range ignored: the whole blob again from byte 0.
      this.skip = this.offset;
    } else if (res.status === 206) {
      const m = /bytes (\d+)-/.exec(res.header('content-range') ?? '');
      if (!m || Number(m[1]) !== this.offset) {
        await drain(res);
        throw new NetworkError(`${this.what}: resumed download started at the wrong byte (${res.header('content-range') ?? 'no Content-Range'})`);
      }
    }
    this.attach(res);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.body?.destroy();
    cb(err);
  }
}
