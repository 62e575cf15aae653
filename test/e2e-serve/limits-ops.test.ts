import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage } from '../helpers/images.js';
import { asNobody } from '../helpers/privileges.js';
import { waitFor } from '../helpers/wait.js';
import { http } from '../server/client.js';
import { ensureBuilt, spawnServe } from '../server/spawn.js';
import { basic, PASSWORDS, startSecureServe, writeUsers, type SecureServe, type UserName } from './harness.js';

/** POST with no body from a given loopback source address; resolves to the status. */
function postFrom(base: string, path: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method: 'POST', agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Upload limits, timeouts, health, metrics, read-only, and where settings come from. */

let s: SecureServe | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('upload session limits', () => {
  it('per repository and in total: 429 TOOMANYREQUESTS with Retry-After; finishing or cancelling frees a slot', async () => {
    s = await startSecureServe({ maxUploadsPerRepository: 2, maxUploads: 3 });
    const post = (repo: string) => http(s!.url, 'POST', `/v2/${repo}/blobs/uploads/`);
    const a1 = await post('a');
    const a2 = await post('a');
    expect([a1.status, a2.status]).toEqual([202, 202]);
    const a3 = await post('a');
    expect(a3.status).toBe(429);
    expect(a3.headers['retry-after']).toBe('10');
    expect(a3.json().errors[0]).toEqual({ code: 'TOOMANYREQUESTS', message: 'too many uploads in progress for this repository; retry later' });
    expect((await post('b')).status).toBe(202);
    const c = await post('c');
    expect(c.status).toBe(429);
    expect(c.json().errors[0].message).toBe('too many uploads in progress on this registry; retry later');
    // A single-request upload needs a slot too.
    const data = Buffer.from('one shot');
    expect((await http(s.url, 'POST', `/v2/c/blobs/uploads/?digest=${digestOf(data)}`, { body: data })).status).toBe(429);
    // Completing one and cancelling another frees two slots.
    expect((await http(s.url, 'PUT', `${a1.headers.location}?digest=${digestOf(data)}`, { body: data })).status).toBe(201);
    expect((await http(s.url, 'DELETE', a2.headers.location!)).status).toBe(204);
    expect((await post('a')).status).toBe(202);
    expect((await http(s.url, 'POST', `/v2/c/blobs/uploads/?digest=${digestOf(data)}`, { body: data })).status).toBe(201);
    // Mounting needs no session.
    expect((await http(s.url, 'POST', `/v2/d/blobs/uploads/?mount=${digestOf(data)}&from=c`)).status).toBe(201);
    const metrics = (await http(s.url, 'GET', '/metrics')).body.toString();
    expect(metrics).toMatch(/^regctl_registry_uploads_in_progress 2$/m); // a (new) and b
  });

  it('per client: a user at their cap does not lock out other users; anonymous clients are counted per address', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-perclient-'));
    try {
      const { htpasswd, access } = await writeUsers(dir);
      s = await startSecureServe({ htpasswd, access, maxUploadsPerClient: 3, maxUploadsPerRepository: 100, maxUploads: 10 });
      const post = (user: UserName, repo: string) =>
        http(s!.url, 'POST', `/v2/${repo}/blobs/uploads/`, { headers: { authorization: basic(user, PASSWORDS[user]) } });
      const mine = [await post('writer', 'team/a'), await post('writer', 'team/a'), await post('writer', 'team/b')];
      expect(mine.map((r) => r.status)).toEqual([202, 202, 202]);
      for (const repo of ['team/a', 'team/c']) {
        const over = await post('writer', repo);
        expect(over.status).toBe(429);
        expect(over.headers['retry-after']).toBe('10');
        expect(over.json().errors[0]).toEqual({ code: 'TOOMANYREQUESTS', message: 'too many uploads in progress for this client; retry later' });
      }
      // Another user pushes to the same repository as before.
      expect((await post('admin', 'team/a')).status).toBe(202);
      expect((await post('deleter', 'team/a')).status).toBe(202);
      // Ending one of writer's sessions gives writer a slot back.
      expect((await http(s.url, 'DELETE', mine[0]!.headers.location!, { headers: { authorization: basic('writer', PASSWORDS.writer) } })).status).toBe(204);
      expect((await post('writer', 'team/a')).status).toBe(202);
      await s.close();

      // Anonymous pushes (no --htpasswd): each address has its own share.
      s = await startSecureServe({ maxUploadsPerClient: 2, maxUploads: 10 });
      const fromAddress = (localAddress: string) => postFrom(s!.url, '/v2/anon/blobs/uploads/', localAddress);
      expect([await fromAddress('127.0.0.1'), await fromAddress('127.0.0.1'), await fromAddress('127.0.0.1')]).toEqual([202, 202, 429]);
      expect([await fromAddress('127.0.0.2'), await fromAddress('127.0.0.2'), await fromAddress('127.0.0.2')]).toEqual([202, 202, 429]);
      expect(await fromAddress('127.0.0.3')).toBe(202);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sessions found on disk after a restart count against the limits until they end', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-restore-'));
    try {
      const first = await startSecureServe({ maxUploadsPerRepository: 2 }, { root });
      const open = [await http(first.url, 'POST', '/v2/r/blobs/uploads/'), await http(first.url, 'POST', '/v2/r/blobs/uploads/')];
      await first.close();
      s = await startSecureServe({ maxUploadsPerRepository: 2 }, { root });
      expect((await http(s.url, 'POST', '/v2/r/blobs/uploads/')).status).toBe(429);
      expect((await http(s.url, 'DELETE', open[0]!.headers.location!)).status).toBe(204);
      expect((await http(s.url, 'POST', '/v2/r/blobs/uploads/')).status).toBe(202);
    } finally {
      await s?.close();
      s = undefined;
      await rm(root, { recursive: true, force: true });
    }
  });

  it('sessions idle past the upload TTL are purged and their slots freed', async () => {
    s = await startSecureServe({ maxUploadsPerRepository: 1, uploadTtlMs: '300ms' });
    const first = await http(s.url, 'POST', '/v2/t/blobs/uploads/');
    expect(first.status).toBe(202);
    expect((await http(s.url, 'POST', '/v2/t/blobs/uploads/')).status).toBe(429);
    // The slot frees once the idle session is purged (TTL 300 ms, then the sweep): polled, not
    // slept. A refused POST (429) opens nothing, so polling with POST changes no state.
    await waitFor(async () => (await http(s!.url, 'POST', '/v2/t/blobs/uploads/')).status === 202, { timeoutMs: 5000, intervalMs: 50, what: 'a free upload slot' });
    expect((await http(s.url, 'GET', first.headers.location!)).status).toBe(404);
  });
});

