import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `GET /healthz`: 200 when storage accepts a write, else 503. The probe is the server's
 * (probeWritable for a directory, or whatever its backend needs). Results are shared for
 * `cacheMs` so a load balancer polling hard doesn't turn into a stream of disk writes, and a
 * hung storage answers 503 after `timeoutMs` instead of hanging the check.
 */

export interface HealthOptions {
  /** Resolves when storage is writable; rejects otherwise. */
  checkStorage: () => Promise<void>;
  timeoutMs?: number;
  cacheMs?: number;
  now?: () => number;
}

export interface HealthResult {
  status: 200 | 503;
  headers: Record<string, string>;
  body: string;
}

export interface HealthReport {
  status: 'ok' | 'fail';
  checks: { storage: { ok: boolean; error?: string; durationMs: number } };
}

export function createHealthCheck(options: HealthOptions): () => Promise<HealthResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const cacheMs = options.cacheMs ?? 1000;
  const now = options.now ?? Date.now;
  let cached: { at: number; result: HealthResult } | undefined;
  let running: Promise<HealthResult> | undefined;

  const run = async (): Promise<HealthResult> => {
    const t = now();
    let error: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        options.checkStorage(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HealthTimeout()), timeoutMs);
        }),
      ]);
    } catch (e) {
      error = e instanceof HealthTimeout ? `timed out after ${timeoutMs} ms` : describe(e);
    } finally {
      clearTimeout(timer);
    }
    const report: HealthReport = {
      status: error === undefined ? 'ok' : 'fail',
      checks: { storage: { ok: error === undefined, ...(error !== undefined ? { error } : {}), durationMs: now() - t } },
    };
    return {
      status: error === undefined ? 200 : 503,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: `${JSON.stringify(report)}\n`,
    };
  };

  return async () => {
    if (cached && now() - cached.at < cacheMs) return cached.result;
    running ??= run().then(
      (result) => {
        cached = { at: now(), result };
        running = undefined;
        return result;
      },
      (e: unknown) => {
        running = undefined;
        throw e;
      },
    );
    return running;
  };
}

class HealthTimeout extends Error {}

/** Errno codes only: a health endpoint is often public and must not reveal paths. */
function describe(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return `storage not writable (${code})`;
  return 'storage not writable';
}

/** Create, write, fsync and remove a small dot-file in `dir`: proves the disk takes writes. */
export async function probeWritable(dir: string): Promise<void> {
  const file = join(dir, `.healthz-${randomBytes(6).toString('hex')}`);
  const fh = await open(file, 'wx', 0o600);
  try {
    await fh.writeFile('ok');
    await fh.sync();
  } finally {
    await fh.close();
    await unlink(file).catch(() => undefined);
  }
}
