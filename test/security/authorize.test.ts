import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../src/server/security/access.js';
import { createAuthorizer, type AuthDecision, type Authorize } from '../../src/server/security/authorize.js';
import { formatBasicAuth } from '../../src/server/security/basic-auth.js';
import { HtpasswdFile } from '../../src/server/security/htpasswd.js';
import { LoginRateLimiter } from '../../src/server/security/rate-limit.js';
import { parseRegistryRoute } from '../../src/server/security/routes.js';
import { route } from '../../src/server/protocol/router.js';

const HTPASSWD = fileURLToPath(new URL('./fixtures/htpasswd-bcryptjs', import.meta.url));
const D = `sha256:${'a'.repeat(64)}`;
const UPLOAD = '0123456789abcdef0123456789abcdef';

const POLICY = AccessPolicy.parse(
  `
anonymous: ["public/**"]
rules:
  - {repositories: ["**"], users: [reader], actions: [read]}
  - {repositories: ["**"], users: [writer], actions: [read, write]}
  - {repositories: ["**"], users: [deleter], actions: [read, delete]}
  - {repositories: ["**"], users: [admin], actions: ["*"]}
  - {repositories: ["team/**"], users: [teamonly], actions: [read, write]}
`,
  'policy.yaml',
);

type Need = 'login' | 'catalog' | 'read' | 'write' | 'delete' | 'none';
// Every route kind and method the registry serves, with the action it needs.
const ROUTES: Array<[string, string, Need]> = [
  ['GET', '/v2/', 'login'],
  ['HEAD', '/v2', 'login'],
  ['GET', '/v2/_catalog?n=10', 'catalog'],
  ['GET', '/v2/team/app/tags/list?n=5&last=a', 'read'],
  ['GET', '/v2/team/app/manifests/latest', 'read'],
  ['HEAD', `/v2/team/app/manifests/${D}`, 'read'],
  ['PUT', '/v2/team/app/manifests/v1', 'write'],
  ['DELETE', `/v2/team/app/manifests/${D}`, 'delete'],
  ['DELETE', '/v2/team/app/manifests/v1', 'delete'],
  ['GET', `/v2/team/app/blobs/${D}`, 'read'],
  ['HEAD', `/v2/team/app/blobs/${D}`, 'read'],
  ['DELETE', `/v2/team/app/blobs/${D}`, 'delete'],
  ['POST', '/v2/team/app/blobs/uploads/', 'write'],
  ['POST', `/v2/team/app/blobs/uploads/?digest=${D}`, 'write'],
  ['GET', `/v2/team/app/blobs/uploads/${UPLOAD}`, 'write'],
  ['PATCH', `/v2/team/app/blobs/uploads/${UPLOAD}`, 'write'],
  ['PUT', `/v2/team/app/blobs/uploads/${UPLOAD}?digest=${D}`, 'write'],
  ['DELETE', `/v2/team/app/blobs/uploads/${UPLOAD}`, 'write'],
  ['GET', `/v2/team/app/referrers/${D}?artifactType=x`, 'read'],
  ['GET', '/v2/team/app/whatever', 'login'],
  ['GET', '/healthz', 'none'],
  ['GET', '/metrics', 'none'],
];

const PRINCIPALS: Record<string, { header?: string; can: Need[] }> = {
  anonymous: { can: ['none', 'catalog'] },
  'wrong password': { header: formatBasicAuth('admin', 'not-the-password'), can: [] },
  'unknown user': { header: formatBasicAuth('ghost', 'ghost-pw'), can: [] },
  'malformed header': { header: 'Basic !!!!', can: [] },
  reader: { header: formatBasicAuth('reader', 'reader-pw'), can: ['none', 'login', 'catalog', 'read'] },
  writer: { header: formatBasicAuth('writer', 'writer-pw'), can: ['none', 'login', 'catalog', 'read', 'write'] },
  deleter: { header: formatBasicAuth('deleter', 'deleter-pw'), can: ['none', 'login', 'catalog', 'read', 'delete'] },
  admin: { header: formatBasicAuth('admin', 'admin-pw'), can: ['none', 'login', 'catalog', 'read', 'write', 'delete'] },
};

function expected(principal: string, need: Need): number {
  const p = PRINCIPALS[principal]!;
  if (p.can.includes(need)) return 200;
  // Bad credentials and anonymous callers are asked to log in; known users are denied.
  return principal === 'anonymous' || p.can.length === 0 ? 401 : 403;
}

const status = (d: AuthDecision) => (d.ok ? 200 : d.status);
const seenText: string[] = [];

