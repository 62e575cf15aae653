import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { HtpasswdFile } from '../../src/server/security/htpasswd.js';
import { runCli } from '../helpers/cli.js';

/** `regctl serve user add|rm|list`: bcrypt entries, passwords from stdin or a hidden prompt, never argv. */

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-users-'));
  file = join(dir, 'htpasswd');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run the CLI with a fake terminal on stdin that types `keys` once raw mode is on. */
async function withTerminal(args: string[], keys: string[]): Promise<{ code: number; stdout: string; stderr: string; raw: boolean[] }> {
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode(on: boolean): void };
  const raw: boolean[] = [];
  stdin.isTTY = true;
  let typed = 0;
  stdin.setRawMode = (on: boolean) => {
    raw.push(on);
    if (on) setImmediate(() => stdin.write(keys[typed++] ?? '\r'));
  };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c));
  stderr.on('data', (c: Buffer) => (err += c));
  const code = await run(args, { stdout, stderr, stdin, env: { ...process.env, NO_COLOR: '' } });
  return { code, stdout: out, stderr: err, raw };
}

describe('regctl serve user', () => {
  it('add with --password-stdin writes a bcrypt entry (mode 600) that the server accepts', async () => {
    const r = await runCli(['serve', 'user', 'add', 'alice', '--htpasswd', file, '--password-stdin', '--cost', '4'], { stdin: 'alice-secret\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`added alice in ${file}\n`);
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^alice:\$2y\$04\$[./A-Za-z0-9]{53}\n$/);
    expect(text).not.toContain('alice-secret');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const users = await HtpasswdFile.open(file);
    expect(await users.verify('alice', 'alice-secret')).toBe(true);
    expect(await users.verify('alice', 'alice-secret\n')).toBe(false);
  });

  it('add on a terminal asks twice without echo (raw mode), and refuses a mismatch', async () => {
    const ok = await withTerminal(['serve', 'user', 'add', 'bob', '--htpasswd', file, '--cost', '4'], ['bob-pw\r', 'bob-pw\r']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe(`Password: \nRepeat password: \nadded bob in ${file}\n`);
    expect(ok.raw).toEqual([true, false, true, false]);
    expect(await (await HtpasswdFile.open(file)).verify('bob', 'bob-pw')).toBe(true);
    const typo = await withTerminal(['serve', 'user', 'add', 'bob', '--htpasswd', file], ['new-pw\r', 'nwe-pw\r']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('error: the passwords do not match\n');
    const backspace = await withTerminal(['serve', 'user', 'add', 'bob', '--htpasswd', file, '--cost', '4'], ['xbob-pw2\u007f\u007f2\r', 'xbob-pw2\u007f\u007f2\r']);
    expect(backspace.stderr).toContain(`changed the password of bob in ${file}`);
    expect(await (await HtpasswdFile.open(file)).verify('bob', 'xbob-p2')).toBe(true);
  });

  it('no terminal and no --password-stdin: a one-line error; a password is never taken from argv', async () => {
    const r = await runCli(['serve', 'user', 'add', 'carol', '--htpasswd', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: no terminal to ask for the password: pipe it in with --password-stdin (never on the command line)\n');
    const argv = await runCli(['serve', 'user', 'add', 'carol', 'pw', '--htpasswd', file]);
    expect(argv.code).toBe(2);
    const noFile = await runCli(['serve', 'user', 'list'], { env: { REGCTL_SERVE_HTPASSWD: '' } });
    expect(noFile.stderr).toBe('error: which users file? pass --htpasswd FILE (or set REGCTL_SERVE_HTPASSWD)\n');
    const bad = await runCli(['serve', 'user', 'add', 'bad:name', '--htpasswd', file, '--password-stdin'], { stdin: 'x' });
    expect(bad.code).toBe(2);
  });

  it('list and rm (also through REGCTL_SERVE_HTPASSWD)', async () => {
    const env = { REGCTL_SERVE_HTPASSWD: file };
    expect((await runCli(['serve', 'user', 'list'], { env })).stdout).toBe('alice\nbob\n');
    expect(JSON.parse((await runCli(['--json', 'serve', 'user', 'list'], { env })).stdout)).toEqual([
      { username: 'alice', supported: true },
      { username: 'bob', supported: true },
    ]);
    const rm1 = await runCli(['serve', 'user', 'rm', 'alice'], { env });
    expect(rm1.code).toBe(0);
    expect(rm1.stderr).toBe(`removed alice from ${file}\n`);
    const again = await runCli(['serve', 'user', 'rm', 'alice'], { env });
    expect(again.code).toBe(3);
    expect(again.stderr).toBe(`error: no user alice in ${file}\n`);
    expect((await runCli(['serve', 'user', 'list'], { env })).stdout).toBe('bob\n');
  });
});
