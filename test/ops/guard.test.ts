import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAccessLog, redactUrl, type AccessLogRecord } from '../../src/server/http/access-log.js';
import { createGuard, sendOciError } from '../../src/server/http/guard.js';
import { createHealthCheck } from '../../src/server/ops/health.js';
import { applyServerTimeouts, handleClientError, httpServerOptions, UploadSessionLimiter } from '../../src/server/ops/limits.js';
import { RegistryMetrics } from '../../src/server/ops/metrics.js';
import { AccessPolicy } from '../../src/server/security/access.js';
import { createAuthorizer } from '../../src/server/security/authorize.js';
import { formatBasicAuth } from '../../src/server/security/basic-auth.js';
import { HtpasswdFile } from '../../src/server/security/htpasswd.js';
import { LoginRateLimiter } from '../../src/server/security/rate-limit.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The wiring the registry server is meant to use, around a stand-in router: guard first,
 * upload limiter around session creation, metrics and logs hooked per response.
 */
const HTPASSWD = fileURLToPath(new URL('../security/fixtures/htpasswd-bcryptjs', import.meta.url));
const D = `sha256:${'b'.repeat(64)}`;

let server: Server;
let base: string;
const logs: AccessLogRecord[] = [];
const metrics = new RegistryMetrics({ processMetrics: false, uploadsInProgress: () => uploads.active() });
const uploads = new UploadSessionLimiter({ perRepository: 2, total: 10, retryAfterSeconds: 3 });
let nextUpload = 0;

