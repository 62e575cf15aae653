import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  addUser,
  HtpasswdError,
  HtpasswdFile,
  listUsers,
  parseHtpasswd,
  removeUser,
} from '../../src/server/security/htpasswd.js';
import { requireTool } from '../helpers/tools.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-htpasswd-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseHtpasswd', () => {
  it('reads bcrypt entries, comments and blank lines, CRLF', () => {
    const h = bcrypt.hashSync('x', 4);
    const users = parseHtpasswd(`# users\r\n\r\nalice:${h}\r\nbob:${h.replace('$2b$', '$2y$')}\nc:${h.replace('$2b$', '$2a$')}\n`);
    expect([...users.keys()]).toEqual(['alice', 'bob', 'c']);
  });

  it.each([
    ['apr1 (MD5)', 'carol:$apr1$vBTKZU/5$vRmwDB27iwcsG7oXfYHZa.'],
    ['SHA-1', 'dave:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI='],
    ['DES crypt', 'eve:adLFGCm9OYOpY'],
    ['SHA-512-crypt', 'f:$6$6jQbIOyXaDiXl1Yv$8dY6fgEYl14Kurq2eaxnSQCSLnbHWkROadpazChuIa6bH0peG4APuAlCQJgOfOgKaP0O8hDYW8qDcEpJP2gle/'],
    ['unknown or plain-text', 'g:hunter2'],
    ['malformed bcrypt', 'h:$2y$05$short'],
  ])('rejects %s with one line naming file, line and user but not the hash', (scheme, line) => {
    const text = `ok:${bcrypt.hashSync('x', 4)}\n${line}\n`;
    let err: unknown;
    try {
      parseHtpasswd(text, '/etc/regctl/htpasswd');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HtpasswdError);
    const msg = (err as Error).message;
    expect(msg).toContain(`/etc/regctl/htpasswd line 2: user "${line.split(':')[0]}" has a ${scheme} hash`);
    expect(msg).toContain('htpasswd -B');
    expect(msg).not.toContain(line.slice(line.indexOf(':') + 1));
    expect(msg).not.toContain('\n');
  });

  it('rejects duplicates and lines without a colon', () => {
    const h = bcrypt.hashSync('x', 4);
    expect(() => parseHtpasswd(`a:${h}\na:${h}\n`, 'f')).toThrow('f line 2: user "a" appears twice');
    expect(() => parseHtpasswd('justaname\n', 'f')).toThrow('f line 1: expected USER:HASH');
  });
});