describe('connection timeouts', () => {
  it('a slow-loris client (headers trickling in) is cut off; a slow upload that keeps sending is not', async () => {
    s = await startSecureServe({ idleTimeoutMs: '600ms', headersTimeoutMs: '800ms' });
    const u = new URL(s.url);
    // Slow loris: one header byte every 300 ms never completes the headers.
    const loris = connect(Number(u.port), u.hostname);
    let lorisClosedAt = 0;
    const started = Date.now();
    const closed = new Promise<void>((r) => loris.on('close', () => ((lorisClosedAt = Date.now() - started), r())));
    loris.on('error', () => undefined);
    loris.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => loris.writable && loris.write('X-A: b\r\n'), 300);
    // A silent connection is closed by the idle timeout.
    const idle = connect(Number(u.port), u.hostname);
    idle.on('error', () => undefined);
    const idleClosed = new Promise<number>((r) => idle.on('close', () => r(Date.now() - started)));

    // A slow upload: 12 chunks 250 ms apart (3 s, longer than both timeouts), still sending.
    const session = await http(s.url, 'POST', '/v2/slow/blobs/uploads/');
    const chunks = Array.from({ length: 12 }, (_, i) => Buffer.alloc(1000, i));
    const all = Buffer.concat(chunks);
    const upload = new Promise<string>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname);
      let answer = '';
      sock.on('data', (c) => (answer += c.toString()));
      sock.on('error', reject);
      sock.on('close', () => resolve(answer));
      sock.write(
        `PUT ${session.headers.location}?digest=${digestOf(all)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${all.length}\r\n\r\n`,
      );
      let i = 0;
      const t = setInterval(() => {
        sock.write(chunks[i++]!);
        if (i === chunks.length) clearInterval(t);
      }, 250);
    });
    await closed;
    clearInterval(drip);
    expect(lorisClosedAt).toBeLessThan(2500);
    expect(await idleClosed).toBeLessThan(2000);
    const answer = await upload;
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    const back = await http(s.url, 'GET', `/v2/slow/blobs/${digestOf(all)}`);
    expect(back.body.equals(all)).toBe(true);
  }, 20_000);
});

