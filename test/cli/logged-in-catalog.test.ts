import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { PASSWORDS, startSecureServe, writeUsers, type SecureServe } from '../e2e-serve/harness.js';

/**
 * A logged-in user sees what their credentials allow, also where anonymous users may read some
 * repositories (the registry then answers without a 401, so credentials must be sent without
 * being asked for each request): `regctl serve --htpasswd --access` with anonymous read on
 * public/**, as curl -u sees it.
 */

let dir: string;
let s: SecureServe;
let env: NodeJS.ProcessEnv;
const image = makeImage();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-logged-in-'));
  const files = await writeUsers(dir);
  s = await startSecureServe({ ...files, realm: 'test-realm' });
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  const admin = new RegistryClient({ credentials: async () => ({ username: 'admin', password: PASSWORDS.admin }) });
  for (const repo of ['public/app', 'team/app', 'secret/x']) await pushImage(admin.repository(s.registry, repo), image, 'v1');
});

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('catalog and reads as a logged-in user, with anonymous read on public/**', () => {
  it('anonymous: the public part only', async () => {
    expect(await runCli(['catalog', s.registry], { env })).toEqual({ code: 0, stdout: 'public/app\n', stderr: '' });
  });

  it('logged in as reader: public/app and team/app (what curl -u reader lists), credentials sent once the scheme is known', async () => {
    // As pasted from a browser: a scheme and a trailing slash.
    const login = await runCli(['login', `http://${s.registry}/`, '-u', 'reader', '--password-stdin'], { env, stdin: PASSWORDS.reader });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain(`Login succeeded: ${s.registry} `);
    const r = await runCli(['--verbose', 'catalog', s.registry], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('public/app\nteam/app\n');
    const lines = r.stderr.trim().split('\n');
    // One anonymous GET /v2/ learns the scheme (401 Basic); the catalog goes with Basic at once.
    expect(lines.map((l) => l.replace(/ \(\d+ ms\)/, ''))).toEqual([
      `GET http://${s.registry}/v2/ -> 401`,
      `GET http://${s.registry}/v2/_catalog?n=1000 -> 200 [Basic ***]`,
    ]);
    expect(r.stderr).not.toContain(PASSWORDS.reader);
    // Public reads carry the credentials too (no second round trip per request).
    const t = await runCli(['--verbose', 'tags', `${s.registry}/public/app`], { env });
    expect(t.stdout).toBe('v1\n');
    expect(t.stderr).toMatch(/tags\/list.* -> 200 \(\d+ ms\) \[Basic \*\*\*\]\n$/);
    expect(await runCli(['logout', `http://${s.registry}`], { env })).toEqual({ code: 0, stdout: '', stderr: `Removed credentials for ${s.registry}\n` });
    expect((await runCli(['catalog', s.registry], { env })).stdout).toBe('public/app\n');
  });
});

/**
 * A token server is what the project's registry cannot be: a minimal Bearer registry whose
 * catalog is filtered by the token, and whose token endpoint hands a wider token to a client
 * that authenticates.
 */
describe('Bearer registry with anonymous tokens', () => {
  let server: Server;
  let base: string;
  const tokenAuth: (string | undefined)[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/token') {
        tokenAuth.push(req.headers.authorization);
        const ok = req.headers.authorization === `Basic ${Buffer.from('bob:bob-Pa55').toString('base64')}`;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: ok ? 'bob-token' : 'anonymous-token', expires_in: 300 }));
        return;
      }
      const challenge = `Bearer realm="${base}/token",service="test"`;
      if (url.pathname === '/v2/') {
        res.statusCode = req.headers.authorization === 'Bearer bob-token' ? 200 : 401;
        if (res.statusCode === 401) res.setHeader('www-authenticate', challenge);
        res.end('{}');
        return;
      }
      if (url.pathname === '/v2/_catalog') {
        // Anonymous callers are served too (no 401): the public part.
        const repositories = req.headers.authorization === 'Bearer bob-token' ? ['public/app', 'team/app'] : ['public/app'];
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ repositories }));
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('with credentials: the token is requested with them and the catalog is complete', async () => {
    const reg = base.slice('http://'.length);
    const anon = new RegistryClient();
    expect(await anon.catalog(reg)).toEqual(['public/app']);
    const bob = new RegistryClient({ credentials: async (r) => (r === reg ? { username: 'bob', password: 'bob-Pa55' } : undefined) });
    expect(await bob.catalog(reg)).toEqual(['public/app', 'team/app']);
    expect(tokenAuth).toEqual([`Basic ${Buffer.from('bob:bob-Pa55').toString('base64')}`]);
  });
});