beforeAll(async () => {
  const authorize = createAuthorizer({
    users: await HtpasswdFile.open(HTPASSWD),
    access: AccessPolicy.parse(`
anonymous: ["public/**"]
rules:
  - {repositories: ["**"], users: [reader], actions: [read]}
  - {repositories: ["**"], users: [writer], actions: [read, write]}
  - {repositories: ["**"], users: [admin], actions: ["*"]}
`),
    limiter: new LoginRateLimiter({ burst: 5, refillPerMinute: 1 }),
    realm: 'regctl test',
  });
  const guard = createGuard({
    authorize,
    metrics,
    health: createHealthCheck({ checkStorage: async () => undefined }),
    limits: { maxUrlLength: 1024 },
    log: (r) => logs.push(r),
  });
  const limits = { maxUrlLength: 1024, idleTimeoutMs: 5000 };
  server = createServer(httpServerOptions(limits), async (req, res) => {
    const admitted = await guard(req, res);
    if (!admitted) return;
    const { decision } = admitted;
    const route = decision.route;
    // Stand-in router.
    if (route.kind === 'uploads' && req.method === 'POST') {
      const slot = uploads.acquire(route.repository!);
      if (!slot.ok) return sendOciError(res, slot.status, slot.code, slot.message, slot.headers);
      const id = (nextUpload++).toString(16).padStart(32, '0');
      slot.attach(id);
      res.writeHead(202, { Location: `/v2/${route.repository}/blobs/uploads/${id}` }).end();
      return;
    }
    if (route.kind === 'upload' && req.method === 'PATCH') {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        admitted.setBytesIn(n);
        res.writeHead(202).end();
      });
      return;
    }
    if (route.kind === 'catalog') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ repositories: decision.filterCatalog(['private/a', 'public/b']) }));
      return;
    }
    res.writeHead(200).end('routed');
  });
  applyServerTimeouts(server, limits);
  server.on('clientError', handleClientError);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function call(method: string, path: string, auth?: [string, string], body?: Buffer) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: auth ? { authorization: formatBasicAuth(...auth) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('guard wiring over HTTP', () => {
  it.each([
    ['anonymous', 'GET', '/v2/', undefined, 401],
    ['anonymous', 'GET', '/v2/public/x/manifests/latest', undefined, 200],
    ['anonymous', 'PUT', '/v2/public/x/manifests/latest', undefined, 401],
    ['wrong password', 'GET', '/v2/', ['reader', 'nope'], 401],
    ['reader', 'GET', '/v2/', ['reader', 'reader-pw'], 200],
    ['reader', 'GET', `/v2/private/a/blobs/${D}`, ['reader', 'reader-pw'], 200],
    ['reader', 'PUT', '/v2/private/a/manifests/v1', ['reader', 'reader-pw'], 403],
    ['writer', 'PUT', '/v2/private/a/manifests/v1', ['writer', 'writer-pw'], 200],
    ['writer', 'DELETE', `/v2/private/a/manifests/${D}`, ['writer', 'writer-pw'], 403],
    ['admin', 'DELETE', `/v2/private/a/manifests/${D}`, ['admin', 'admin-pw'], 200],
  ] as const)('%s %s %s -> %d', async (_who, method, path, auth, status) => {
    const r = await call(method, path, auth as [string, string] | undefined);
    expect(r.status).toBe(status);
    if (status === 401) {
      expect(r.headers['www-authenticate']).toBe('Basic realm="regctl test"');
      expect(JSON.parse(r.body).errors[0].code).toBe('UNAUTHORIZED');
    }
    if (status === 403) expect(JSON.parse(r.body).errors[0].code).toBe('DENIED');
    if (status === 200) expect(r.body).toBe('routed');
  });

  it('HEAD refusals carry no body', async () => {
    const r = await call('HEAD', '/v2/private/a/manifests/v1');
    expect(r.status).toBe(401);
    expect(r.body).toBe('');
  });

  it('the catalog is filtered per caller', async () => {
    expect(JSON.parse((await call('GET', '/v2/_catalog')).body)).toEqual({ repositories: ['public/b'] });
    expect(JSON.parse((await call('GET', '/v2/_catalog', ['reader', 'reader-pw'])).body)).toEqual({ repositories: ['private/a', 'public/b'] });
  });

  it('upload sessions are limited per repository with 429 and Retry-After', async () => {
    const w: [string, string] = ['writer', 'writer-pw'];
    expect((await call('POST', '/v2/up/a/blobs/uploads/', w)).status).toBe(202);
    expect((await call('POST', '/v2/up/a/blobs/uploads/', w)).status).toBe(202);
    const r = await call('POST', '/v2/up/a/blobs/uploads/', w);
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('3');
    expect(JSON.parse(r.body).errors[0].code).toBe('TOOMANYREQUESTS');
    expect((await call('POST', '/v2/up/b/blobs/uploads/', w)).status).toBe(202);
  });

  it('healthz, long URLs, and metrics', async () => {
    const h = await call('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body).status).toBe('ok');
    const long = await call('GET', `/v2/${'a/'.repeat(600)}tags/list`);
    expect(long.status).toBe(414);
    await call('PATCH', '/v2/up/a/blobs/uploads/00000000000000000000000000000000', ['writer', 'writer-pw'], Buffer.alloc(4321));
    const m = await call('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/regctl_registry_http_requests_total\{method="GET",route="base",status="401"\} [1-9]/);
    expect(m.body).toMatch(/regctl_registry_http_requests_total\{method="POST",route="uploads",status="429"\} 1/);
    expect(m.body).toContain('regctl_registry_http_request_bytes_total{method="PATCH",route="upload"} 4321');
    expect(m.body).toContain('regctl_registry_uploads_in_progress 3');
  });

  it('access logs name user, repository, action, status and bytes, and never a secret', async () => {
    await call('GET', `/v2/private/a/blobs/${D}?token=supersecret&digest=${D}`, ['reader', 'reader-pw']);
    const rec = await waitFor(() => logs.find((l) => l.path.startsWith('/v2/private/a/blobs/') && l.path.includes('?')), { what: 'the blob GET in the access log' });
    expect(rec).toMatchObject({ method: 'GET', status: 200, user: 'reader', repository: 'private/a', action: 'read', bytesOut: 6 });
    expect(rec.path).toBe(`/v2/private/a/blobs/${D}?token=redacted&digest=${D}`);
    const upload = logs.find((l) => l.method === 'PATCH')!;
    expect(upload).toMatchObject({ user: 'writer', action: 'write', bytesIn: 4321, status: 202 });
  });

  it('failed logins from one address turn into 429 with Retry-After', async () => {
    let r;
    for (let i = 0; i < 10; i++) {
      r = await call('GET', '/v2/', ['admin', `guess-${i}`]);
      if (r.status === 429) break;
    }
    expect(r!.status).toBe(429);
    expect(Number(r!.headers['retry-after'])).toBeGreaterThan(0);
    // Even the right password waits now.
    expect((await call('GET', '/v2/', ['admin', 'admin-pw'])).status).toBe(429);
  });

  it('no log line, in either format, holds a password, an Authorization value or a secret query value', async () => {
    // The previous test's last request (a 429) is logged once its response ends: polled.
    await waitFor(() => logs.filter((l) => l.status === 429 && l.path === '/v2/').length >= 2, { what: 'the login 429 answers in the access log' });
    const all = logs.map((l) => `${formatAccessLog(l, 'json')}\n${formatAccessLog(l, 'text')}`).join('\n');
    for (const secret of ['reader-pw', 'writer-pw', 'admin-pw', 'guess-', 'supersecret', 'Basic ', formatBasicAuth('reader', 'reader-pw').slice(6)]) {
      expect(all).not.toContain(secret);
    }
    expect(logs.filter((l) => l.status === 429).length).toBeGreaterThan(0);
    expect(logs.length).toBeGreaterThan(25);
  });
});

describe('redactUrl', () => {
  it.each([
    ['/v2/', '/v2/'],
    ['/v2/_catalog?n=10&last=a', '/v2/_catalog?n=10&last=a'],
    ['/v2/a/blobs/uploads/?mount=x&from=y&password=p', '/v2/a/blobs/uploads/?mount=x&from=y&password=redacted'],
    ['/x?%70assword=p', '/x?%70assword=redacted'],
    ['/x?flag', '/x?flag'],
  ])('%s', (url, want) => {
    expect(redactUrl(url)).toBe(want);
  });
});
