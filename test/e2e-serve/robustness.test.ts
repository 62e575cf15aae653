import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { ensureBuilt, spawnServe, type ServeProcess } from '../server/spawn.js';
import type { AccessLogEntry } from '../../src/server/http/access-log-entry.js';
import { effectiveMaxConnections } from '../../src/server/ops/limits.js';
import { stripUserinfo } from '../../src/server/protocol/request-target.js';
import { createRegistryServer } from '../../src/server/server.js';
import { basic, PASSWORDS, startSecureServe, writeUsers } from './harness.js';
import { RawConnection, requestHead, sendChunked, type RawResponse } from './raw-http.js';

/**
 * Issue 13 item 1/2: no request can crash `regctl serve`, and an answer sent before the body
 * was read never leaves a keep-alive client writing its next request into a reset. The real
 * CLI runs as a child process, so a crash is a dead process, not a failed assertion inside it.
 */

let dir: string;
let open: ServeProcess;
let secured: ServeProcess;

const port = (p: ServeProcess) => Number(new URL(p.url).port);
const MANIFEST_LIMIT = 16 * 1024;

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'regctl-robust-'));
  open = await spawnServe(['--root', join(dir, 'open'), '--max-manifest-size', String(MANIFEST_LIMIT), '--log-format', 'json']);
  const users = await writeUsers(dir);
  secured = await spawnServe(['--root', join(dir, 'secured'), '--htpasswd', users.htpasswd, '--access', users.access]);
}, 120_000);

