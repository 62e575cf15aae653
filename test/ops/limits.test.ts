import { Agent, createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { applyServerTimeouts, checkUrlLength, handleClientError, httpServerOptions, UploadSessionLimiter, uploadOwner } from '../../src/server/ops/limits.js';

describe('UploadSessionLimiter', () => {
  it('caps sessions per repository and in total, with 429 TOOMANYREQUESTS and Retry-After', () => {
    const l = new UploadSessionLimiter({ perRepository: 2, total: 3, retryAfterSeconds: 7 });
    const a1 = l.acquire('a');
    const a2 = l.acquire('a');
    expect(a1.ok && a2.ok).toBe(true);
    if (a1.ok) a1.attach('s1');
    if (a2.ok) a2.attach('s2');
    expect(l.acquire('a')).toEqual({
      ok: false,
      status: 429,
      code: 'TOOMANYREQUESTS',
      message: 'too many uploads in progress for this repository; retry later',
      headers: { 'Retry-After': '7' },
    });
    const b1 = l.acquire('b');
    expect(b1.ok).toBe(true);
    const c = l.acquire('c');
    expect(!c.ok && c.message).toBe('too many uploads in progress on this registry; retry later');
    expect(l.active()).toBe(3);
    expect(l.release('s1')).toBe(true);
    expect(l.release('s1')).toBe(false); // idempotent
    expect(l.acquire('a').ok).toBe(true);
  });

  it('a slot released before attach (creation failed, single-request upload) frees once', () => {
    const l = new UploadSessionLimiter({ perRepository: 1, total: 10 });
    const s = l.acquire('r');
    if (!s.ok) throw new Error('expected a slot');
    s.release();
    s.release();
    s.attach('late'); // ignored after release
    expect(l.active()).toBe(0);
    expect(l.active('r')).toBe(0);
    expect(l.release('late')).toBe(false);
  });

  it('expires idle sessions (upload TTL) but not ones still sending', () => {
    let now = 0;
    const l = new UploadSessionLimiter({ now: () => now });
    for (const id of ['x', 'y']) {
      const s = l.acquire('r');
      if (s.ok) s.attach(id);
    }
    now = 50_000;
    l.touch('y');
    now = 70_000;
    expect(l.expire(60_000)).toEqual(['x']);
    expect(l.active('r')).toBe(1);
  });

  it('restores sessions found after a restart, even beyond the limit', () => {
    const l = new UploadSessionLimiter({ perRepository: 1, total: 1 });
    l.restore('r', 'a');
    l.restore('r', 'b');
    l.restore('r', 'b');
    expect(l.active()).toBe(2);
    expect(l.acquire('r').ok).toBe(false);
    l.release('a');
    l.release('b');
    expect(l.acquire('r').ok).toBe(true);
  });
});

describe('UploadSessionLimiter per client', () => {
  it('caps each owner; release, expiry and failed creations give the owner its slot back', () => {
    let now = 0;
    const l = new UploadSessionLimiter({ perClient: 2, perRepository: 100, total: 100, now: () => now });
    const alice = uploadOwner('alice', '10.0.0.1');
    const a1 = l.acquire('r1', alice);
    const a2 = l.acquire('r2', alice);
    if (!a1.ok || !a2.ok) throw new Error('expected slots');
    a1.attach('s1');
    a2.attach('s2');
    const refused = l.acquire('r3', alice);
    expect(refused).toMatchObject({ ok: false, status: 429, message: 'too many uploads in progress for this client; retry later' });
    // The same address without a login, and another user from that address, are other owners.
    expect(l.acquire('r1', uploadOwner(undefined, '10.0.0.1')).ok).toBe(true);
    expect(l.acquire('r1', uploadOwner('bob', '10.0.0.1')).ok).toBe(true);
    expect(l.activeFor(alice)).toBe(2);
    expect(l.release('s1')).toBe(true);
    const a3 = l.acquire('r3', alice);
    expect(a3.ok).toBe(true);
    if (a3.ok) a3.release();
    expect(l.activeFor(alice)).toBe(1);
    now += 1000;
    expect(l.expire(500)).toContain('s2');
    expect(l.activeFor(alice)).toBe(0);
    // Sessions restored after a restart have no known owner: they count only in the totals.
    l.restore('r1', 'old', now);
    expect(l.activeFor(alice)).toBe(0);
    expect(l.active('r1')).toBe(3);
  });

  it('anonymous owners are keyed like failed logins: IPv4-mapped as IPv4, IPv6 by /64', () => {
    expect(uploadOwner(undefined, '::ffff:127.0.0.2')).toBe('address:127.0.0.2');
    expect(uploadOwner(undefined, '2001:db8:1:2:aaaa::1')).toBe(uploadOwner(undefined, '2001:db8:1:2:bbbb::9'));
    expect(uploadOwner('u', undefined)).toBe('user:u');
  });
});

describe('UploadSessionLimiter: sessions of a dead process', () => {
  it('a restored session with its own idle limit expires after it, long before the upload TTL', () => {
    let now = 1_000_000;
    const l = new UploadSessionLimiter({ now: () => now });
    l.restore('r', 'orphan', now, 10 * 60 * 1000);
    l.restore('r', 'normal', now);
    now += 11 * 60 * 1000;
    expect(l.expire(24 * 3600 * 1000)).toEqual(['orphan']);
    expect(l.active('r')).toBe(1);
  });
});

describe('HTTP limits', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server?.closeAllConnections();
    server = undefined;
  });

  async function start(limits: Parameters<typeof httpServerOptions>[0]) {
    server = createServer(httpServerOptions(limits), (req, res) => {
      const tooLong = checkUrlLength(req.url, limits);
      if (tooLong) {
        res.writeHead(tooLong.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: tooLong.code, message: tooLong.message }] }));
        return;
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
    });
    applyServerTimeouts(server, limits);
    server.on('clientError', handleClientError);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  /** Raw socket exchange: returns everything the server sent before closing. */
  function raw(port: number, send: (s: ReturnType<typeof connect>) => void): Promise<{ text: string; ms: number }> {
    return new Promise((resolve) => {
      const t = Date.now();
      const s = connect(port, '127.0.0.1');
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('close', () => resolve({ text, ms: Date.now() - t }));
      s.on('error', () => undefined);
      send(s);
    });
  }

  it('huge headers get 431 with the OCI envelope', async () => {
    const port = await start({ maxHeaderBytes: 4096 });
    const { text } = await raw(port, (s) => s.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`));
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toEqual({ errors: [{ code: 'UNSUPPORTED', message: 'request headers too large' }] });
  });

  it('a malformed request line gets 400 with the OCI envelope', async () => {
    const port = await start({});
    const { text } = await raw(port, (s) => s.write('NONSENSE\r\n\r\n'));
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"UNSUPPORTED"');
  });

  it('a keep-alive connection serving many requests does not pile up listeners', async () => {
    const port = await start({});
    let socket: Socket | undefined;
    server!.on('connection', (s) => (socket = s));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = request({ port, host: '127.0.0.1', path: '/v2/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
    }
    agent.destroy();
    expect(socket).toBeDefined();
    expect(socket!.listenerCount('close')).toBeLessThan(8);
  });

  it('long URLs get 414', async () => {
    const port = await start({ maxUrlLength: 100, maxHeaderBytes: 16384 });
    const { text } = await raw(port, (s) => s.write(`GET /v2/${'a'.repeat(200)}/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    expect(text).toMatch(/^HTTP\/1\.1 414 /);
    expect(checkUrlLength('/v2/', { maxUrlLength: 100 })).toBeUndefined();
  });

  it('a client that stops sending is cut off; a slow upload that keeps sending is not', async () => {
    const port = await start({ idleTimeoutMs: 400, headersTimeoutMs: 2000 });
    // Slow-loris: headers started, then silence.
    const loris = raw(port, (s) => s.write('POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n'));
    // Slow upload: a chunk every 150 ms for ~1.2 s, three times the idle timeout.
    const slow = raw(port, (s) => {
      s.write('PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n');
      let i = 0;
      const timer = setInterval(() => {
        s.write('x');
        if (++i === 8) clearInterval(timer);
      }, 150);
    });
    const [l, u] = await Promise.all([loris, slow]);
    expect(l.text).toBe(''); // dropped without an answer
    expect(l.ms).toBeLessThan(1500);
    expect(u.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(u.text.endsWith('\r\n\r\n8')).toBe(true);
    expect(u.ms).toBeGreaterThan(1000);
  });

  it('server options never limit a whole request', () => {
    expect(httpServerOptions()).toMatchObject({ requestTimeout: 0, maxHeaderSize: 16384, headersTimeout: 30000 });
  });
});
