import { isValidDigest } from '../../oci/digest.js';

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
}

interface Parsed {
  children: string[];
  blobs: string[];
  subject?: string;
}

const HOUR = 3_600_000;

/** What a manifest points at, read leniently (OCI and Docker, images, indexes and artifacts). */
function references(bytes: Uint8Array): Parsed | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const m = doc as Record<string, unknown>;
  const digests = (list: unknown): string[] =>
    Array.isArray(list) ? list.flatMap((d) => (typeof d === 'object' && d !== null && isValidDigest((d as { digest?: unknown }).digest as string) ? [(d as { digest: string }).digest] : [])) : [];
  const one = (d: unknown): string[] => digests(d === undefined ? [] : [d]);
  const parsed: Parsed = {
    children: digests(m.manifests),
    // `blobs` is the withdrawn OCI artifact manifest; keeping its blobs costs nothing.
    blobs: [...one(m.config), ...digests(m.layers), ...digests(m.blobs)],
  };
  const subject = one(m.subject)[0];
  if (subject !== undefined) parsed.subject = subject;
  return parsed;
}

export async function collectGarbage(store: GcStore, options: GcOptions = {}): Promise<GcReport> {
  const now = options.now ?? Date.now;
  const graceMs = options.graceMs ?? HOUR;
  const start = now();
  const cutoff = start - graceMs;
  const guard: DeleteGuard = { notModifiedSince: cutoff };
  const dryRun = options.dryRun ?? false;
  const report: GcReport = { dryRun, removed: [], bytesReclaimed: 0, repositories: 0, kept: { manifests: 0, blobs: 0 }, warnings: [] };

  // For bytesReclaimed: who holds each digest, and who gave it up.
  const holders = new Map<string, Set<string>>();
  const sizes = new Map<string, number>();
  const dropped = new Map<string, Set<string>>();
  const hold = (repo: string, o: GcObject) => {
    let s = holders.get(o.digest);
    if (!s) holders.set(o.digest, (s = new Set()));
    s.add(repo);
    if (!sizes.has(o.digest)) sizes.set(o.digest, o.size);
  };

  const repositories = options.repositories ?? (await store.listRepositories());
  for (const repo of repositories) {
    report.repositories++;
    const parsed = new Map<string, Parsed | null>();
    const read = async (digest: string): Promise<Parsed | null> => {
      let p = parsed.get(digest);
      if (p === undefined) {
        const bytes = await store.readManifest(repo, digest);
        p = bytes === undefined ? null : (references(bytes) ?? null);
        if (bytes !== undefined && p === null) throw new UnreadableManifest(digest);
        parsed.set(digest, p);
      }
      return p;
    };

    const keptManifests = new Set<string>();
    const keptBlobs = new Set<string>();
    const referrersOf = new Map<string, string[]>();

    const mark = async (roots: Iterable<string>) => {
      const queue = [...roots];
      while (queue.length > 0) {
        const d = queue.pop()!;
        if (keptManifests.has(d)) continue;
        keptManifests.add(d);
        keptBlobs.add(d);
        const p = await read(d);
        if (p) {
          queue.push(...p.children);
          for (const b of p.blobs) keptBlobs.add(b);
        }
        queue.push(...(referrersOf.get(d) ?? []));
      }
    };

    /** List tags and manifests and mark from them; run twice (before and right before sweeping). */
    const markAll = async (): Promise<GcObject[]> => {
      const [tags, manifests] = await Promise.all([store.listTags(repo), store.listManifests(repo)]);
      for (const m of manifests) {
        const p = await read(m.digest);
        if (p?.subject !== undefined) {
          const list = referrersOf.get(p.subject) ?? [];
          if (!list.includes(m.digest)) list.push(m.digest);
          referrersOf.set(p.subject, list);
          // A referrer that arrives after its subject was marked.
          if (keptManifests.has(p.subject)) await mark([m.digest]);
        }
      }
      const roots = tags.map((t) => t.digest);
      for (const m of manifests) if (!options.untagged || m.modified >= cutoff) roots.push(m.digest);
      await mark(roots);
      return manifests;
    };

    let manifests: GcObject[];
    let blobs: GcObject[];
    try {
      manifests = await markAll();
      blobs = await store.listBlobs(repo);
      // Second look: whatever was pushed while we marked is protected as well.
      const again = await markAll();
      const seen = new Set(manifests.map((m) => m.digest));
      for (const m of again) if (!seen.has(m.digest)) manifests.push(m);
    } catch (e) {
      if (e instanceof UnreadableManifest) {
        report.warnings.push(`${repo}: manifest ${e.digest} is not valid JSON; repository left untouched`);
        continue;
      }
      throw e;
    }
    for (const o of [...manifests, ...blobs]) hold(repo, o);

    const removedHere = new Set<string>();
    const manifestDigests = new Set(manifests.map((m) => m.digest));
    for (const m of manifests) {
      if (keptManifests.has(m.digest) || m.modified >= cutoff) continue;
      if (dryRun || (await store.deleteManifest(repo, m.digest, guard))) {
        report.removed.push({ kind: 'manifest', repository: repo, digest: m.digest, size: m.size });
        removedHere.add(m.digest);
      }
    }
    for (const b of blobs) {
      if (keptBlobs.has(b.digest) || b.modified >= cutoff || removedHere.has(b.digest)) continue;
      if (manifestDigests.has(b.digest)) continue; // bytes of a manifest that stays (young, or its delete was refused)
      if (dryRun || (await store.deleteBlob(repo, b.digest, guard))) {
        report.removed.push({ kind: 'blob', repository: repo, digest: b.digest, size: b.size });
        removedHere.add(b.digest);
      }
    }
    for (const d of removedHere) {
      let s = dropped.get(d);
      if (!s) dropped.set(d, (s = new Set()));
      s.add(repo);
    }
    report.kept.manifests += keptManifests.size;
    report.kept.blobs += blobs.filter((b) => !removedHere.has(b.digest)).length;
  }

  // Only a full run knows every holder; a partial one counts only digests it saw go everywhere it looked.
  for (const [d, from] of dropped) {
    const all = holders.get(d)!;
    if ([...all].every((r) => from.has(r))) report.bytesReclaimed += sizes.get(d) ?? 0;
  }

  report.warnings.push(...(store.warnings?.() ?? []));

  const uploadCutoff = start - (options.uploadGraceMs ?? graceMs);
  const wanted = options.repositories ? new Set(options.repositories) : undefined;
  for (const u of await store.listUploads()) {
    if (u.modified >= uploadCutoff || (wanted && !wanted.has(u.repository))) continue;
    if (dryRun || (await store.deleteUpload(u.repository, u.id))) {
      report.removed.push({ kind: 'upload', repository: u.repository, id: u.id, size: u.size });
      report.bytesReclaimed += u.size;
    }
  }
  return report;
}

class UnreadableManifest extends Error {
  constructor(readonly digest: string) {
    super(`unreadable manifest ${digest}`);
  }
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