afterAll(async () => {
  for (const p of [open, secured]) {
    if (p && p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await new Promise((r) => p.child.once('exit', r));
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Mode = 'chunked' | 'length';

/** One request with a body, sent the way a client that does not wait for the answer sends it. */
async function exchange(conn: RawConnection, method: string, path: string, body: Buffer, mode: Mode, headers: Record<string, string> = {}): Promise<RawResponse> {
  if (mode === 'chunked') {
    conn.write(requestHead(method, path, { ...headers, 'Transfer-Encoding': 'chunked' }));
    await sendChunked(conn, body);
  } else {
    conn.write(requestHead(method, path, { ...headers, 'Content-Length': body.length }));
    conn.write(body);
  }
  return conn.response();
}

/**
 * After an answer: the process lives, the same connection either takes the next request or
 * was announced closed (`Connection: close`) and is closed, and a new connection is served.
 */
async function expectStillServing(p: ServeProcess, conn: RawConnection, res: RawResponse, expectReuse?: boolean): Promise<void> {
  // The secured registry wants a login for /v2/ too.
  const login: Record<string, string> = p === secured ? { Authorization: basic('admin', PASSWORDS.admin) } : {};
  if (res.headers.connection === 'close') {
    expect(expectReuse ?? false).toBe(false);
    await conn.closedByServer();
  } else {
    if (expectReuse === false) throw new Error(`expected Connection: close, got ${JSON.stringify(res.headers)}`);
    conn.write(requestHead('GET', '/v2/', login));
    expect((await conn.response()).status).toBe(200);
    conn.destroy();
  }
  expect(p.child.exitCode).toBe(null);
  const fresh = await RawConnection.open(port(p));
  fresh.write(requestHead('GET', '/v2/', login));
  expect((await fresh.response()).status).toBe(200);
  fresh.destroy();
}

function code(res: RawResponse): string {
  return JSON.parse(res.body.toString()).errors[0].code;
}

async function newSession(p: ServeProcess, repo: string): Promise<string> {
  const c = await RawConnection.open(port(p));
  c.write(requestHead('POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 }));
  const r = await c.response();
  c.destroy();
  expect(r.status).toBe(202);
  return r.headers.location!;
}

const SMALL = 40 * 1024; // at most the drain limit: drained, the connection stays
const LARGE = 2 * 1024 * 1024; // more: answered with Connection: close

interface Case {
  name: string;
  status: number;
  code: string;
  send(conn: RawConnection, body: Buffer, mode: Mode): Promise<RawResponse>;
  server?: () => ServeProcess;
}

const cases: Case[] = [
  {
    name: 'manifest over --max-manifest-size (413)',
    status: 413,
    code: 'SIZE_INVALID',
    send: (c, body, mode) =>
      exchange(c, 'PUT', '/v2/robust/m/manifests/v1', Buffer.concat([body, randomBytes(MANIFEST_LIMIT + 1)]), mode, {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      }),
  },
  {
    name: 'out-of-order chunk (416)',
    status: 416,
    code: 'BLOB_UPLOAD_INVALID',
    send: async (c, body, mode) => {
      const loc = await newSession(open, 'robust/chunks');
      const range = mode === 'length' ? { 'Content-Range': `100-${100 + body.length - 1}` } : { 'Content-Range': '100-199' };
      return exchange(c, 'PATCH', loc, body, mode, range);
    },
  },
  {
    name: 'unknown upload session (404)',
    status: 404,
    code: 'BLOB_UPLOAD_UNKNOWN',
    send: (c, body, mode) => exchange(c, 'PATCH', `/v2/robust/u/blobs/uploads/${'a'.repeat(32)}`, body, mode),
  },
  {
    name: 'invalid repository name (400 NAME_INVALID)',
    status: 400,
    code: 'NAME_INVALID',
    send: (c, body, mode) => exchange(c, 'PUT', '/v2/Robust/UPPER/manifests/v1', body, mode, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }),
  },
  {
    name: 'upload whose digest does not match (400, body read)',
    status: 400,
    code: 'DIGEST_INVALID',
    send: (c, body, mode) => exchange(c, 'POST', `/v2/robust/d/blobs/uploads/?digest=${digestOf(Buffer.from('other'))}`, body, mode),
  },
  {
    name: 'no credentials (401 before the body is read)',
    status: 401,
    code: 'UNAUTHORIZED',
    server: () => secured,
    send: (c, body, mode) => exchange(c, 'POST', `/v2/team/a/blobs/uploads/?digest=${digestOf(body)}`, body, mode),
  },
  {
    name: 'no push right (403 before the body is read)',
    status: 403,
    code: 'DENIED',
    server: () => secured,
    send: (c, body, mode) =>
      exchange(c, 'POST', `/v2/team/a/blobs/uploads/?digest=${digestOf(body)}`, body, mode, { Authorization: basic('reader', PASSWORDS.reader) }),
  },
];

describe('every error path, chunked and with Content-Length: answered, and the server keeps serving', () => {
  for (const c of cases) {
    for (const [mode, size] of [
      ['chunked', SMALL],
      ['chunked', LARGE],
      ['length', SMALL],
      ['length', LARGE],
    ] as Array<[Mode, number]>) {
      test(`${c.name}: ${mode}, ${size} bytes`, async () => {
        const p = c.server?.() ?? open;
        const conn = await RawConnection.open(port(p));
        const res = await c.send(conn, randomBytes(size), mode);
        expect(res.status).toBe(c.status);
        expect(code(res)).toBe(c.code);
        // A small declared body is drained (the connection stays); a large one is not worth it.
        // Bodies the handler read to the end leave the connection as it was.
        const readWhole = c.status === 400 && c.code === 'DIGEST_INVALID';
        const reuse = readWhole ? true : mode === 'length' ? size <= SMALL : undefined;
        await expectStillServing(p, conn, res, reuse);
      });
    }
  }
});

test('the access log names the refused chunked manifest once, and the server is still up', async () => {
  const conn = await RawConnection.open(port(open));
  const before = open.stdout().split('\n').filter((l) => l.includes('/v2/robust/log/manifests/v1')).length;
  const res = await exchange(conn, 'PUT', '/v2/robust/log/manifests/v1', randomBytes(LARGE), 'chunked');
  expect(res.status).toBe(413);
  await expectStillServing(open, conn, res);
  await expect.poll(() => open.stdout().split('\n').filter((l) => l.includes('/v2/robust/log/manifests/v1')).length).toBe(before + 1);
  const line = open.stdout().split('\n').filter((l) => l.includes('/v2/robust/log/manifests/v1')).at(-1)!;
  expect(JSON.parse(line)).toMatchObject({ method: 'PUT', status: 413, remote: '127.0.0.1' });
});

test('a full disk (tmpfs) answers 507 with an OCI error, uploads work again once space is back', async () => {
  const mnt = join(dir, 'tmpfs');
  await mkdir(mnt);
  // Root on this machine and in CI: a real full file system, not a simulated error.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  let p: ServeProcess | undefined;
  try {
    p = await spawnServe(['--root', join(mnt, 'root'), '--no-log']);
    const big = randomBytes(12 * 1024 * 1024);
    // One request, Content-Length.
    let conn = await RawConnection.open(port(p));
    let res = await exchange(conn, 'POST', `/v2/full/a/blobs/uploads/?digest=${digestOf(big)}`, big, 'length');
    expect(res.status).toBe(507);
    expect(JSON.parse(res.body.toString())).toEqual({ errors: [{ code: 'UNKNOWN', message: 'storage is full; try again later' }] });
    await expectStillServing(p, conn, res);
    expect(p.stderr()).toMatch(/ENOSPC/);
    // A chunked PATCH into a session.
    const loc = await newSession(p, 'full/b');
    conn = await RawConnection.open(port(p));
    res = await exchange(conn, 'PATCH', loc, big, 'chunked');
    expect(res.status).toBe(507);
    expect(code(res)).toBe('UNKNOWN');
    await expectStillServing(p, conn, res);
    // Cancel the half-written session: the space is back and a push works.
    conn = await RawConnection.open(port(p));
    conn.write(requestHead('DELETE', loc));
    expect((await conn.response()).status).toBe(204);
    const small = randomBytes(1000);
    res = await exchange(conn, 'POST', `/v2/full/a/blobs/uploads/?digest=${digestOf(small)}`, small, 'length');
    expect(res.status).toBe(201);
    conn.destroy();
    expect(p.child.exitCode).toBe(null);
  } finally {
    if (p && p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await new Promise((r) => p!.child.once('exit', r));
    }
    execFileSync('umount', [mnt]);
  }
}, 60_000);

describe('connection cap (--max-connections)', () => {
  test('one connection over the cap gets 503 + Retry-After and is closed; the others keep working; a freed slot is reused', async () => {
    const s = await startSecureServe({ maxConnections: 5 });
    const p = Number(new URL(s.url).port);
    const held: RawConnection[] = [];
    try {
      for (let i = 0; i < 5; i++) held.push(await RawConnection.open(p));
      // The server has seen all five before the sixth arrives: each answers a request.
      for (const c of held) {
        c.write(requestHead('GET', '/v2/'));
        expect((await c.response()).status).toBe(200);
      }
      const over = await RawConnection.open(p);
      over.write(requestHead('GET', '/v2/'));
      const res = await over.response();
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers.connection).toBe('close');
      expect(JSON.parse(res.body.toString())).toEqual({ errors: [{ code: 'UNAVAILABLE', message: 'too many connections; retry later' }] });
      await over.closedByServer();
      // The five are untouched.
      held[0]!.write(requestHead('GET', '/v2/'));
      expect((await held[0]!.response()).status).toBe(200);
      // Closing one frees its slot.
      held.pop()!.destroy();
      await expect
        .poll(async () => {
          const c = await RawConnection.open(p);
          c.write(requestHead('GET', '/v2/'));
          const r = await c.response().catch(() => ({ status: 0 }));
          c.destroy();
          return r.status;
        })
        .toBe(200);
    } finally {
      for (const c of held) c.destroy();
      await s.close();
    }
  });

  test('the cap is lowered to what the open-file limit leaves, with the reason', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n';
    expect(effectiveMaxConnections(1000, limits)).toEqual({ max: 448, clamped: true, fdLimit: 1024 });
    expect(effectiveMaxConnections(1000, limits.replace('1024 ', '65536'))).toEqual({ max: 1000, clamped: false, fdLimit: 65536 });
    expect(effectiveMaxConnections(1000, undefined)).toEqual({ max: 1000, clamped: false });
  });
});

describe('access log', () => {
  test('userinfo of an absolute-form request target never reaches the text or JSON log', async () => {
    for (const logFormat of ['text', 'json'] as const) {
      const s = await startSecureServe({ logFormat });
      try {
        const c = await RawConnection.open(Number(new URL(s.url).port));
        c.write(requestHead('GET', 'http://alice:s3cret-pw@127.0.0.1/v2/'));
        expect((await c.response()).status).toBe(404);
        c.destroy();
        await expect.poll(() => s.lines.length).toBe(1);
        expect(s.lines[0]).not.toMatch(/s3cret|alice/);
        expect(s.records[0]!.path).toBe('http://127.0.0.1/v2/');
        expect(s.lines[0]).toContain('http://127.0.0.1/v2/');
      } finally {
        await s.close();
      }
    }
  });

  test('the embeddable server (onRequest) strips it too', async () => {
    const entries: AccessLogEntry[] = [];
    const r = await createRegistryServer({ open: true, onRequest: (e) => entries.push(e) });
    const { port: p } = await r.listen(0, '127.0.0.1');
    try {
      const c = await RawConnection.open(p);
      c.write(requestHead('GET', 'http://bob:hunter2@127.0.0.1/v2/?x=1'));
      expect((await c.response()).status).toBe(404);
      c.destroy();
      await expect.poll(() => entries.length).toBe(1);
      expect(entries[0]!.path).toBe('http://127.0.0.1/v2/');
      expect(stripUserinfo('https://u:p@a@host:5000/v2/x')).toBe('https://host:5000/v2/x');
      expect(stripUserinfo('/v2/a@b/manifests/x')).toBe('/v2/a@b/manifests/x');
    } finally {
      await r.close();
    }
  });
});

describe('crash leftovers', () => {
  test('start-up removes temporary files and abandoned upload sessions of a dead process, with one line saying so', async () => {
    const root = join(dir, 'leftovers');
    const first = await spawnServe(['--root', root, '--no-log']);
    const post = async (repo: string) => {
      const loc = await newSession(first, repo);
      const c = await RawConnection.open(port(first));
      const data = randomBytes(1000);
      c.write(requestHead('PATCH', loc, { 'Content-Length': data.length, 'Content-Range': '0-999' }));
      c.write(data);
      expect((await c.response()).status).toBe(202);
      c.destroy();
      return loc;
    };
    const stale = await post('left/a');
    const fresh = await post('left/b');
    const foreign = await post('left/c');
    // A pushed manifest makes a repository with index.json to leave temporary files beside.
    const c = await RawConnection.open(port(first));
    const config = Buffer.from('{}');
    c.write(requestHead('POST', `/v2/left/a/blobs/uploads/?digest=${digestOf(config)}`, { 'Content-Length': config.length }));
    c.write(config);
    expect((await c.response()).status).toBe(201);
    c.destroy();
    const dead = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await dead;

    const { writeFile, utimes, readFile, readdir, stat } = await import('node:fs/promises');
    const idOf = (loc: string) => loc.split('/').at(-1)!;
    const old = new Date(Date.now() - 20 * 60 * 1000);
    const age = async (id: string) => {
      for (const f of ['data', 'info.json', '']) await utimes(join(root, '_uploads', id, f), old, old);
    };
    await age(idOf(stale));
    // Another live process (this test runner) owns the third one: left alone, however old.
    const infoPath = join(root, '_uploads', idOf(foreign), 'info.json');
    const info = JSON.parse(await readFile(infoPath, 'utf8'));
    expect(info.owner).toEqual({ pid: first.child.pid, started: expect.any(Number) });
    await writeFile(infoPath, JSON.stringify({ ...info, owner: { pid: process.pid, started: 1 } }));
    await age(idOf(foreign));
    // Temporary files of atomic writes: a dead writer's, an old-format one, one in a referrers
    // folder, and one of a live writer (kept).
    const repoDir = join(root, 'left', 'a');
    await mkdir(join(repoDir, '_referrers', 'sha256', 'ab'), { recursive: true });
    await writeFile(join(repoDir, '.index.json.4194304999-0123456789ab.tmp'), '{');
    await writeFile(join(repoDir, '.index.json.0123456789ab.tmp'), '{');
    await writeFile(join(repoDir, '_referrers', 'sha256', 'ab', '.sha256-cd.json.4194304999-0123456789ab.tmp'), '{');
    const live = `.index.json.${process.pid}-0123456789ab.tmp`;
    await writeFile(join(repoDir, live), '{');

    const second = await spawnServe(['--root', root, '--no-log']);
    try {
      await expect.poll(() => second.stderr()).toContain('start-up cleanup');
      expect(second.stderr().split('\n').filter((l) => l.includes('start-up cleanup'))).toEqual([
        'start-up cleanup: removed 3 temporary files of interrupted writes and 1 abandoned upload session (1000 bytes) left by a process that is gone',
      ]);
      expect((await readdir(repoDir)).filter((n) => n.endsWith('.tmp'))).toEqual([live]);
      expect(await readdir(join(repoDir, '_referrers', 'sha256', 'ab'))).toEqual([]);
      const status = async (loc: string) => {
        const conn = await RawConnection.open(port(second));
        conn.write(requestHead('GET', loc));
        const r = await conn.response();
        conn.destroy();
        return r.status;
      };
      expect(await status(stale)).toBe(404);
      await expect(stat(join(root, '_uploads', idOf(stale)))).rejects.toMatchObject({ code: 'ENOENT' });
      // A session idle for less than 10 minutes may still be resumed.
      expect(await status(fresh)).toBe(204);
      expect(await status(foreign)).toBe(204);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  }, 60_000);
});
