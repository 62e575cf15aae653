import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthorizer } from '../../src/server/security/authorize.js';
import { formatBasicAuth } from '../../src/server/security/basic-auth.js';
import { BcryptBusyError, BcryptPool } from '../../src/server/security/bcrypt-pool.js';
import { ensureBuilt } from '../server/spawn.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const pools: BcryptPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
function pool(options: ConstructorParameters<typeof BcryptPool>[0]): BcryptPool {
  const p = new BcryptPool(options);
  pools.push(p);
  return p;
}

describe('BcryptPool', () => {
  it('compares in a worker thread: right and wrong passwords, malformed hashes', async () => {
    const p = pool({ size: 1 });
    const hash = bcrypt.hashSync('pw', 4);
    expect(await p.compare('pw', hash)).toBe(true);
    expect(await p.compare('pW', hash)).toBe(false);
    expect(await p.compare('pw', '$2b$04$short')).toBe(false);
    expect(p.pending).toBe(0);
  });

  it('a full queue is refused at once, not queued without bound', async () => {
    const p = pool({ size: 1, maxQueued: 2, maxPerGroup: 100 });
    const hash = bcrypt.hashSync('pw', 8);
    const accepted = [p.compare('a', hash), p.compare('b', hash), p.compare('c', hash)]; // 1 running + 2 queued
    const t = performance.now();
    await expect(p.compare('d', hash)).rejects.toBeInstanceOf(BcryptBusyError);
    expect(performance.now() - t).toBeLessThan(50);
    expect(await Promise.all(accepted)).toEqual([false, false, false]);
    expect(await p.compare('pw', hash)).toBe(true);
  });

  it('one client (group) may have at most maxPerGroup compares queued or running', async () => {
    const p = pool({ size: 1, maxQueued: 100, maxPerGroup: 2 });
    const hash = bcrypt.hashSync('pw', 6);
    const mine = [p.compare('a', hash, '10.0.0.1'), p.compare('b', hash, '10.0.0.1')];
    await expect(p.compare('c', hash, '10.0.0.1')).rejects.toBeInstanceOf(BcryptBusyError);
    expect(await p.compare('pw', hash, '10.0.0.2')).toBe(true);
    await Promise.all(mine);
    expect(await p.compare('pw', hash, '10.0.0.1')).toBe(true);
  });

  it.runIf(process.platform === 'linux')('the worker thread runs at nice 10, the serving thread keeps its priority', async () => {
    const niceOf = (stat: string) => Number(stat.split(') ')[1]!.split(' ')[16]);
    const threads = () =>
      readdirSync('/proc/self/task').map((tid) => {
        try {
          return niceOf(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'));
        } catch {
          return NaN; // the thread ended meanwhile
        }
      });
    const before = threads().filter((n) => n === 10).length;
    const p = pool({ size: 1 });
    expect(await p.compare('pw', bcrypt.hashSync('pw', 4))).toBe(true);
    expect(threads().filter((n) => n === 10).length).toBe(before + 1);
    expect(niceOf(readFileSync('/proc/thread-self/stat', 'utf8'))).toBe(0);
  });

  it('the worker runs when Node takes eval code as an ES module (workers inherit --input-type=module)', async () => {
    await ensureBuilt();
    const code = `
      const { BcryptPool } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/server/security/bcrypt-pool.js')).href)});
      const p = new BcryptPool({ size: 1 });
      const hash = ${JSON.stringify(bcrypt.hashSync('pw', 4))};
      console.log(JSON.stringify([await p.compare('pw', hash), await p.compare('no', hash)]));
      await p.close();`;
    for (const inputType of ['module', 'commonjs']) {
      const wrapped = inputType === 'module' ? code : `(async () => { ${code} })()`;
      const { stdout } = await promisify(execFile)(process.execPath, [`--input-type=${inputType}`, '-e', wrapped], { cwd: repoRoot, timeout: 30_000 });
      expect(stdout.trim()).toBe('[true,false]');
    }
  });

  it('the front door answers a busy pool with 503 UNAVAILABLE and Retry-After', async () => {
    const authorize = createAuthorizer({ users: { verify: () => Promise.reject(new BcryptBusyError()) } });
    const d = await authorize({ method: 'GET', path: '/v2/', headers: { authorization: formatBasicAuth('u', 'p') }, remoteAddress: '127.0.0.1' });
    expect(d).toEqual({ ok: false, status: 503, code: 'UNAVAILABLE', message: 'too many logins are being checked; retry shortly', headers: { 'Retry-After': '1' } });
  });
});
