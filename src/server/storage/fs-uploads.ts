import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OciError, uploadRangeError } from '../protocol/errors.js';
import { KeyedMutex } from './mutex.js';
import { isErrno } from './fs-file-ops.js';
import type { UploadInfo } from './types.js';

interface SessionMeta {
  repository: string;
  startedAt: number;
  /** The process that created the session (absent in sessions written before it was recorded). */
  owner?: ProcessId;
}

/** A process: pid plus start time, since pids are reused (a container's server is pid 1 every time). */
export interface ProcessId {
  pid: number;
  started: number;
}

/** This process, as recorded in the sessions it creates. */
export const THIS_PROCESS: ProcessId = { pid: process.pid, started: Math.round(Date.now() - process.uptime() * 1000) };

/**
 * Is the process that wrote a session (or a temporary file) still running? Our own pid with
 * another start time is an earlier life of this server. Another live pid is trusted to be the
 * owner (the kernel gives no portable way to check its start time): such leftovers are kept.
 */
export function ownerAlive(owner: ProcessId | number | undefined): boolean {
  if (owner === undefined) return false;
  const pid = typeof owner === 'number' ? owner : owner.pid;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return typeof owner !== 'number' && owner.started === THIS_PROCESS.started;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
}

/**
 * A session left by a process that is gone is kept this long after its last byte (a client may
 * resume right after a quick restart), instead of the full --upload-ttl: a crash must not leave
 * slots taken for a day.
 */
export const ORPHAN_IDLE_MS = 10 * 60 * 1000;

/**
 * Upload sessions on disk (ROOT/_uploads/ID/{info.json,data}) so they survive restarts. The
 * data file is always the truth; hashing is storage/verified-uploads.ts's business.
 */
export class UploadSessions {
  readonly dir: string;
  /** Told when a session goes (completed, cancelled, purged), so its running hash goes too. */
  onRemove?: (id: string) => void;
  private readonly locks = new KeyedMutex();
  /** Sessions of a dead process kept at start-up: they expire after ORPHAN_IDLE_MS idle. */
  private readonly orphans = new Set<string>();

  constructor(root: string) {
    this.dir = join(root, '_uploads');
  }

  dataPath(id: string): string {
    return join(this.dir, id, 'data');
  }

  async create(repo: string): Promise<UploadInfo> {
    const id = randomBytes(16).toString('hex');
    const startedAt = Date.now();
    await mkdir(join(this.dir, id), { recursive: true });
    await writeFile(this.dataPath(id), '');
    // info.json is written last: a session without it is incomplete and gets purged.
    await writeFile(join(this.dir, id, 'info.json'), JSON.stringify({ repository: repo, startedAt, owner: THIS_PROCESS } satisfies SessionMeta));
    return { id, repository: repo, size: 0, startedAt };
  }

  async stat(repo: string, id: string): Promise<UploadInfo | undefined> {
    let meta: SessionMeta;
    try {
      meta = JSON.parse(await readFile(join(this.dir, id, 'info.json'), 'utf8')) as SessionMeta;
      const s = await stat(this.dataPath(id));
      if (meta.repository !== repo) return undefined;
      return { id, repository: repo, size: s.size, startedAt: meta.startedAt };
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR') || e instanceof SyntaxError) return undefined;
      throw e;
    }
  }

  async require(repo: string, id: string): Promise<UploadInfo> {
    const info = await this.stat(repo, id);
    if (!info) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    return info;
  }

  /** Run `fn` holding the session's lock (one PATCH/PUT at a time per session). */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  async append(repo: string, id: string, chunks: AsyncIterable<Buffer>, offset?: number): Promise<UploadInfo> {
    return this.locks.run(id, async () => {
      const info = await this.require(repo, id);
      if (offset !== undefined && offset !== info.size) throw uploadRangeError(info.size);
      info.size += await appendChunks(this.dataPath(id), chunks);
      // Touch info for the idle-TTL purge without rewriting it: the data file's mtime counts.
      return info;
    });
  }

  /** The session's bytes, `size` of them. */
  read(id: string, size: number): Readable {
    return size > 0 ? createReadStream(this.dataPath(id), { end: size - 1 }) : Readable.from([]);
  }

  async remove(id: string): Promise<void> {
    this.onRemove?.(id);
    this.orphans.delete(id);
    await rm(join(this.dir, id), { recursive: true, force: true });
  }

  async cancel(repo: string, id: string): Promise<boolean> {
    return this.locks.run(id, async () => {
      if (!(await this.stat(repo, id))) return false;
      await this.remove(id);
      return true;
    });
  }

