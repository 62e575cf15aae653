import type { CopyEvent } from '../copy/index.js';
import { monotonicMs } from '../copy/clock.js';
import { loadSyncFile, type SyncFile } from './file.js';
import { expandEntries } from './pair.js';
import { RateLimits, type ResponseInfo } from './ratelimit.js';
import { runPairs, type SyncImageResult, type SyncOpener } from './run.js';

export { loadSyncFile, parseSyncFile, parseDuration, SyncFileError, type SyncFile } from './file.js';
export { checkRateLimit, rateLimitOf, RateLimitError, type RateLimit, type RateLimitCheck, type ResponseInfo } from './ratelimit.js';
export type { SyncImageResult, SyncOpener } from './run.js';

export const DEFAULT_CONCURRENCY = 4;

export interface SyncOptions {
  /** Path of the sync file (re-read at every round of syncEvery). */
  file: string;
  /** Build the backends; every registry response must be handed to `hooks.onResponse` (rate limits). */
  open: (hooks: { onResponse: (res: ResponseInfo) => void }) => SyncOpener;
  dryRun?: boolean;
  /** Wins over the file's `concurrency`. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Each repository as it finishes. */
  onImage?: (r: SyncImageResult) => void;
  onEvent?: (e: CopyEvent) => void;
}

export interface SyncReport {
  file: string;
  dryRun: boolean;
  images: SyncImageResult[];
  totals: { images: number; copied: number; skipped: number; failed: number; bytes: number; failedImages: number };
  /** Pauses taken because a registry reported few pulls left. */
  rateLimitPauses: number;
  seconds: number;
}

/** One pass over the file: plan every pair, copy what is missing, report. */
export async function syncOnce(options: SyncOptions): Promise<SyncReport> {
  const file = await loadSyncFile(options.file);
  const limits = new RateLimits(file.rateLimit);
  const opener = options.open({ onResponse: limits.observe });
  return round(options, file, opener, limits);
}

/**
 * `--interval`: a round, a pause, another round (the file is re-read each time), until the
 * signal aborts (then the pause ends at once and the abort reason is thrown). `onRound` gets
 * each round's report.
 */
export async function syncEvery(options: SyncOptions & { intervalMs: number; onRound: (r: SyncReport) => void | Promise<void>; rounds?: number }): Promise<void> {
  const first = await loadSyncFile(options.file);
  const limits = new RateLimits(first.rateLimit);
  const opener = options.open({ onResponse: limits.observe });
  const { setTimeout: wait } = await import('node:timers/promises');
  for (let n = 0; options.rounds === undefined || n < options.rounds; n++) {
    const file = n === 0 ? first : await loadSyncFile(options.file);
    await options.onRound(await round(options, file, opener, limits));
    if (options.rounds !== undefined && n + 1 >= options.rounds) break;
    await wait(options.intervalMs, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}

async function round(options: SyncOptions, file: SyncFile, opener: SyncOpener, limits: RateLimits): Promise<SyncReport> {
  const started = monotonicMs();
  const pairs = await expandEntries(file.entries, options.file, (registry) => opener.catalog(registry));
  const paused = limits.paused;
  const images = await runPairs({
    pairs,
    opener,
    limits,
    concurrency: options.concurrency ?? file.concurrency ?? DEFAULT_CONCURRENCY,
    dryRun: options.dryRun ?? false,
    signal: options.signal,
    onImage: options.onImage,
    onEvent: options.onEvent,
  });
  const sum = (k: 'copied' | 'skipped' | 'failed' | 'bytes'): number => images.reduce((n, r) => n + r[k], 0);
  return {
    file: options.file,
    dryRun: options.dryRun ?? false,
    images,
    totals: { images: images.length, copied: sum('copied'), skipped: sum('skipped'), failed: sum('failed'), bytes: sum('bytes'), failedImages: images.filter((r) => r.error).length },
    rateLimitPauses: limits.paused - paused,
    seconds: Math.round(monotonicMs() - started) / 1000,
  };
}