describe('HtpasswdFile', () => {
  it('verifies entries written by bcryptjs ($2b$)', async () => {
    const f = await HtpasswdFile.open(join(FIXTURES, 'htpasswd-bcryptjs'));
    expect(f.usernames()).toEqual(['admin', 'deleter', 'reader', 'writer']);
    expect(await f.verify('reader', 'reader-pw')).toBe(true);
    expect(await f.verify('reader', 'writer-pw')).toBe(false);
    expect(await f.verify('nobody', 'reader-pw')).toBe(false);
  });

  it('verifies a committed file written by Debian htpasswd -B ($2y$, costs 4 and 5)', async () => {
    const f = await HtpasswdFile.open(join(FIXTURES, 'htpasswd-apache'));
    expect(await f.verify('alice', 'alice-pw')).toBe(true);
    expect(await f.verify('bob', 'p@ss:w0rd with spaces')).toBe(true);
    expect(await f.verify('carol', 'ünïcødé')).toBe(true);
    expect(await f.verify('alice', 'alice-PW')).toBe(false);
  });

  it('verifies entries made by htpasswd -B now, and htpasswd verifies ours', async () => {
    const htpasswd = requireTool('htpasswd', 'apache2-utils');
    const path = join(dir, 'users');
    execFileSync(htpasswd, ['-cbB', '-C', '4', path, 'live', 's3cr3t!'], { stdio: 'ignore' });
    const f = await HtpasswdFile.open(path, { checkIntervalMs: 0 });
    expect(await f.verify('live', 's3cr3t!')).toBe(true);
    expect(await f.verify('live', 's3cr3t')).toBe(false);
    await addUser(path, 'ours', 'our-pw', { cost: 4 });
    // htpasswd -v exits 0 only when the password matches.
    execFileSync(htpasswd, ['-vb', path, 'ours', 'our-pw'], { stdio: 'ignore' });
    expect(() => execFileSync(htpasswd, ['-vb', path, 'ours', 'wrong'], { stdio: 'ignore' })).toThrow();
  });

  it('a password longer than 72 bytes never matches the hash of its prefix', async () => {
    const path = join(dir, 'users');
    const long = 'a'.repeat(72);
    await writeFile(path, `u:${bcrypt.hashSync(long, 4)}\n`);
    const f = await HtpasswdFile.open(path);
    expect(await f.verify('u', long)).toBe(true);
    expect(await f.verify('u', `${long}extra`)).toBe(false);
  });

  it('reloads when the file changes and keeps the old users if the new file is bad', async () => {
    const path = join(dir, 'users');
    await addUser(path, 'one', 'pw1', { cost: 4 });
    const errors: string[] = [];
    const f = await HtpasswdFile.open(path, { checkIntervalMs: 0, onReloadError: (e) => errors.push(e.message) });
    expect(await f.verify('one', 'pw1')).toBe(true);
    await addUser(path, 'two', 'pw2', { cost: 4 });
    expect(await f.verify('two', 'pw2')).toBe(true);
    await removeUser(path, 'one');
    expect(await f.verify('one', 'pw1')).toBe(false);
    await writeFile(path, 'two:$apr1$vBTKZU/5$vRmwDB27iwcsG7oXfYHZa.\n');
    expect(await f.verify('two', 'pw2')).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('apr1');
  });

  it('checks the file at most every checkIntervalMs', async () => {
    const path = join(dir, 'users');
    await addUser(path, 'one', 'pw1', { cost: 4 });
    let now = 1_000_000;
    const f = await HtpasswdFile.open(path, { checkIntervalMs: 1000, now: () => now });
    await addUser(path, 'two', 'pw2', { cost: 4 });
    expect(await f.verify('two', 'pw2')).toBe(false);
    now += 1001;
    expect(await f.verify('two', 'pw2')).toBe(true);
  });

  it('caches successes only, and a password change invalidates them', async () => {
    const path = join(dir, 'users');
    await addUser(path, 'u', 'old', { cost: 4 });
    const f = await HtpasswdFile.open(path, { checkIntervalMs: 0 });
    expect(await f.verify('u', 'old')).toBe(true);
    expect(await f.verify('u', 'old')).toBe(true);
    await addUser(path, 'u', 'new', { cost: 4 });
    const s = await stat(path);
    await utimes(path, s.atime, new Date(s.mtimeMs + 5000));
    expect(await f.verify('u', 'old')).toBe(false);
    expect(await f.verify('u', 'new')).toBe(true);
  });

  it('concurrent verifications of the same credentials share one bcrypt compare', async () => {
    const path = join(dir, 'users');
    await writeFile(path, `u:${bcrypt.hashSync('pw', 9)}\n`);
    const f = await HtpasswdFile.open(path);
    const t0 = performance.now();
    await f.verify('u', 'pw');
    const one = performance.now() - t0;
    const f2 = await HtpasswdFile.open(path);
    const t1 = performance.now();
    const results = await Promise.all(Array.from({ length: 8 }, () => f2.verify('u', 'pw')));
    const eight = performance.now() - t1;
    expect(results).toEqual(Array(8).fill(true));
    expect(eight).toBeLessThan(one * 3);
    expect(await Promise.all([f2.verify('u', 'no'), f2.verify('u', 'pw')])).toEqual([false, true]);
  });

  it('unknown users cost a bcrypt compare too (no fast path revealing who exists)', async () => {
    const path = join(dir, 'users');
    await writeFile(path, `u:${bcrypt.hashSync('pw', 8)}\n`);
    const f = await HtpasswdFile.open(path, { cacheTtlMs: 0 });
    await f.verify('nobody', 'x'); // warm the dummy hash
    const time = async (user: string) => {
      const t = performance.now();
      await f.verify(user, 'wrong');
      return performance.now() - t;
    };
    const known = await time('u');
    const unknown = await time('nobody');
    expect(unknown).toBeGreaterThan(known / 4);
  });

  it('an unknown user takes as long as the highest-cost user (no enumeration by bcrypt cost)', async () => {
    // Two cost-4 users and one cost-9 user: the most common cost is 4, the highest 9.
    const path = join(dir, 'users');
    await writeFile(path, [`a:${bcrypt.hashSync('pa', 4)}`, `b:${bcrypt.hashSync('pb', 4)}`, `admin:${bcrypt.hashSync('pc', 9)}`, ''].join('\n'));
    const f = await HtpasswdFile.open(path, { cacheTtlMs: 0 });
    const time = async (user: string) => {
      const t = performance.now();
      expect(await f.verify(user, 'wrong')).toBe(false);
      return performance.now() - t;
    };
    await time('nobody'); // warm up the worker and the JIT
    // Interleaved, so a change in machine load hits both alike; medians of 9.
    const admin: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 9; i++) {
      admin.push(await time('admin'));
      unknown.push(await time('nobody'));
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[4]!;
    const ratio = median(unknown) / median(admin);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it('missing file is a not-found error naming the path', async () => {
    await expect(HtpasswdFile.open(join(dir, 'nope'))).rejects.toThrow(`htpasswd file ${join(dir, 'nope')} does not exist`);
  });
});

describe('addUser / removeUser / listUsers', () => {
  it('creates the file with mode 0600, replaces and removes users, keeps foreign lines', async () => {
    const path = join(dir, 'users');
    await writeFile(path, '# keep me\nlegacy:$apr1$vBTKZU/5$vRmwDB27iwcsG7oXfYHZa.\n');
    await chmod(path, 0o644);
    expect(await addUser(path, 'alice', 'a-pw', { cost: 4 })).toBe('added');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await addUser(path, 'bob', 'b-pw', { cost: 4 })).toBe('added');
    expect(await addUser(path, 'alice', 'a-pw2', { cost: 4 })).toBe('updated');
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')[0]).toBe('# keep me');
    expect(text).toMatch(/^alice:\$2y\$04\$/m);
    expect(text).not.toContain('a-pw');
    expect(await listUsers(path)).toEqual([
      { username: 'alice', supported: true },
      { username: 'bob', supported: true },
      { username: 'legacy', supported: false },
    ]);
    expect(await removeUser(path, 'bob')).toBe(true);
    expect(await removeUser(path, 'bob')).toBe(false);
    expect((await listUsers(path)).map((u) => u.username)).toEqual(['alice', 'legacy']);
    expect(bcrypt.compareSync('a-pw2', /^alice:(.*)$/m.exec(await readFile(path, 'utf8'))![1]!)).toBe(true);
  });

  it('concurrent adds lose nothing (lock file)', async () => {
    const path = join(dir, 'users');
    await Promise.all(Array.from({ length: 8 }, (_, i) => addUser(path, `u${i}`, `pw${i}`, { cost: 4 })));
    expect((await listUsers(path)).map((u) => u.username)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7']);
  });

  it('list of a missing file is empty', async () => {
    expect(await listUsers(join(dir, 'none'))).toEqual([]);
  });

  it.each([
    ['', 'pw', 'user name is empty'],
    ['a:b', 'pw', 'user name may not contain'],
    ['a b', 'pw', 'user name may not contain'],
    ['#x', 'pw', 'may not start with "#"'],
    ['ok', '', 'password is empty'],
    ['ok', 'x'.repeat(73), 'longer than 72 bytes'],
    ['ok', 'ü'.repeat(37), 'longer than 72 bytes'],
    ['ok', 'line\nbreak', 'may not contain NUL or line breaks'],
  ])('refuses user %j with a message that never echoes the password', async (user, pw, msg) => {
    const path = join(dir, 'users');
    const err = await addUser(path, user, pw, { cost: 4 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(msg);
    if (pw.length > 3) expect((err as Error).message).not.toContain(pw);
    if (user.length > 1) expect((err as Error).message).not.toContain(user);
  });

  it('copies of the fixture stay usable after an edit by us', async () => {
    const path = join(dir, 'users');
    await copyFile(join(FIXTURES, 'htpasswd-apache'), path);
    await addUser(path, 'dan', 'dan-pw', { cost: 4 });
    const f = await HtpasswdFile.open(path);
    expect(await f.verify('alice', 'alice-pw')).toBe(true);
    expect(await f.verify('dan', 'dan-pw')).toBe(true);
  });
});