  /** Every session on disk with its last activity (data or info.json mtime). */
  async list(): Promise<Array<{ repository: string; id: string; size: number; modified: number; maxIdleMs?: number }>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
    const out: Array<{ repository: string; id: string; size: number; modified: number; maxIdleMs?: number }> = [];
    for (const id of names) {
      if (!/^[0-9a-f]{32}$/.test(id)) continue;
      try {
        const meta = JSON.parse(await readFile(join(this.dir, id, 'info.json'), 'utf8')) as SessionMeta;
        const info = await stat(join(this.dir, id, 'info.json'));
        const data = await stat(this.dataPath(id)).catch(() => undefined);
        out.push({
          repository: meta.repository,
          id,
          size: data?.size ?? 0,
          modified: Math.max(info.mtimeMs, data?.mtimeMs ?? 0),
          ...(this.orphans.has(id) ? { maxIdleMs: ORPHAN_IDLE_MS } : {}),
        });
      } catch {
        // incomplete or vanishing session: purge's business
      }
    }
    return out;
  }

  async purge(maxAgeMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return 0;
      throw e;
    }
    const now = Date.now();
    let removed = 0;
    for (const id of names) {
      if (this.locks.isLocked(id)) continue;
      const last = await this.lastActivity(id);
      const cutoff = now - (this.orphans.has(id) ? Math.min(maxAgeMs, ORPHAN_IDLE_MS) : maxAgeMs);
      if (last < cutoff) {
        await this.remove(id);
        removed++;
      }
    }
    return removed;
  }

  /** Newest mtime of the session's directory and files (0 when none is left). */
  private async lastActivity(id: string): Promise<number> {
    let last = 0;
    // The directory counts too: a session being created right now has it before its files,
    // and must not look abandoned (a purge at start-up raced a first upload that way).
    for (const f of ['', 'data', 'info.json']) {
      try {
        last = Math.max(last, (await stat(join(this.dir, id, f))).mtimeMs);
      } catch {
        // missing file: an incomplete session, judged by what remains
      }
    }
    return last;
  }

  /**
   * At start-up: sessions whose owner process is gone (a crash, a kill, a restart) and that have
   * been idle for ORPHAN_IDLE_MS are removed; younger ones are kept for a client that resumes,
   * but expire after ORPHAN_IDLE_MS idle instead of the upload TTL. Sessions of another live
   * process sharing the root are left alone. Returns what was removed.
   */
  async recoverOrphans(now = Date.now()): Promise<{ removed: number; bytes: number; kept: number }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return { removed: 0, bytes: 0, kept: 0 };
      throw e;
    }
    const report = { removed: 0, bytes: 0, kept: 0 };
    for (const id of names) {
      if (!/^[0-9a-f]{32}$/.test(id)) continue;
      let owner: ProcessId | undefined;
      try {
        owner = (JSON.parse(await readFile(join(this.dir, id, 'info.json'), 'utf8')) as SessionMeta).owner;
      } catch {
        // no or broken info.json: an incomplete session, nobody's
      }
      if (ownerAlive(owner)) continue;
      if (now - (await this.lastActivity(id)) > ORPHAN_IDLE_MS) {
        const size = await stat(this.dataPath(id)).then((s) => s.size, () => 0);
        await this.remove(id);
        report.removed++;
        report.bytes += size;
      } else {
        this.orphans.add(id);
        report.kept++;
      }
    }
    return report;
  }
}

/** Bytes gathered before one write: fewer, larger writes cost less CPU than one per socket read. */
const WRITE_BATCH = 1 << 20;
const SYNC_EVERY = 32 << 20;

/**
 * Stream `chunks` onto the end of `path`; returns how many bytes. Reading and writing overlap:
 * while one batch is being written, the next one is collected.
 */
async function appendChunks(path: string, chunks: AsyncIterable<Buffer>): Promise<number> {
  const fh = await open(path, 'a');
  let writing: Promise<unknown> = Promise.resolve();
  // Flush to disk in the background while bytes still arrive, so the fsync that makes the blob
  // durable at commit time finds little left to write. Its failure is not ours to report: the
  // commit-time fsync is what counts.
  let syncing: Promise<unknown> = Promise.resolve();
  let syncPending = false;
  try {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let unsynced = 0;
    let total = 0;
    for await (const buf of chunks) {
      total += buf.length;
      batch.push(buf);
      batchBytes += buf.length;
      if (batchBytes >= WRITE_BATCH) {
        await writing;
        const out = batch;
        writing = writeAll(fh, out);
        // Awaited at the next batch or in finally; until then a failure (ENOSPC) must not count
        // as an unhandled rejection, which would end the process.
        writing.catch(() => undefined);
        unsynced += batchBytes;
        batch = [];
        batchBytes = 0;
        if (unsynced >= SYNC_EVERY && !syncPending) {
          unsynced = 0;
          syncPending = true;
          syncing = writing
            .then(() => fh.datasync())
            .catch(() => undefined)
            .finally(() => {
              syncPending = false;
            });
        }
      }
    }
    await writing;
    if (batch.length > 0) await writeAll(fh, batch);
    return total;
  } finally {
    // Never close under an in-flight write or sync (the body may have failed mid-way).
    await writing.catch(() => undefined);
    await syncing;
    await fh.close();
  }
}

/** writev until every byte is down (a short write is legal, if rare, for regular files). */
async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  let pending = bufs;
  let total = pending.reduce((n, b) => n + b.length, 0);
  while (total > 0) {
    const { bytesWritten } = await fh.writev(pending);
    total -= bytesWritten;
    if (total === 0) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    pending = rest;
  }
}
