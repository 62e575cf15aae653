import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHealthCheck, probeWritable } from '../../src/server/ops/health.js';
import { asNobody } from '../helpers/privileges.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-health-'));
});
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('healthz', () => {
  it('200 when storage is writable, leaving no file behind', async () => {
    const check = createHealthCheck({ checkStorage: () => probeWritable(dir) });
    const r = await check();
    expect(r.status).toBe(200);
    expect(r.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ok', checks: { storage: { ok: true } } });
    expect(await readdir(dir)).toEqual([]);
  });

  it('503 with the errno code (never the path) when it is not', async () => {
    await chmod(dir, 0o555);
    const check = createHealthCheck({ checkStorage: () => probeWritable(dir) });
    const r = await asNobody(check);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'fail', checks: { storage: { ok: false, error: 'storage not writable (EACCES)' } } });
    expect(r.body).not.toContain(dir);
  });

  it('503 for a missing directory, without the path', async () => {
    const missing = join(dir, 'nope');
    const r = await createHealthCheck({ checkStorage: () => probeWritable(missing) })();
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).checks.storage.error).toBe('storage not writable (ENOENT)');
    expect(r.body).not.toContain(missing);
  });

  it('a hung probe answers 503 after the timeout', async () => {
    const check = createHealthCheck({ checkStorage: () => new Promise(() => {}), timeoutMs: 50 });
    const t = Date.now();
    const r = await check();
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).checks.storage.error).toBe('timed out after 50 ms');
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('concurrent and rapid checks share one probe', async () => {
    let now = 0;
    let probes = 0;
    const check = createHealthCheck({ checkStorage: async () => void probes++, cacheMs: 1000, now: () => now });
    await Promise.all([check(), check(), check()]);
    await check();
    expect(probes).toBe(1);
    now = 1001;
    await check();
    expect(probes).toBe(2);
  });
});
