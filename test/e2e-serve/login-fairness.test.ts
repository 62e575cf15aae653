import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { addUser } from '../../src/server/security/htpasswd.js';
import { basic, startSecureServe, type SecureServe } from './harness.js';

/**
 * Failed logins must not stall logged-in clients: password checks run off the main thread and
 * a verified login is served from the cache. Attackers come from distinct loopback addresses
 * (127.0.0.2...), as they would from distinct hosts.
 */

let s: SecureServe | undefined;
let dir: string | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

function get(url: string, path: string, authorization: string, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { headers: { authorization }, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

it('a logged-in client stays fast while 40 wrong-password logins from 10 addresses are checked', async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-fair-'));
  const htpasswd = join(dir, 'htpasswd');
  await addUser(htpasswd, 'alice', 'alice-pw', { cost: 4 });
  // Cost 10: ~80 ms of CPU per compare here, ~3 s for the 40 attempts.
  await addUser(htpasswd, 'victim', 'victim-pw', { cost: 10 });
  s = await startSecureServe({ htpasswd, loginAttemptsPerMinute: 1000 });
  const alice = basic('alice', 'alice-pw');
  expect(await get(s.url, '/v2/', alice)).toBe(200); // verified once, then cached

  let attackDone = false;
  const attack = Promise.all(
    Array.from({ length: 40 }, (_, i) => get(s!.url, '/v2/', basic('victim', `guess-${i}`), `127.0.0.${2 + (i % 10)}`)),
  ).finally(() => {
    attackDone = true;
  });
  // Alice keeps asking until every attempt is answered (bounded: 200 requests).
  const latencies: number[] = [];
  while (!attackDone || latencies.length < 5) {
    const t = performance.now();
    expect(await get(s.url, '/v2/', alice)).toBe(200);
    latencies.push(performance.now() - t);
    if (latencies.length >= 200) break;
  }
  const statuses = await attack;
  // Every attempt is refused: 401 when checked, 503 + Retry-After when the check queue was full.
  expect(statuses.every((st) => st === 401 || st === 503)).toBe(true);
  expect(statuses.filter((st) => st === 401).length).toBeGreaterThanOrEqual(10);
  // Old behaviour: the first request during the attack waited for all 40 compares (seconds).
  expect(Math.max(...latencies)).toBeLessThan(1000);
});
