import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBasicAuth } from '../../src/server/security/basic-auth.js';
import { addUser, removeUser } from '../../src/server/security/htpasswd.js';
import { requireTool } from '../helpers/tools.js';


async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The official registry (Debian's docker-registry) accepts htpasswd files that we write. */
describe('htpasswd files written by regctl, read by docker-registry 2.8', () => {
  let dir: string;
  let proc: ChildProcess;
  let base: string;
  const htpasswd = () => join(dir, 'htpasswd');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regctl-htpasswd-interop-'));
    await addUser(htpasswd(), 'alice', 'alice pw: with colon', { cost: 5 });
    await addUser(htpasswd(), 'bob', 'bob-pw', { cost: 5 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await writeFile(
      join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log: {level: error}',
        'storage: {filesystem: {rootdirectory: ' + JSON.stringify(join(dir, 'data')) + '}}',
        `http: {addr: "127.0.0.1:${port}"}`,
        `auth: {htpasswd: {realm: interop, path: ${JSON.stringify(htpasswd())}}}`,
        '',
      ].join('\n'),
    );
    proc = spawn(requireTool('docker-registry', 'docker-registry'), ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${base}/v2/`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('docker-registry did not start');
  });

  afterAll(async () => {
    proc?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  const ping = async (auth?: [string, string]) =>
    (await fetch(`${base}/v2/`, auth ? { headers: { authorization: formatBasicAuth(...auth) } } : {})).status;

  it('accepts our users and refuses wrong passwords', async () => {
    expect(await ping()).toBe(401);
    expect(await ping(['alice', 'alice pw: with colon'])).toBe(200);
    expect(await ping(['bob', 'bob-pw'])).toBe(200);
    expect(await ping(['bob', 'alice pw: with colon'])).toBe(401);
    expect(await ping(['carol', 'x'])).toBe(401);
  });

  it('sees a removed user go (it re-reads the file)', async () => {
    await removeUser(htpasswd(), 'bob');
    // distribution reloads htpasswd when its mtime changes, checked per request.
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = await ping(['bob', 'bob-pw']);
      if (status !== 401) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    expect(await ping(['alice', 'alice pw: with colon'])).toBe(200);
  });
});
