import pLimit from 'p-limit';
import type { Location } from '../content/location.js';
import type { ImageSource, ImageTarget } from '../content/types.js';
import { copyAllTags, Limiter, type CopyEvent } from '../copy/index.js';
import { mountSource } from '../copy/plan.js';
import { InterruptedError, isRegctlError } from '../errors.js';
import { parsePlatform } from '../oci/platform.js';
import type { RetagRepository } from '../retag/repository.js';
import { retagSemver } from '../retag/semver-retag.js';
import type { SyncPair } from './pair.js';
import type { RateLimits } from './ratelimit.js';
import { selectTags, versionOf } from './select.js';
import semver from 'semver';

/** Backends for the pairs, built by the wiring (registry clients, layouts). */
export interface SyncOpener {
  source(loc: Location): Promise<{ source: ImageSource; close(): Promise<void> }>;
  /** With dryRun, a layout that does not exist yet must not be created (an empty target instead). */
  target(loc: Location, o: { dryRun: boolean }): Promise<{ target: ImageTarget; close(): Promise<void> }>;
  catalog(registry: string): Promise<string[]>;
  /** The target as a registry repository, for retag: semver (undefined for layouts). */
  retagRepository(loc: Location): RetagRepository | undefined;
}

/** One source repository mirrored into one target: what happened to its selected tags. */
export interface SyncImageResult {
  source: string;
  target: string;
  /** The entry's line in the file. */
  line: number;
  /** Tags the entry's filters chose at the source. */
  selected: number;
  /** Tags written (dry run: that would be written). */
  copied: number;
  /** Tags already up to date at the target. */
  skipped: number;
  /** Tags not known to be in place because the image failed. */
  failed: number;
  /** Blob bytes that crossed the wire. */
  bytes: number;
  /** Floating tags moved by `retag: semver`. */
  retagged: string[];
  error?: { code: string; message: string };
}

export interface RunPairsOptions {
  pairs: SyncPair[];
  opener: SyncOpener;
  limits: RateLimits;
  /** Repositories at once; also the blob transfers at once across all of them. */
  concurrency: number;
  dryRun: boolean;
  signal?: AbortSignal;
  onImage?: (r: SyncImageResult) => void;
  onEvent?: (e: CopyEvent) => void;
}

/** Every pair on the one copy engine, `concurrency` at once, sharing one blob limiter. */
export async function runPairs(o: RunPairsOptions): Promise<SyncImageResult[]> {
  const pool = pLimit(o.concurrency);
  const blobs = new Limiter(o.concurrency);
  const results = await Promise.all(
    o.pairs.map((pair) =>
      pool(async () => {
        const r = await syncPair(pair, o, blobs);
        o.onImage?.(r);
        return r;
      }),
    ),
  );
  if (o.signal?.aborted) throw new InterruptedError('sync interrupted: nothing was tagged after the interruption');
  return results;
}

async function syncPair(pair: SyncPair, o: RunPairsOptions, blobs: Limiter): Promise<SyncImageResult> {
  const result: SyncImageResult = { source: pair.source, target: pair.target, line: pair.entry.line, selected: 0, copied: 0, skipped: 0, failed: 0, bytes: 0, retagged: [] };
  try {
    if (o.signal?.aborted) throw new InterruptedError('sync interrupted');
    if (pair.sourceLocation.kind === 'registry') await o.limits.before(pair.sourceLocation.ref.registry, o.signal);
    const src = await o.opener.source(pair.sourceLocation);
    try {
      const tags = selectTags(await src.source.listTags(), pair.entry.tags);
      result.selected = tags.length;
      if (tags.length === 0) return result;
      const dst = await o.opener.target(pair.targetLocation, { dryRun: o.dryRun });
      try {
        const report = await copyAllTags({
          source: src.source,
          target: dst.target,
          tags,
          limiter: blobs,
          ...(pair.entry.platform ? { platform: parsePlatform(pair.entry.platform) } : {}),
          referrers: pair.entry.referrers,
          dryRun: o.dryRun,
          mountFrom: mountSource(pair.sourceLocation, pair.targetLocation),
          signal: o.signal,
          onEvent: o.onEvent,
        });
        const written = report.tags.filter((t) => t.outcome === 'pushed' || t.outcome === 'planned');
        result.copied = written.length;
        result.skipped = report.tags.filter((t) => t.outcome === 'up-to-date' || t.outcome === 'skipped-existing').length;
        result.bytes = report.bytes;
        if (pair.entry.retag === 'semver' && !o.dryRun && written.length > 0) {
          result.retagged = await retagReleases(o.opener.retagRepository(pair.targetLocation), written.map((t) => t.tag));
        }
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
  } catch (e) {
    if (o.signal?.aborted) throw e;
    result.failed = Math.max(1, result.selected - result.copied - result.skipped);
    result.error = { code: isRegctlError(e) ? e.code : 'ERROR', message: (e as Error)?.message ?? String(e) };
  }
  return result;
}

/**
 * `retag --semver` for each release copied, oldest first, so X.Y / X / latest end on the newest
 * (a floating tag already on a newer release is left alone: the plan refuses to move it back).
 */
async function retagReleases(repository: RetagRepository | undefined, copied: string[]): Promise<string[]> {
  if (!repository) return [];
  const releases = copied.filter((t) => {
    const v = versionOf(t);
    return v !== undefined && v.prerelease.length === 0;
  });
  releases.sort((a, b) => semver.compare(versionOf(a)!, versionOf(b)!));
  const moved = new Set<string>();
  for (const tag of releases) {
    const r = await retagSemver({ repository, ref: tag });
    for (const a of r.applied) moved.add(a.tag);
  }
  return [...moved].sort();
}
