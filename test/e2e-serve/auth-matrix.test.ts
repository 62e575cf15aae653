import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, makeReferrer, type TestImage } from '../helpers/images.js';
import { requireTool } from '../helpers/tools.js';
import { http, type Res } from '../server/client.js';
import { basic, PASSWORDS, secretForms, startSecureServe, writeUsers, type SecureServe, type UserName } from './harness.js';

/**
 * Every registry endpoint through the real HTTP server as `regctl serve --htpasswd --access`
 * assembles it, for anonymous, a wrong password, reader, writer, deleter and admin.
 */

const run = promisify(execFile);

let dir: string;
let s: SecureServe;
const image = makeImage({ layers: [2048, 1024] });
const secret = makeImage({ layers: [512] });
const referrer = makeReferrer(image.manifest);

async function as(user: UserName | 'anonymous' | 'wrong', method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Res> {
  const auth: Record<string, string> = user === 'anonymous' ? {} : { authorization: user === 'wrong' ? basic('admin', 'not-the-password') : basic(user, PASSWORDS[user]) };
  return http(s.url, method, path, { ...(body ? { body } : {}), headers: { ...auth, ...headers } });
}

async function push(repo: string, img: TestImage, tag: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) {
    const r = await as('admin', 'POST', `/v2/${repo}/blobs/uploads/?digest=${b.desc.digest}`, b.bytes);
    expect(r.status).toBe(201);
  }
  const m = await as('admin', 'PUT', `/v2/${repo}/manifests/${tag}`, img.manifest.bytes, { 'content-type': img.manifest.mediaType });
  expect(m.status).toBe(201);
}

async function openSession(repo = 'team/app'): Promise<string> {
  const r = await as('admin', 'POST', `/v2/${repo}/blobs/uploads/`);
  expect(r.status).toBe(202);
  return r.headers.location!;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-authz-'));
  const files = await writeUsers(dir);
  // The matrix sends ~20 wrong passwords from one address: the login limiter is tested on its own below.
  s = await startSecureServe({ ...files, realm: 'test-realm', loginAttemptsPerMinute: 1000 });
  await push('team/app', image, 'v1');
  await push('team/app', referrer, referrer.manifest.digest);
  await push('secret/x', secret, 'v1');
  await push('public/p', secret, 'v1');
});

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

type Need = 'login' | 'catalog' | 'read' | 'write' | 'delete';
interface Endpoint {
  name: string;
  need: Need;
  ok: number;
  /** Build the request (set-up done as admin runs first). */
  request(): Promise<[method: string, path: string, body?: Buffer, headers?: Record<string, string>]>;
}

const L = () => image.layers[0]!.desc.digest;
const ENDPOINTS: Endpoint[] = [
  { name: 'GET /v2/', need: 'login', ok: 200, request: async () => ['GET', '/v2/'] },
  { name: 'GET _catalog', need: 'catalog', ok: 200, request: async () => ['GET', '/v2/_catalog'] },
  { name: 'GET tags/list', need: 'read', ok: 200, request: async () => ['GET', '/v2/team/app/tags/list'] },
  { name: 'GET manifest', need: 'read', ok: 200, request: async () => ['GET', '/v2/team/app/manifests/v1'] },
  { name: 'HEAD manifest', need: 'read', ok: 200, request: async () => ['HEAD', `/v2/team/app/manifests/${image.manifest.digest}`] },
  { name: 'GET blob', need: 'read', ok: 200, request: async () => ['GET', `/v2/team/app/blobs/${L()}`] },
  { name: 'HEAD blob', need: 'read', ok: 200, request: async () => ['HEAD', `/v2/team/app/blobs/${L()}`] },
  { name: 'GET referrers', need: 'read', ok: 200, request: async () => ['GET', `/v2/team/app/referrers/${image.manifest.digest}`] },
  {
    name: 'PUT manifest',
    need: 'write',
    ok: 201,
    request: async () => ['PUT', '/v2/team/app/manifests/v2', image.manifest.bytes, { 'content-type': image.manifest.mediaType }],
  },
  { name: 'POST upload', need: 'write', ok: 202, request: async () => ['POST', '/v2/team/app/blobs/uploads/'] },
  {
    name: 'POST single-request upload',
    need: 'write',
    ok: 201,
    request: async () => {
      const data = Buffer.from(`blob ${Math.random()}`);
      return ['POST', `/v2/team/app/blobs/uploads/?digest=${digestOf(data)}`, data];
    },
  },
  { name: 'POST mount', need: 'write', ok: 201, request: async () => ['POST', `/v2/team/other/blobs/uploads/?mount=${L()}&from=team/app`] },
  { name: 'GET upload', need: 'write', ok: 204, request: async () => ['GET', await openSession()] },
  { name: 'PATCH upload', need: 'write', ok: 202, request: async () => ['PATCH', await openSession(), Buffer.from('abc')] },
  {
    name: 'PUT upload',
    need: 'write',
    ok: 201,
    request: async () => {
      const data = Buffer.from(`chunk ${Math.random()}`);
      return ['PUT', `${await openSession()}?digest=${digestOf(data)}`, data];
    },
  },
  { name: 'DELETE upload', need: 'write', ok: 204, request: async () => ['DELETE', await openSession()] },
  {
    name: 'DELETE blob',
    need: 'delete',
    ok: 202,
    request: async () => {
      const data = Buffer.from(`doomed ${Math.random()}`);
      expect((await as('admin', 'POST', `/v2/team/app/blobs/uploads/?digest=${digestOf(data)}`, data)).status).toBe(201);
      return ['DELETE', `/v2/team/app/blobs/${digestOf(data)}`];
    },
  },
  {
    name: 'DELETE manifest (tag)',
    need: 'delete',
    ok: 202,
    request: async () => {
      const tag = `doomed-${Math.random().toString(36).slice(2, 8)}`;
      const r = await as('admin', 'PUT', `/v2/team/app/manifests/${tag}`, image.manifest.bytes, { 'content-type': image.manifest.mediaType });
      expect(r.status).toBe(201);
      return ['DELETE', `/v2/team/app/manifests/${tag}`];
    },
  },
];

