/**
 * Online garbage collection. Per repository: mark everything reachable from its tags
 * (manifests, index children, configs, layers), plus manifests whose `subject` is reachable
 * (referrers: signatures, SBOMs), plus - unless `untagged` - every manifest the repository holds;
 * then remove the blobs and manifests nothing reaches.
 *
 * Safe while the server runs, because:
 *  - anything modified less than `graceMs` ago is a root (manifests) or kept (blobs, uploads),
 *    so a push in flight - layers first, then child manifests by digest, then the tag - survives;
 *  - tags and manifests are listed again just before sweeping and anything new is marked too;
 *  - every delete carries `notModifiedSince`: the store must skip an object touched since then.
 *    The server should touch (bump the modification time of) the blobs a manifest PUT references
 *    and a blob that a HEAD/mount finds, so a push that reuses an old unreferenced blob keeps it.
 *
 * Storage stays behind GcStore (storage/gc-store.ts); each backend adapts to it.
 */

export type { DeleteGuard, GcObject, GcStore } from '../storage/gc-store.js';
import type { DeleteGuard, GcObject, GcStore } from '../storage/gc-store.js';
import { RepositoryMark, UnreadableManifest } from './gc-mark.js';
import { applyRetention, type RetentionReport, type RetentionRun } from './retention.js';

export interface GcOptions {
  /** Also remove manifests no tag reaches (and that are not referrers of reachable ones). */
  untagged?: boolean;
  /** Keep anything younger than this (ms). Default one hour. */
  graceMs?: number;
  /** Upload sessions idle longer than this are removed (ms). Default: graceMs. */
  uploadGraceMs?: number;
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
  /** Only these repositories (default: all). */
  repositories?: string[];
  /** `--retention`: rules applied before marking (ops/retention.ts). */
  retention?: RetentionRun;
  now?: () => number;
}

export interface GcRemoval {
  kind: 'manifest' | 'blob' | 'upload';
  repository: string;
  /** Digest for manifests and blobs, session id for uploads. */
  digest?: string;
  id?: string;
  size: number;
}

export interface GcReport {
  dryRun: boolean;
  removed: GcRemoval[];
  /** Bytes freed: each digest counted once, and only when no repository still holds it. */
  bytesReclaimed: number;
  /** Repositories examined, and objects kept. */
  repositories: number;
  kept: { manifests: number; blobs: number };
  /** Problems that made gc leave a repository alone (unreadable manifests). */
  warnings: string[];
  /** Unreached objects kept only because they are younger than the grace period. */
  keptByGrace: { manifests: number; blobs: number; uploads: number };
  /** What retention removed (or would remove), when rules were given. */
  retention?: RetentionReport;
}

const HOUR = 3_600_000;

export async function collectGarbage(store: GcStore, options: GcOptions = {}): Promise<GcReport> {
  const now = options.now ?? Date.now;
  const graceMs = options.graceMs ?? HOUR;
  const start = now();
  const cutoff = start - graceMs;
  const dryRun = options.dryRun ?? false;
  const report: GcReport = { dryRun, removed: [], bytesReclaimed: 0, repositories: 0, kept: { manifests: 0, blobs: 0 }, warnings: [], keptByGrace: { manifests: 0, blobs: 0, uploads: 0 } };
  const reclaimed = new Reclaimed();
  const sweep: Sweep = { store, report, dryRun, cutoff, guard: { notModifiedSince: cutoff } };

  const repositories = options.repositories ?? (await store.listRepositories());
  if (options.retention) {
    report.retention = await applyRetention(store, options.retention, { dryRun, now: start, repositories, guardSince: start });
  }
  for (const repo of repositories) {
    report.repositories++;
    const marked = new RepositoryMark(store, repo, { untagged: options.untagged ?? false, cutoff });
    let found: { manifests: GcObject[]; blobs: GcObject[] };
    try {
      found = await marked.run();
    } catch (e) {
      if (e instanceof UnreadableManifest) {
        report.warnings.push(`${repo}: manifest ${e.digest} is not valid JSON; repository left untouched`);
        continue;
      }
      throw e;
    }
    for (const o of [...found.manifests, ...found.blobs]) reclaimed.hold(repo, o);
    const removedHere = await sweepRepository(sweep, repo, marked, found);
    reclaimed.drop(repo, removedHere);
    report.kept.manifests += marked.keptManifests.size;
    report.kept.blobs += found.blobs.filter((b) => !removedHere.has(b.digest)).length;
  }
  report.bytesReclaimed += reclaimed.bytes();
  report.warnings.push(...(store.warnings?.() ?? []));
  await sweepUploads(sweep, start - (options.uploadGraceMs ?? graceMs), options.repositories);
  return report;
}

