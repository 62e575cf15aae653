import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, DigestMismatchError, HttpError, NetworkError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { Transport } from '../../src/transport/http.js';
import { waitFor } from '../helpers/wait.js';
import { json, scripted, type Scripted } from './scripted.js';

const USER = 'alice';
const PASSWORD = 'pw-Zq81-not-in-output';
const TOKEN_PREFIX = 'tok-7f3a-';

let servers: Scripted[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
async function serve(...args: Parameters<typeof scripted>): Promise<Scripted> {
  const s = await scripted(...args);
  servers.push(s);
  return s;
}

const fast = { baseDelayMs: 5, maxDelayMs: 20 };

/** Token server + registry: tokens are per scope; the registry accepts a token only for its scope. */
async function tokenRegistry(): Promise<{ reg: Scripted; auth: Scripted; issued: string[] }> {
  const issued: string[] = [];
  const auth = await serve((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    if (req.headers.authorization !== basic) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
    const scope = u.searchParams.getAll('scope').join(' ');
    const token = `${TOKEN_PREFIX}${issued.length}`;
    issued.push(scope);
    json(res, 200, { token, expires_in: 300 });
  });
  const reg = await serve((req, res) => {
    const m = /^\/v2\/([^/]+)\/tags\/list/.exec(req.url!);
    const scope = m ? `repository:${m[1]}:pull` : '';
    const want = issued.findIndex((s) => s === scope);
    if (!m || req.headers.authorization !== `Bearer ${TOKEN_PREFIX}${want}`) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${auth.origin}/token",service="test-registry"${m ? `,scope="${scope}"` : ''}`,
        'content-type': 'application/json',
      });
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    json(res, 200, { name: m[1], tags: ['b', 'a'] });
  });
  return { reg, auth, issued };
}

describe('bearer token flow', () => {
  it('fetches a token once per scope and reuses it', async () => {
    const { reg, issued } = await tokenRegistry();
    const log: string[] = [];
    const client = new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }), log: (l) => log.push(l), retry: fast });
    const app = client.repository(reg.registry, 'app');
    expect(await app.listTags()).toEqual(['a', 'b']);
    expect(await app.listTags()).toEqual(['a', 'b']);
    expect(await app.listTags()).toEqual(['a', 'b']);
    expect(issued).toEqual(['repository:app:pull']);
    // One 401 to learn the challenge, then the token is sent up front.
    expect(reg.seen.filter((s) => s.headers.authorization === undefined)).toHaveLength(1);
    expect(reg.seen).toHaveLength(4);
    await client.repository(reg.registry, 'other').listTags();
    expect(issued).toEqual(['repository:app:pull', 'repository:other:pull']);
    expect(client.transport.auth.tokenFetches).toBe(2);
    // The log shows that auth was sent, never what.
    expect(log.some((l) => l.includes('[Bearer ***]'))).toBe(true);
    const all = log.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(TOKEN_PREFIX);
    expect(all).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
  });

  it('wrong password is an AuthError with exit code 4 and no secret in its message', async () => {
    const { reg } = await tokenRegistry();
    const client = new RegistryClient({ credentials: async () => ({ username: USER, password: 'wrong-pw-123' }), retry: fast });
    const err = await client.repository(reg.registry, 'app').listTags().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(4);
    expect((err as Error).message).toMatch(/rejected the credentials/);
    expect((err as Error).message).not.toContain('wrong-pw-123');
  });

  it('anonymous access to a protected repository says how to log in', async () => {
    const { reg } = await tokenRegistry();
    const client = new RegistryClient({ retry: fast });
    await expect(client.repository(reg.registry, 'app').listTags()).rejects.toThrow(/anonymous access denied; run: regctl login/);
  });
});

describe('basic auth', () => {
  it('retries once with Basic after the challenge, then sends it up front', async () => {
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const reg = await serve((req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        return res.end();
      }
      json(res, 200, { repositories: ['x'] });
    });
    const client = new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }) });
    expect(await client.catalog(reg.registry)).toEqual(['x']);
    expect(await client.catalog(reg.registry)).toEqual(['x']);
    expect(reg.seen.map((s) => s.headers.authorization === basic)).toEqual([false, true, true]);
  });

  it('gives up after one retry when the password is wrong', async () => {
    const reg = await serve((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
      res.end();
    });
    const client = new RegistryClient({ credentials: async () => ({ username: USER, password: 'nope' }) });
    const err = await client.ping(reg.registry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(reg.seen).toHaveLength(2);
  });
});

