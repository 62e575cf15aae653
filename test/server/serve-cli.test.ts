import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { http } from './client.js';
import { ensureBuilt, spawnServe } from './spawn.js';

let home: string;
beforeAll(async () => {
  await ensureBuilt();
  home = await mkdtemp(join(tmpdir(), 'regctl-serve-cli-'));
}, 120_000);
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

function exited(child: import('node:child_process').ChildProcess): Promise<number | null> {
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

test('default root is $XDG_DATA_HOME/regctl/registry; start-up names URL, root and a push example; text access log', async () => {
  const xdg = join(home, 'xdg');
  const p = await spawnServe([], { ...process.env, XDG_DATA_HOME: xdg, HOME: home });
  try {
    const root = join(xdg, 'regctl', 'registry');
    expect((await stat(root)).isDirectory()).toBe(true);
    const lines = p.stdout().split('\n');
    expect(lines[0]).toBe(`regctl registry listening on ${p.url}`);
    expect(lines[1]).toBe(`storage: ${root}`);
    expect(lines[2]).toBe(`push: regctl copy docker.io/library/alpine:latest ${p.registry}/alpine:latest`);
    await http(p.url, 'GET', '/v2/_catalog?n=5&token=hunter2', { headers: { authorization: 'Basic c2VjcmV0OnBhc3N3b3Jk' } });
    const log = await waitFor(() => p.stdout().split('\n').find((l) => l.includes('/v2/_catalog')), { what: 'the access log line' });
    // Registry query parameters stay; anything else is redacted; headers never appear.
    expect(log).toMatch(/^\S+Z 127\.0\.0\.1 - "GET \/v2\/_catalog\?n=5&token=redacted" 200 in=0 out=\d+ [\d.]+ms$/);
    expect(p.stdout()).not.toContain('c2VjcmV0');
    expect(p.stdout()).not.toContain('hunter2');
  } finally {
    p.child.kill('SIGTERM');
    expect(await exited(p.child)).toBe(0);
  }
});

test('without XDG_DATA_HOME the root is ~/.local/share/regctl/registry; json access log', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.XDG_DATA_HOME;
  const p = await spawnServe(['--log-format', 'json'], env);
  try {
    expect(p.stdout()).toContain(`storage: ${join(home, '.local/share/regctl/registry')}\n`);
    await http(p.url, 'HEAD', '/v2/nothing/blobs/sha256:' + '0'.repeat(64));
    const line = await waitFor(() => p.stdout().split('\n').find((l) => l.startsWith('{') && l.includes('"HEAD"')), { what: 'the JSON access log line' });
    const entry = JSON.parse(line);
    expect(entry).toMatchObject({ method: 'HEAD', path: `/v2/nothing/blobs/sha256:${'0'.repeat(64)}`, status: 404, remote: '127.0.0.1' });
  } finally {
    p.child.kill('SIGINT');
    expect(await exited(p.child)).toBe(0);
  }
});

test('bad options are usage errors (exit 2, one line)', async () => {
  for (const args of [['serve', '--port', 'abc'], ['serve', '--port', '70000'], ['serve', '--log-format', 'xml'], ['serve', '--upload-ttl', 'soon']]) {
    const r = await runCli(args);
    expect(r.code, args.join(' ')).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
  }
});

test('an unusable storage root is a one-line error (exit 1), not a hang', async () => {
  const r = await runCli(['serve', '--port', '0', '--root', '/proc/regctl-cannot-exist']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe("error: cannot use storage root /proc/regctl-cannot-exist: ENOENT: no such file or directory, mkdir '/proc/regctl-cannot-exist'\n");
});

test('a port in use is a one-line error', async () => {
  const p = await spawnServe(['--root', join(home, 'r2'), '--no-log']);
  try {
    const port = p.registry.split(':')[1]!;
    const r = await runCli(['serve', '--port', port, '--root', join(home, 'r3')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: port ${port} on 127.0.0.1 is already in use (try --port)\n`);
  } finally {
    p.child.kill('SIGTERM');
    await exited(p.child);
  }
});