describe('--gc-interval', () => {
  it('collects periodically inside the server: orphans go, tagged images stay', async () => {
    s = await startSecureServe({ gcIntervalMs: '250ms', gcGraceMs: '200ms' });
    const img = makeImage({ layers: [300] });
    for (const b of [img.config, ...img.layers]) await http(s.url, 'POST', `/v2/p/blobs/uploads/?digest=${b.desc.digest}`, { body: b.bytes });
    expect((await http(s.url, 'PUT', '/v2/p/manifests/v1', { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } })).status).toBe(201);
    const orphan = Buffer.from(`periodic orphan ${Math.random()}`);
    await http(s.url, 'POST', `/v2/p/blobs/uploads/?digest=${digestOf(orphan)}`, { body: orphan });
    await waitFor(async () => (await http(s!.url, 'GET', `/v2/p/blobs/${digestOf(orphan)}`)).status !== 200, { timeoutMs: 5000, intervalMs: 100, what: 'the periodic gc to remove the orphan' });
    expect((await http(s.url, 'GET', `/v2/p/blobs/${digestOf(orphan)}`)).status).toBe(404);
    for (const b of [img.config, ...img.layers]) expect(digestOf((await http(s.url, 'GET', `/v2/p/blobs/${b.desc.digest}`)).body)).toBe(b.desc.digest);
    expect((await http(s.url, 'GET', '/v2/p/manifests/v1')).body.equals(img.manifest.bytes)).toBe(true);
    expect(s.warnings).toEqual([]);
  });
});