describe('retries', () => {
  it('429 with Retry-After: 1 waits about a second and succeeds', async () => {
    let n = 0;
    const reg = await serve((_req, res) => {
      if (n++ === 0) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        return res.end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
      }
      json(res, 200, { repositories: ['r1'] });
    });
    const client = new RegistryClient();
    const t0 = Date.now();
    expect(await client.catalog(reg.registry)).toEqual(['r1']);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(5000);
    expect(reg.seen).toHaveLength(2);
  });

  it('an abort ends the wait for a long Retry-After at once', async () => {
    const reg = await serve((_req, res) => {
      res.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
    });
    // Abort once the client holds the 429 (it is then waiting out Retry-After), not merely once
    // the server saw the request: under load the answer may still be on its way.
    let limited = false;
    const t = new Transport({ onResponse: (r) => void (limited ||= r.status === 429) });
    const ctl = new AbortController();
    const t0 = Date.now();
    const pending = t.request({ method: 'GET', registry: reg.registry, path: '/v2/_catalog', signal: ctl.signal }).catch((e: unknown) => e);
    await waitFor(() => limited, { what: 'the 429 answer' });
    const reason = new Error('interrupted');
    ctl.abort(reason);
    expect(await pending).toBe(reason);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(reg.seen).toHaveLength(1);
  });

  it('503 then 200 is retried with backoff', async () => {
    let n = 0;
    const reg = await serve((_req, res) => {
      if (n++ < 2) {
        res.writeHead(503);
        return res.end();
      }
      json(res, 200, { repositories: ['ok'] });
    });
    expect(await new RegistryClient({ retry: fast }).catalog(reg.registry)).toEqual(['ok']);
    expect(reg.seen).toHaveLength(3);
  });

  it('stops after the retry budget with the last status', async () => {
    const reg = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"upstream down"}]}');
    });
    const err = await new RegistryClient({ retry: { ...fast, retries: 2 } }).catalog(reg.registry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(502);
    expect((err as HttpError).hasCode('UNAVAILABLE')).toBe(true);
    expect(reg.seen).toHaveLength(3);
  });

  it('a connection reset before the answer is retried', async () => {
    let n = 0;
    const reg = await serve((req, res) => {
      if (n++ === 0) {
        req.socket.destroy();
        return;
      }
      json(res, 200, { repositories: ['after-reset'] });
    });
    expect(await new RegistryClient({ retry: fast }).catalog(reg.registry)).toEqual(['after-reset']);
    expect(reg.seen).toHaveLength(2);
  });
});

describe('blob downloads', () => {
  const blob = randomBytes(256 * 1024);
  const digest = digestOf(blob);
  const desc = { mediaType: 'application/octet-stream', digest, size: blob.length };

  async function read(s: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  it('follows a redirect to another origin without the Authorization header', async () => {
    const storage = await serve((req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    });
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const reg = await serve((req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
        return res.end();
      }
      res.writeHead(307, { location: `${storage.origin}/bucket/${digest.slice(7)}?X-Amz-Signature=s3cr3t` });
      res.end();
    });
    const log: string[] = [];
    const client = new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }), log: (l) => log.push(l) });
    const got = await read(await client.repository(reg.registry, 'app').getBlob(desc));
    expect(digestOf(got)).toBe(digest);
    expect(storage.seen).toHaveLength(1);
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
    expect(log.join('\n')).not.toContain('s3cr3t');
  });

  it('resumes with Range after the connection drops mid-blob', async () => {
    const reg = await serve((req, res) => {
      const range = req.headers.range;
      if (!range) {
        res.writeHead(200, { 'content-length': blob.length, 'docker-content-digest': digest });
        res.write(blob.subarray(0, 100_000), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      res.writeHead(206, { 'content-length': blob.length - start, 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` });
      res.end(blob.subarray(start));
    });
    const got = await read(await new RegistryClient({ retry: fast }).repository(reg.registry, 'app').getBlob(desc));
    expect(got.equals(blob)).toBe(true);
    expect(reg.seen).toHaveLength(2);
    expect(reg.seen[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(reg.seen[1]!.headers.range!)![0])).toBeGreaterThan(0);
  });

  it('a manifest whose bytes do not match the requested digest is refused', async () => {
    const body = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    const reg = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'content-length': body.length });
      res.end(body);
    });
    const wrong = digestOf('something else');
    await expect(new RegistryClient().repository(reg.registry, 'app').getManifest(wrong)).rejects.toBeInstanceOf(DigestMismatchError);
  });
});

describe('errors', () => {
  it('connection refused is a one-line NetworkError naming the host', async () => {
    const s = await scripted(() => {});
    const registry = s.registry;
    await s.close();
    const err = await new RegistryClient({ retry: fast }).ping(registry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toBe(`${registry}: cannot connect to ${registry} (ECONNREFUSED)`);
  });
});
