import pLimit, { type LimitFunction } from 'p-limit';

/**
 * A counting semaphore: at most `limit` tasks run at once, the rest wait in FIFO order (p-limit).
 * One limiter is shared by every image of a command so `-j` bounds the whole command,
 * not each image separately.
 */
export class Limiter {
  readonly limit: number;
  private readonly pool: LimitFunction;
  /** Highest number of tasks seen running at once (tests and benchmarks read it). */
  peak = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.pool = pLimit(limit);
  }

  get running(): number {
    return this.pool.activeCount;
  }

  get queued(): number {
    return this.pool.pendingCount;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.pool(() => {
      this.peak = Math.max(this.peak, this.pool.activeCount);
      return task();
    });
  }
}

/**
 * Run `fn` over `items` with at most `limit` in flight; results keep the input order. After a
 * failure no new item starts; the first error is thrown once the running ones have settled.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const pool = pLimit(Math.max(1, Math.min(limit, items.length)));
  let failed = false;
  let firstError: unknown;
  const results = await Promise.all(
    items.map((item, i) =>
      pool(async (): Promise<R | undefined> => {
        if (failed) return undefined;
        try {
          return await fn(item, i);
        } catch (e) {
          if (!failed) firstError = e;
          failed = true;
          return undefined;
        }
      }),
    ),
  );
  if (failed) throw firstError;
  return results as R[];
}
