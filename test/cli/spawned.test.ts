import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget } from '../../src/wiring/open-location.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { dockerSaveTar, makeRealImage } from '../archive/fixtures.js';
import { BIN, ensureBuilt } from '../helpers/built-cli.js';
import { requireTool } from '../helpers/tools.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * The BUILT CLI as users run it (`node bin/regctl.js`, a child process): exit codes, one-line
 * errors without stack traces, a reader closing stdout early, no colour codes when piped.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let serve: ServeHandle;
let denied: Server;
let deniedAt: string;
let manyTags: string;
let badArchive: string;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function regctl(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A failure is reported as exactly one `error: ...` line, never a stack trace. */
function expectOneLineError(r: Ran, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  await ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'regctl-spawned-'));
  // A clean environment: no colour forced, no TTY, nothing from the developer's config.
  env = { PATH: process.env.PATH, HOME: dir, REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_PROGRESS_INTERVAL_MS: '600000' };
  serve = await startServe();
  await pushImage(createRepo('app'), makeImage({ layers: [2000] }), '1.0');
  // A registry that refuses every request: exit code 4.
  denied = createServer((_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  });
  await new Promise<void>((r) => denied.listen(0, '127.0.0.1', () => r()));
  deniedAt = `127.0.0.1:${(denied.address() as { port: number }).port}`;
  // A layout with 12,000 tags: its listing (84 KB) is more than a pipe holds (64 KiB).
  manyTags = join(dir, 'many');
  const img = makeImage({ layers: [100] });
  const opened = await openTarget(`oci:${manyTags}`);
  await pushImage(opened.target, img, 'seed');
  await opened.target.commit?.();
  const index = JSON.parse(await readFile(join(manyTags, 'index.json'), 'utf8')) as { manifests: Record<string, unknown>[] };
  const entry = index.manifests[0]!;
  index.manifests = Array.from({ length: 12_000 }, (_, i) => ({ ...entry, annotations: { 'org.opencontainers.image.ref.name': `t${String(i).padStart(5, '0')}` } }));
  await writeFile(join(manyTags, 'index.json'), JSON.stringify(index));
  badArchive = join(dir, 'bad.tar');
  await writeFile(badArchive, await dockerSaveTar(await makeRealImage(), ['app:1'], { corruptLayer: true }));
}, 120_000);

afterAll(async () => {
  await serve?.close();
  if (denied) {
    denied.closeAllConnections();
    await new Promise((r) => denied.close(r));
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The in-process client, for seeding only; the assertions are all on the spawned CLI. */
function createRepo(name: string) {
  return createRegistryClient({ env }).repository(serve.registry, name);
}

describe('spawned bin/regctl.js: exit codes', () => {
  it('0: --version, --help, tags and digest of a real registry', async () => {
    expect(await regctl(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    const help = await regctl(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: regctl \[options\] \[command\]\n/);
    expect(await regctl(['tags', `${serve.registry}/app`])).toEqual({ code: 0, stdout: '1.0\n', stderr: '' });
    const digest = await regctl(['digest', `${serve.registry}/app:1.0`]);
    expect(digest.code).toBe(0);
    expect(digest.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });

  it('2: usage errors and invalid references', async () => {
    const missing = await regctl(['tags']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("error: missing required argument 'repository'\n(run with --help for usage)\n");
    expectOneLineError(await regctl(['copy', '--jobs', '0', `${serve.registry}/app:1.0`, `${serve.registry}/b`]), 2, /--jobs/);
    expectOneLineError(await regctl(['inspect', `${serve.registry}/Bad_Upper:1.0`]), 2, /Bad_Upper|repository/);
    expectOneLineError(await regctl(['digest', `${serve.registry}/app@sha256:xyz`]), 2, /digest/);
    const unknown = await regctl(['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("error: unknown option '--bogus'\n(run with --help for usage)\n");
  });

  it('3: not found', async () => {
    expectOneLineError(await regctl(['digest', `${serve.registry}/app:nope`]), 3, /not found/);
    expectOneLineError(await regctl(['manifest', `oci:${join(dir, 'absent')}`]), 3, /not found/);
  });

  it('4: authentication refused', async () => {
    expectOneLineError(await regctl(['tags', `${deniedAt}/app`]), 4, /auth|401|denied|unauthori/i);
  });

  it('5: a corrupt layer in a docker-archive (nothing tagged)', async () => {
    expectOneLineError(await regctl(['copy', '--progress', 'none', `docker-archive:${badArchive}`, `${serve.registry}/corrupt:1`]), 5, /diff_id|digest/);
    const after = await regctl(['digest', `${serve.registry}/corrupt:1`]);
    expect(after.code).toBe(3);
  });
});

describe('spawned bin/regctl.js: pipes', () => {
  it('`regctl tags ... | head -1` (reader closes early) exits 0 without a word on stderr', async () => {
    const r = await new Promise<Ran>((resolve, reject) => {
      const child = spawn('bash', ['-c', `"${process.execPath}" "${BIN}" tags "oci:${manyTags}" | head -1; echo "status \${PIPESTATUS[0]}" >&2`], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(r).toEqual({ code: 0, stdout: 't00000\n', stderr: 'status 0\n' });
    // The full listing is really bigger than a pipe buffer (so the early close was felt).
    const full = await regctl(['tags', `oci:${manyTags}`]);
    expect(full.stdout.length).toBeGreaterThan(64 * 1024);
    expect(full.stdout.split('\n')).toHaveLength(12_001);
  });

  it('piped output carries no ANSI colour codes', async () => {
    for (const args of [['inspect', `${serve.registry}/app:1.0`], ['--help'], ['copy', '--help'], ['copy', `${serve.registry}/app:1.0`, `${serve.registry}/app2:1.0`]]) {
      const r = await regctl(args, { FORCE_COLOR: undefined });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(/\x1b\[/);
    }
  });
});

describe('spawned bin/regctl.js on a terminal (script(1) gives it a pty)', () => {
  /** Run under a pseudo-terminal; returns everything the terminal showed. */
  async function onTty(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
    const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const { stdout } = await promisify(execFile)(requireTool('script', 'bsdutils'), ['-qec', cmd, '/dev/null'], { env: { ...env, TERM: 'xterm', ...extraEnv } });
    return stdout;
  }

  it('colours inspect on a TTY, and not with NO_COLOR or --no-color', async () => {
    const ref = `${serve.registry}/app:1.0`;
    expect(await onTty(['inspect', ref])).toMatch(/\x1b\[1m/);
    const noColor = await onTty(['inspect', ref], { NO_COLOR: '1' });
    expect(noColor).toContain('Reference:');
    expect(noColor).not.toMatch(/\x1b\[[0-9;]*m/);
    const flag = await onTty(['--no-color', 'inspect', ref]);
    expect(flag).toContain('Reference:');
    expect(flag).not.toMatch(/\x1b\[[0-9;]*m/);
  });
});