const RIGHTS: Record<UserName, Need[]> = {
  reader: ['login', 'catalog', 'read'],
  writer: ['login', 'catalog', 'read', 'write'],
  deleter: ['login', 'catalog', 'read', 'write', 'delete'],
  admin: ['login', 'catalog', 'read', 'write', 'delete'],
};

describe('auth matrix over every endpoint (team/app)', () => {
  for (const ep of ENDPOINTS) {
    it(ep.name, async () => {
      for (const who of ['anonymous', 'wrong', 'reader', 'writer', 'deleter', 'admin'] as const) {
        const [method, path, body, headers] = await ep.request();
        const r = await as(who, method, path, body, headers);
        // With anonymous reads configured, anyone may list the catalog (filtered: see below).
        const allowed = (ep.need === 'catalog' && who === 'anonymous') || (who !== 'anonymous' && who !== 'wrong' && RIGHTS[who].includes(ep.need));
        const want = allowed ? ep.ok : who === 'anonymous' || who === 'wrong' ? 401 : 403;
        expect(r.status, `${who} ${method} ${path}: ${r.body.toString()}`).toBe(want);
        if (want === 401) {
          expect(r.headers['www-authenticate']).toBe('Basic realm="test-realm"');
          if (method !== 'HEAD') expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
        }
        if (want === 403 && method !== 'HEAD') expect(r.json().errors[0].code).toBe('DENIED');
      }
    });
  }
});

describe('repository scoping', () => {
  it('_catalog lists only readable repositories', async () => {
    const names = async (who: UserName) => (await as(who, 'GET', '/v2/_catalog')).json().repositories as string[];
    expect(await names('reader')).toEqual(['public/p', 'team/app', 'team/other']);
    expect(await names('admin')).toEqual(['public/p', 'secret/x', 'team/app', 'team/other']);
    // Paging works on the filtered list.
    const page = await as('reader', 'GET', '/v2/_catalog?n=1&last=public/p');
    expect(page.json().repositories).toEqual(['team/app']);
    expect(page.headers.link).toBe('</v2/_catalog?n=1&last=team%2Fapp>; rel="next"');
  });

  it('anonymous may read public/** only', async () => {
    expect((await as('anonymous', 'GET', '/v2/public/p/manifests/v1')).status).toBe(200);
    expect((await as('anonymous', 'GET', '/v2/secret/x/manifests/v1')).status).toBe(401);
    expect((await as('anonymous', 'GET', '/v2/_catalog')).json().repositories).toEqual(['public/p']);
    expect((await as('anonymous', 'PUT', '/v2/public/p/manifests/v2', secret.manifest.bytes, { 'content-type': secret.manifest.mediaType })).status).toBe(401);
  });

  it('mount needs read on the source: otherwise a plain upload starts (202), revealing nothing', async () => {
    const layer = secret.layers[0]!.desc.digest;
    const denied = await as('writer', 'POST', `/v2/team/app/blobs/uploads/?mount=${layer}&from=secret/x`);
    expect(denied.status).toBe(202);
    expect(denied.headers.location).toMatch(/^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f]{32}$/);
    // Without `from`: only readable repositories are searched (public/p holds the same layer).
    const any = await as('writer', 'POST', `/v2/team/app/blobs/uploads/?mount=${layer}`);
    expect(any.status).toBe(201);
    const fresh = Buffer.from(`only in secret ${Math.random()}`);
    expect((await as('admin', 'POST', `/v2/secret/x/blobs/uploads/?digest=${digestOf(fresh)}`, fresh)).status).toBe(201);
    expect((await as('writer', 'POST', `/v2/team/app/blobs/uploads/?mount=${digestOf(fresh)}`)).status).toBe(202);
    expect((await as('admin', 'POST', `/v2/team/app/blobs/uploads/?mount=${digestOf(fresh)}&from=secret/x`)).status).toBe(201);
  });

  it('dot segments and encodings never reach another repository', async () => {
    for (const path of ['/v2/team/app/../../secret/x/tags/list', '/v2/team/%2e%2e/secret/x/tags/list', '/v2/public/../secret/x/manifests/v1']) {
      const r = await rawRequest(s.url, 'GET', path, { authorization: basic('reader', PASSWORDS.reader) });
      expect([400, 403], `${path}: ${r.status}`).toContain(r.status);
      expect(r.body).not.toContain(secret.manifest.digest);
    }
    const r = await rawRequest(s.url, 'GET', '/v2/secret/x/tags/../list', { authorization: basic('reader', PASSWORDS.reader) });
    expect(r.status).toBe(404);
  });
});