interface Sweep {
  store: GcStore;
  report: GcReport;
  dryRun: boolean;
  cutoff: number;
  guard: DeleteGuard;
}

/** Remove what the mark left unreached and old enough; returns the digests removed here. */
async function sweepRepository(s: Sweep, repo: string, marked: RepositoryMark, found: { manifests: GcObject[]; blobs: GcObject[] }): Promise<Set<string>> {
  const removedHere = new Set<string>();
  const manifestDigests = new Set(found.manifests.map((m) => m.digest));
  for (const m of found.manifests) {
    if (marked.keptManifests.has(m.digest)) continue;
    if (m.modified >= s.cutoff) {
      s.report.keptByGrace.manifests++;
      continue;
    }
    if (s.dryRun || (await s.store.deleteManifest(repo, m.digest, s.guard))) {
      s.report.removed.push({ kind: 'manifest', repository: repo, digest: m.digest, size: m.size });
      removedHere.add(m.digest);
    }
  }
  for (const b of found.blobs) {
    if (marked.keptBlobs.has(b.digest) || removedHere.has(b.digest)) continue;
    if (manifestDigests.has(b.digest)) continue; // bytes of a manifest that stays (young, or its delete was refused)
    if (b.modified >= s.cutoff) {
      s.report.keptByGrace.blobs++;
      continue;
    }
    if (s.dryRun || (await s.store.deleteBlob(repo, b.digest, s.guard))) {
      s.report.removed.push({ kind: 'blob', repository: repo, digest: b.digest, size: b.size });
      removedHere.add(b.digest);
    }
  }
  return removedHere;
}

/** Upload sessions idle since before `cutoff` (in `repositories` only, when given). */
async function sweepUploads(s: Sweep, cutoff: number, repositories?: string[]): Promise<void> {
  const wanted = repositories ? new Set(repositories) : undefined;
  for (const u of await s.store.listUploads()) {
    if (wanted && !wanted.has(u.repository)) continue;
    if (u.modified >= cutoff) {
      s.report.keptByGrace.uploads++;
      continue;
    }
    if (s.dryRun || (await s.store.deleteUpload(u.repository, u.id))) {
      s.report.removed.push({ kind: 'upload', repository: u.repository, id: u.id, size: u.size });
      s.report.bytesReclaimed += u.size;
    }
  }
}

/** For bytesReclaimed: who holds each digest, and who gave it up. */
class Reclaimed {
  private readonly holders = new Map<string, Set<string>>();
  private readonly sizes = new Map<string, number>();
  private readonly dropped = new Map<string, Set<string>>();

  hold(repo: string, o: GcObject): void {
    add(this.holders, o.digest, repo);
    if (!this.sizes.has(o.digest)) this.sizes.set(o.digest, o.size);
  }

  drop(repo: string, digests: Iterable<string>): void {
    for (const d of digests) add(this.dropped, d, repo);
  }

  /** Only a full run knows every holder; a partial one counts only digests it saw go everywhere it looked. */
  bytes(): number {
    let n = 0;
    for (const [d, from] of this.dropped) {
      if ([...this.holders.get(d)!].every((r) => from.has(r))) n += this.sizes.get(d) ?? 0;
    }
    return n;
  }
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  let s = map.get(key);
  if (!s) map.set(key, (s = new Set()));
  s.add(value);
}

export interface GcSchedule {
  /** Run now unless a run is in progress (then wait for that one). */
  runNow(): Promise<GcReport>;
  /** Stop the timer; waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * `--gc-interval`: collect every intervalMs, never two runs at once. The timer is unref'd so
 * it does not keep the process alive; failures go to onError and the schedule carries on.
 */
export function scheduleGc(
  store: GcStore,
  intervalMs: number,
  options: GcOptions & { onReport?: (r: GcReport) => void; onError?: (e: unknown) => void } = {},
): GcSchedule {
  if (!(intervalMs > 0)) throw new RangeError('gc interval must be positive');
  let running: Promise<GcReport> | undefined;
  const runNow = (): Promise<GcReport> => {
    running ??= collectGarbage(store, options).finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    runNow().then(
      (r) => options.onReport?.(r),
      (e: unknown) => options.onError?.(e),
    );
  }, intervalMs);
  timer.unref();
  return {
    runNow,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