describe('health, metrics, read-only', () => {
  it('/healthz is 200 while storage takes writes, 503 when it does not', async () => {
    s = await startSecureServe({});
    const ok = await http(s.url, 'GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'ok', checks: { storage: { ok: true } } });
    await chmod(s.root, 0o555);
    try {
      // As nobody when root (root writes anywhere); polled until the health cache (1 s) expires.
      const unhealthy = async () => {
        const r = await http(s!.url, 'GET', '/healthz');
        return r.status === 503 ? r : undefined;
      };
      const bad = await asNobody(() => waitFor(unhealthy, { timeoutMs: 5000, intervalMs: 100, what: '/healthz to answer 503' }));
      expect(bad.status).toBe(503);
      expect(bad.json()).toMatchObject({ status: 'fail', checks: { storage: { ok: false, error: 'storage not writable (EACCES)' } } });
      expect(bad.body.toString()).not.toContain(s.root);
    } finally {
      await chmod(s.root, 0o700);
    }
  });

  it('/metrics: requests by method/route/status, bytes, uploads, storage size and blob count', async () => {
    s = await startSecureServe({});
    const img = makeImage({ layers: [5000] });
    for (const b of [img.config, ...img.layers]) await http(s.url, 'POST', `/v2/m/blobs/uploads/?digest=${b.desc.digest}`, { body: b.bytes });
    await http(s.url, 'PUT', '/v2/m/manifests/v1', { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } });
    await http(s.url, 'GET', `/v2/m/blobs/${img.layers[0]!.desc.digest}`);
    await http(s.url, 'GET', '/v2/m/manifests/nope');
    const text = (await http(s.url, 'GET', '/metrics')).body.toString();
    expect(text).toMatch(/^regctl_registry_http_requests_total\{method="PUT",route="manifest",status="201"\} 1$/m);
    expect(text).toMatch(/^regctl_registry_http_requests_total\{method="GET",route="manifest",status="404"\} 1$/m);
    expect(text).toMatch(/^regctl_registry_http_requests_total\{method="POST",route="uploads",status="201"\} 2$/m);
    expect(text).toMatch(/^regctl_registry_http_response_bytes_total\{method="GET",route="blob"\} 5000$/m);
    const stored = 5000 + img.config.bytes.length + img.manifest.bytes.length;
    expect(text).toMatch(new RegExp(`^regctl_registry_http_request_bytes_total\\{method="POST",route="uploads"\\} ${5000 + img.config.bytes.length}$`, 'm'));
    expect(text).toMatch(new RegExp(`^regctl_registry_storage_bytes ${stored}$`, 'm'));
    expect(text).toMatch(/^regctl_registry_storage_blobs 3$/m);
    expect(text).toMatch(/^regctl_registry_uploads_in_progress 0$/m);
    expect(text).not.toContain('m/manifests'); // no repository names in labels
  });

  it('--read-only refuses writes with UNSUPPORTED and still serves reads', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-ro-'));
    try {
      const rw = await startSecureServe({}, { root });
      const data = Buffer.from('kept');
      await http(rw.url, 'POST', `/v2/r/blobs/uploads/?digest=${digestOf(data)}`, { body: data });
      await rw.close();
      s = await startSecureServe({ readOnly: true }, { root });
      expect((await http(s.url, 'GET', `/v2/r/blobs/${digestOf(data)}`)).body.toString()).toBe('kept');
      const put = await http(s.url, 'POST', '/v2/r/blobs/uploads/');
      expect(put.status).toBe(405);
      expect(put.json().errors[0]).toEqual({ code: 'UNSUPPORTED', message: 'this registry is read-only' });
      expect((await http(s.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await s?.close();
      s = undefined;
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('settings: flags > REGCTL_SERVE_* > --config file (spawned regctl serve)', () => {
  let dir: string;
  beforeAll(async () => {
    await ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'regctl-settings-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the file sets, the environment overrides the file, a flag overrides both', async () => {
    const config = join(dir, 'serve.yaml');
    await writeFile(config, `root: ./data\nlog-format: json\nmax-manifest-size: 100\nrealm: from-file\nread-only: false\n`);
    const env = { ...process.env, HOME: dir, REGCTL_SERVE_CONFIG: config, REGCTL_SERVE_MAX_MANIFEST_SIZE: '200' };
    const p = await spawnServe(['--max-manifest-size', '300'], env);
    try {
      expect(p.stdout()).toContain(`storage: ${join(dir, 'data')}`);
      const put = (n: number) => http(p.url, 'PUT', '/v2/x/manifests/t', { body: Buffer.alloc(n, 0x20), headers: { 'content-type': 'application/json' } });
      expect((await put(301)).status).toBe(413);
      expect((await put(250)).status).toBe(400); // within the flag's limit: parsed (and refused as not JSON)
      const line = await waitFor(() => p.stdout().split('\n').find((l) => l.startsWith('{') && l.includes('"PUT"')), { what: 'the PUT access log line' });
      expect(JSON.parse(line)).toMatchObject({ method: 'PUT', path: '/v2/x/manifests/t', status: 413, repository: 'x', action: 'write' });
    } finally {
      p.child.kill('SIGTERM');
    }
    const envOnly = await spawnServe([], env);
    try {
      expect((await http(envOnly.url, 'PUT', '/v2/x/manifests/t', { body: Buffer.alloc(250, 0x20), headers: { 'content-type': 'application/json' } })).status).toBe(413);
    } finally {
      envOnly.child.kill('SIGTERM');
    }
  }, 30_000);

  it('--max-tags-per-repository and REGCTL_SERVE_MAX_TAGS_PER_REPOSITORY cap the tags of a repository (400 DENIED)', async () => {
    const img = makeImage({ layers: [64] });
    const tagUpTo = async (url: string, n: number) => {
      for (const b of [img.config, ...img.layers]) {
        expect((await http(url, 'POST', `/v2/cap/blobs/uploads/?digest=${b.desc.digest}`, { body: b.bytes })).status).toBe(201);
      }
      const statuses: number[] = [];
      for (let i = 1; i <= n; i++) {
        statuses.push((await http(url, 'PUT', `/v2/cap/manifests/t${i}`, { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } })).status);
      }
      return statuses;
    };
    const env = { ...process.env, HOME: dir, REGCTL_SERVE_MAX_TAGS_PER_REPOSITORY: '3' };
    const flag = await spawnServe(['--root', join(dir, 'tags-flag'), '--max-tags-per-repository', '2'], env);
    try {
      expect(await tagUpTo(flag.url, 3)).toEqual([201, 201, 400]);
    } finally {
      flag.child.kill('SIGTERM');
    }
    const fromEnv = await spawnServe(['--root', join(dir, 'tags-env')], env);
    try {
      expect(await tagUpTo(fromEnv.url, 4)).toEqual([201, 201, 201, 400]);
    } finally {
      fromEnv.child.kill('SIGTERM');
    }
  }, 30_000);

  it('--htpasswd, --access, --realm, --no-metrics and --max-uploads-per-client through the command line', async () => {
    const { writeUsers, basic, PASSWORDS } = await import('./harness.js');
    const files = await writeUsers(dir);
    const p = await spawnServe(['--root', join(dir, 'auth-root'), '--htpasswd', files.htpasswd, '--access', files.access, '--realm', 'cli realm', '--no-metrics', '--log-format', 'json', '--max-uploads-per-client', '1'], {
      ...process.env,
      HOME: dir,
      REGCTL_SERVE_CONFIG: '',
    });
    try {
      expect(p.stdout()).toContain(`login: regctl login ${p.registry} -u USER --password-stdin`);
      const anon = await http(p.url, 'GET', '/v2/team/x/tags/list');
      expect(anon.status).toBe(401);
      expect(anon.headers['www-authenticate']).toBe('Basic realm="cli realm"');
      const reader = await http(p.url, 'POST', '/v2/team/x/blobs/uploads/', { headers: { authorization: basic('reader', PASSWORDS.reader) } });
      expect(reader.status).toBe(403);
      const writer = await http(p.url, 'POST', '/v2/team/x/blobs/uploads/', { headers: { authorization: basic('writer', PASSWORDS.writer) } });
      expect(writer.status).toBe(202);
      const again = await http(p.url, 'POST', '/v2/team/y/blobs/uploads/', { headers: { authorization: basic('writer', PASSWORDS.writer) } });
      expect(again.status).toBe(429);
      expect(again.json().errors[0].message).toBe('too many uploads in progress for this client; retry later');
      expect((await http(p.url, 'GET', '/metrics')).status).toBe(404);
      const records = await waitFor(() => {
        const all = p.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
        return all.some((r) => r.user === 'writer' && r.status === 202) ? all : undefined;
      }, { what: "the writer's access log line" });
      expect(records.find((r) => r.user === 'writer')).toMatchObject({ method: 'POST', status: 202, repository: 'team/x', action: 'write' });
      expect(p.stdout()).not.toContain(PASSWORDS.writer);
    } finally {
      p.child.kill('SIGTERM');
    }
  }, 30_000);

  it('bad settings are one-line usage errors naming where they came from', async () => {
    const { runCli } = await import('../helpers/cli.js');
    const r = await runCli(['serve', '--port', '0', '--gc-interval', 'soon'], { env: { HOME: dir } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: invalid --gc-interval "soon": expected a duration like 30s, 5m, 1h\n');
    const e = await runCli(['serve', '--port', '0'], { env: { HOME: dir, REGCTL_SERVE_IDLE_TIMEOUT: 'x' } });
    expect(e.stderr).toBe('error: invalid REGCTL_SERVE_IDLE_TIMEOUT "x": expected a duration like 30s, 5m, 1h\n');
    const t = await runCli(['serve', '--port', '0', '--tls-cert', join(dir, 'c.pem')], { env: { HOME: dir } });
    expect(t.stderr).toBe('error: --tls-cert needs --tls-key\n');
  });
});