describe('authorize: matrix over every route kind', () => {
  let authorize: Authorize;
  beforeAll(async () => {
    const users = await HtpasswdFile.open(HTPASSWD);
    authorize = createAuthorizer({ users, access: POLICY, realm: 'test realm' });
  });

  const rows = Object.keys(PRINCIPALS).flatMap((who) => ROUTES.map(([m, p, need]) => [who, m, p, need, expected(who, need)] as const));
  it.each(rows)('%s %s %s (%s) -> %d', async (who, method, path, need, want) => {
    const header = PRINCIPALS[who]!.header;
    const d = await authorize({ method, path, headers: header ? { authorization: header } : {}, remoteAddress: '127.0.0.1' });
    seenText.push(JSON.stringify(d));
    expect(status(d)).toBe(want);
    if (!d.ok) {
      expect(d.code).toBe({ 401: 'UNAUTHORIZED', 403: 'DENIED', 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' }[d.status]);
      if (d.status === 401) expect(d.headers['WWW-Authenticate']).toBe('Basic realm="test realm"');
      else expect(d.headers['WWW-Authenticate']).toBeUndefined();
    } else {
      expect(d.user).toBe(who === 'anonymous' ? undefined : who);
      if (['read', 'write', 'delete'].includes(need)) expect(d.action).toBe(need);
    }
  });

  it('no password, hash or Authorization value ever appears in a decision', () => {
    expect(seenText.length).toBe(rows.length);
    const all = seenText.join('\n');
    for (const secret of ['reader-pw', 'writer-pw', 'deleter-pw', 'admin-pw', 'not-the-password', 'ghost-pw', '$2b$']) {
      expect(all).not.toContain(secret);
    }
    for (const p of Object.values(PRINCIPALS)) if (p.header) expect(all).not.toContain(p.header.slice(6));
  });

  it('anonymous may read public repositories only, and is asked to log in elsewhere', async () => {
    const req = (method: string, path: string) => authorize({ method, path, headers: {} });
    expect(status(await req('GET', '/v2/public/x/manifests/latest'))).toBe(200);
    expect(status(await req('GET', `/v2/public/blobs/${D}`))).toBe(200);
    expect(status(await req('PUT', '/v2/public/x/manifests/latest'))).toBe(401);
    expect(status(await req('GET', '/v2/publicity/manifests/latest'))).toBe(401);
    const cat = await req('GET', '/v2/_catalog');
    expect(cat.ok && cat.filterCatalog(['a', 'public/b', 'team/c'])).toEqual(['public/b']);
  });

  it('a user named in the policy but missing from htpasswd cannot log in', async () => {
    const headers = { authorization: formatBasicAuth('teamonly', 'x') };
    // teamonly is not in the htpasswd file: authentication fails first.
    expect(status(await authorize({ method: 'GET', path: '/v2/team/a/tags/list', headers }))).toBe(401);
  });

  it('invalid names are never allowed under a policy', async () => {
    const h = { authorization: formatBasicAuth('admin', 'admin-pw') };
    for (const path of ['/v2/a%2f..%2fb/tags/list', '/v2/A/tags/list', '/v2/-a/blobs/x', '/v2/a__-b/manifests/x', '/v2/a%00/manifests/x']) {
      expect(status(await authorize({ method: 'GET', path, headers: h }))).toBe(403);
      expect(status(await authorize({ method: 'GET', path, headers: {} }))).toBe(401);
    }
  });

  it('paths are judged raw, exactly as the router routes them: dot segments never reach another repository', async () => {
    const limited = createAuthorizer({
      users: await HtpasswdFile.open(HTPASSWD),
      access: AccessPolicy.parse('anonymous: ["public/**"]\nrules: [{repositories: ["team/**"], users: [reader], actions: [read]}]'),
    });
    const reader = { authorization: formatBasicAuth('reader', 'reader-pw') };
    // [path, route kind, repository as routed, status for reader]
    const cases: Array<[string, string, string | undefined, number]> = [
      // An invalid name (the router answers NAME_INVALID), never "secret".
      ['/v2/team/x/../../secret/tags/list', 'tags', 'team/x/../../secret', 403],
      ['/v2/team/%2e%2e/secret/tags/list', 'tags', 'team/%2e%2e/secret', 403],
      ['/v2/team\\..\\secret/tags/list', 'tags', 'team\\..\\secret', 403],
      ['/v2/public/../secret/manifests/latest', 'manifest', 'public/../secret', 403],
      ['/v2/secret/../team/app/tags/list', 'tags', 'secret/../team/app', 403],
      ['/v2/./team/app/./tags/list', 'tags', './team/app/.', 403],
      // No endpoint at all (the router answers 404): a login is all that is checked.
      ['/v2/secret/tags/x/../list', 'unknown', undefined, 200],
      ['/v2/team/app/tags/list/..', 'unknown', undefined, 200],
    ];
    for (const [path, kind, repo, want] of cases) {
      const r = parseRegistryRoute(path);
      expect(r.kind).toBe(kind);
      expect(r.repository).toBe(repo);
      // The router sees the same thing.
      const routed = route(path.split('?')[0]!);
      expect(routed && 'name' in routed ? routed.name : undefined).toBe(repo);
      expect(status(await limited({ method: 'GET', path, headers: reader }))).toBe(want);
    }
    // Anonymous: public/../secret is not public, so a login is asked for.
    expect(status(await limited({ method: 'GET', path: '/v2/public/../secret/manifests/latest', headers: {} }))).toBe(401);
    expect(parseRegistryRoute('/v2/../etc/passwd').kind).toBe('unknown');
    expect(parseRegistryRoute('/v2/team/app/tags/list').repository).toBe('team/app');
  });

  describe('cross-repository mount', () => {
    const post = (user: string, path: string) =>
      authorize({ method: 'POST', path, headers: { authorization: formatBasicAuth(user, `${user}-pw`) } });

    it('mounts from a source the caller may read', async () => {
      const d = await post('writer', `/v2/team/app/blobs/uploads/?mount=${D}&from=other/src`);
      expect(d.ok && d.mount).toEqual({ digest: D, from: 'other/src' });
    });

    it('falls back to a plain upload when the source is not readable or invalid', async () => {
      const limited = createAuthorizer({
        users: await HtpasswdFile.open(HTPASSWD),
        access: AccessPolicy.parse('rules: [{repositories: ["team/**"], users: [writer], actions: [read, write]}]'),
      });
      const auth = { authorization: formatBasicAuth('writer', 'writer-pw') };
      const d = await limited({ method: 'POST', path: `/v2/team/app/blobs/uploads/?mount=${D}&from=secret/src`, headers: auth });
      expect(d.ok).toBe(true);
      expect(d.ok && d.mount).toBeUndefined();
      expect(d.ok && d.canRead('secret/src')).toBe(false);
      expect(d.ok && d.unrestricted).toBe(false);
      const ok = await limited({ method: 'POST', path: `/v2/team/app/blobs/uploads/?mount=${D}&from=team/other`, headers: auth });
      expect(ok.ok && ok.mount).toEqual({ digest: D, from: 'team/other' });
      const bad = await limited({ method: 'POST', path: `/v2/team/app/blobs/uploads/?mount=${D}&from=team/../x`, headers: auth });
      expect(bad.ok && bad.mount).toBeUndefined();
      // Without `from`, the server must pick a source the caller can read.
      const any = await limited({ method: 'POST', path: `/v2/team/app/blobs/uploads/?mount=${D}`, headers: auth });
      expect(any.ok && any.mount).toEqual({ digest: D });
      const invalid = await limited({ method: 'POST', path: '/v2/team/app/blobs/uploads/?mount=sha256:zz&from=team/x', headers: auth });
      expect(invalid.ok && invalid.mount).toBeUndefined();
    });

    it('write on the target is still required', async () => {
      const d = await post('reader', `/v2/team/app/blobs/uploads/?mount=${D}&from=other/src`);
      expect(status(d)).toBe(403);
    });
  });
});

describe('authorize: configurations', () => {
  it('without users everything is open and unrestricted', async () => {
    const authorize = createAuthorizer();
    for (const [method, path] of ROUTES) {
      const d = await authorize({ method, path, headers: { authorization: 'Basic garbage' } });
      expect(d.ok).toBe(true);
      expect(d.ok && d.user).toBeUndefined();
      expect(d.ok && d.unrestricted).toBe(true);
    }
  });

  it('users without an access file: any valid user may do anything, anonymous nothing', async () => {
    const authorize = createAuthorizer({ users: await HtpasswdFile.open(HTPASSWD) });
    const reader = { authorization: formatBasicAuth('reader', 'reader-pw') };
    for (const [method, path, need] of ROUTES) {
      expect(status(await authorize({ method, path, headers: reader }))).toBe(200);
      expect(status(await authorize({ method, path, headers: {} }))).toBe(need === 'none' ? 200 : 401);
    }
    const d = await authorize({ method: 'GET', path: '/v2/_catalog', headers: reader });
    expect(d.ok && d.unrestricted).toBe(true);
  });

  it('failed logins are limited per address: 429 with Retry-After, even for the right password', async () => {
    let now = 0;
    const limiter = new LoginRateLimiter({ burst: 3, refillPerMinute: 2, now: () => now });
    const authorize = createAuthorizer({ users: await HtpasswdFile.open(HTPASSWD), access: POLICY, limiter });
    const bad = { authorization: formatBasicAuth('admin', 'guess') };
    const good = { authorization: formatBasicAuth('admin', 'admin-pw') };
    for (let i = 0; i < 3; i++) expect(status(await authorize({ method: 'GET', path: '/v2/', headers: bad, remoteAddress: '10.0.0.1' }))).toBe(401);
    const d = await authorize({ method: 'GET', path: '/v2/', headers: good, remoteAddress: '10.0.0.1' });
    expect(d).toMatchObject({ ok: false, status: 429, code: 'TOOMANYREQUESTS', headers: { 'Retry-After': '30' } });
    // Another address, and anonymous requests from the blocked one, are unaffected.
    expect(status(await authorize({ method: 'GET', path: '/v2/', headers: good, remoteAddress: '10.0.0.2' }))).toBe(200);
    expect(status(await authorize({ method: 'GET', path: '/v2/public/x/tags/list', headers: {}, remoteAddress: '10.0.0.1' }))).toBe(200);
    now = 30_000;
    expect(status(await authorize({ method: 'GET', path: '/v2/', headers: good, remoteAddress: '10.0.0.1' }))).toBe(200);
  });
});

describe('parseRegistryRoute', () => {
  it.each([
    ['/v2/', { kind: 'base' }],
    ['/v2/_catalog?n=1&last=b', { kind: 'catalog', query: { n: '1', last: 'b' } }],
    ['/v2/a/b/c/tags/list', { kind: 'tags', repository: 'a/b/c', nameValid: true }],
    ['/v2/a/manifests/b/manifests/latest', { kind: 'manifest', repository: 'a/manifests/b', reference: 'latest' }],
    ['/v2/blobs/blobs/uploads/', { kind: 'uploads', repository: 'blobs' }],
    ['/v2/x/blobs/uploads', { kind: 'uploads', repository: 'x' }],
    [`/v2/x/blobs/uploads/${UPLOAD}`, { kind: 'upload', repository: 'x', reference: UPLOAD }],
    [`/v2/x/blobs/${D}`, { kind: 'blob', repository: 'x', reference: D }],
    [`/v2/x/referrers/${D}`, { kind: 'referrers', repository: 'x', reference: D }],
    ['/v2/a%2fb/tags/list', { kind: 'tags', repository: 'a%2fb', nameValid: false }],
    ['/v2/a/b/../c/tags/list', { kind: 'tags', repository: 'a/b/../c', nameValid: false }],
    ['/v2/x/blobs/uploads/a/..', { kind: 'unknown' }],
    ['/v2/x/manifests/', { kind: 'unknown' }],
    ['/v2/x/blobs/uploads/a/b', { kind: 'unknown' }],
    ['/v2x', { kind: 'other' }],
    ['//v2/', { kind: 'other' }], // not a /v2/ path as sent
    ['/metrics', { kind: 'other' }],
  ])('%s', (url, want) => {
    expect(parseRegistryRoute(url)).toMatchObject(want);
  });

  it('keeps the first of repeated query parameters', () => {
    expect(parseRegistryRoute('/v2/x/blobs/uploads/?mount=a&mount=b&from=c').query).toEqual({ mount: 'a', from: 'c' });
  });
});

describe('authorize: bad input never throws', () => {
  it('2000 random request targets and headers give well-formed decisions', async () => {
    const authorize = createAuthorizer({ users: await HtpasswdFile.open(HTPASSWD), access: POLICY, limiter: new LoginRateLimiter({ burst: 1e9 }) });
    const pieces = ['/v2', '/', '..', '.', '%2e', '%2f', '%00', '\\', '?', '&', '=', 'mount', 'from', 'a', 'B', '_catalog', 'tags', 'list', 'manifests', 'blobs', 'uploads', 'referrers', D, '#', ' ', 'ü', '%', '//'];
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 2000; i++) {
      const url = Array.from({ length: 1 + rnd(12) }, () => pieces[rnd(pieces.length)]).join('');
      const headers: Record<string, string> = {};
      if (rnd(2)) headers.authorization = ['Basic ', 'basic', 'Bearer x', `Basic ${Buffer.from(url).toString('base64')}`, formatBasicAuth('admin', 'admin-pw')][rnd(5)]!;
      const method = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'BREW'][rnd(7)]!;
      const d = await authorize({ method, path: url, headers, remoteAddress: '127.0.0.1' });
      if (d.ok) expect(typeof d.route.kind).toBe('string');
      else expect([401, 403, 429]).toContain(d.status);
    }
  });
});