describe('failed logins', () => {
  it('are limited per client address: 429 + Retry-After, even for the right password', async () => {
    const t = await mkdtemp(join(tmpdir(), 'regctl-limit-'));
    const files = await writeUsers(t);
    const limited = await startSecureServe({ ...files, loginAttemptsPerMinute: 3 });
    try {
      const auth = (p: string) => ({ headers: { authorization: basic('reader', p) } });
      for (let i = 0; i < 3; i++) expect((await http(limited.url, 'GET', '/v2/', auth('guess'))).status).toBe(401);
      const r = await http(limited.url, 'GET', '/v2/', auth(PASSWORDS.reader));
      expect(r.status).toBe(429);
      expect(r.json().errors[0].code).toBe('TOOMANYREQUESTS');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      // Anonymous reads of public repositories go on.
      expect((await http(limited.url, 'GET', '/v2/public/none/tags/list')).status).toBe(404);
    } finally {
      await limited.close();
      await rm(t, { recursive: true, force: true });
    }
  });
});

describe('clients', () => {
  it('regctl login --password-stdin, then tags and copy with the stored credentials', async () => {
    const env = { REGCTL_CONFIG_DIR: join(dir, 'regctl-config'), DOCKER_CONFIG: join(dir, 'docker-none') };
    const bad = await runCli(['login', s.registry, '-u', 'reader', '--password-stdin'], { stdin: 'wrong', env });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('rejected the username or password');
    const ok = await runCli(['login', s.registry, '-u', 'reader', '--password-stdin'], { stdin: `${PASSWORDS.reader}\n`, env });
    expect(ok.code, ok.stderr).toBe(0);
    const tags = await runCli(['tags', `${s.registry}/team/app`], { env });
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout.split('\n')).toContain('v1');
    // reader may not write: the copy fails with an auth exit code and says so in one line.
    const copy = await runCli(['copy', `${s.registry}/team/app:v1`, `${s.registry}/team/copy:v1`], { env });
    expect(copy.code).not.toBe(0);
    for (const out of [bad, ok, tags, copy]) for (const f of secretForms()) expect(out.stdout + out.stderr).not.toContain(f);
    const stored = await readFile(join(dir, 'regctl-config', 'config.json'), 'utf8').catch(() => '');
    expect(stored).toContain('reader');
  });

  it('skopeo --creds: pull as reader, push as writer, refused with a wrong password', async () => {
    const out = join(dir, 'skopeo-dir');
    const skopeo = requireTool('skopeo', 'skopeo');
    const sk = (...args: string[]) => run(skopeo, ['--insecure-policy', ...args], { maxBuffer: 16 << 20 });
    await sk('copy', '--src-tls-verify=false', '--src-creds', `reader:${PASSWORDS.reader}`, `docker://${s.registry}/team/app:v1`, `dir:${out}`);
    expect((await readFile(join(out, image.layers[0]!.desc.digest.slice(7)))).equals(image.layers[0]!.bytes)).toBe(true);
    await sk('copy', '--dest-tls-verify=false', '--dest-creds', `writer:${PASSWORDS.writer}`, `dir:${out}`, `docker://${s.registry}/team/pushed:v1`);
    const m = await as('admin', 'GET', '/v2/team/pushed/manifests/v1');
    expect(m.status).toBe(200);
    const failed = await sk('copy', '--src-tls-verify=false', '--src-creds', 'reader:nope', `docker://${s.registry}/team/app:v1`, `dir:${out}-2`).then(
      () => undefined,
      (e: { stderr: string }) => e.stderr,
    );
    expect(failed).toMatch(/unauthorized|authentication required|401/i);
  });
});

describe('access log', () => {
  it('has user, repository, action, status, bytes and duration, and never a secret', async () => {
    const rec = s.records.find((r) => r.user === 'writer' && r.method === 'PUT' && r.path === '/v2/team/app/manifests/v2');
    expect(rec).toMatchObject({ user: 'writer', repository: 'team/app', action: 'write', status: 201, bytesIn: image.manifest.bytes.length });
    expect(rec!.durationMs).toBeGreaterThanOrEqual(0);
    const pull = s.records.find((r) => r.user === 'reader' && r.method === 'GET' && r.path === `/v2/team/app/blobs/${L()}`);
    expect(pull).toMatchObject({ status: 200, action: 'read', bytesOut: image.layers[0]!.bytes.length });
    expect(s.lines.length).toBeGreaterThan(100);
    const all = s.lines.join('\n');
    for (const f of [...secretForms(), 'not-the-password', 'Basic ', 'authorization', 'Authorization']) expect(all).not.toContain(f);
  });
});

/** A request with the path sent byte for byte. */
async function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}
