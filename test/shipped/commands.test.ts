import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startInstalledServe, writeLayout, type RunningServe } from './fixtures.js';
import { installedFiles, shipped, type Runtime, type Shipped } from './install.js';
import { runShipped, screenText, shellQuote, type Ran } from './run.js';

/**
 * Every command of the INSTALLED product (npm pack -> npm install -g --prefix -> `regctl` on
 * PATH), piped and on a pseudo-terminal, on Node 20 and Node 24, and of the single executable
 * (`npm run package`) on a PATH without node. The command list is read from the CLI's own help,
 * so a command without a row here fails the coverage test.
 */

const s: Shipped = await shipped();
const HEX = /sha256:[0-9a-f]{64}/;
/** The one layer of the fixture layout (fixtures.ts writeLayout: 1024 bytes of 7). */
const LAYER_DIGEST = `sha256:${createHash('sha256').update(Buffer.alloc(1024, 7)).digest('hex')}`;
const PASSWORD = 's3cret-Pa55';

interface Ctx {
  runtime: Runtime;
  tty: boolean;
  /** registry without auth / with --htpasswd (user alice) */
  reg: string;
  auth: string;
  /** the storage folder of `reg` */
  regRoot: string;
  /** an OCI layout with tag 1, and its manifest digest */
  src: string;
  srcDigest: string;
  /** a fresh folder for this run */
  dir: string;
  /** unique per row, runtime and mode: repository names never collide */
  id: string;
  env: NodeJS.ProcessEnv;
  /** run the installed CLI piped (setting the scene for a row) and insist it succeeds */
  prep: (args: string[], stdin?: string) => Promise<Ran>;
}

interface Row {
  /** the command (path) this row covers, as the help lists it: 'copy', 'serve user add' */
  command: string;
  what: string;
  args: (c: Ctx) => string[];
  before?: (c: Ctx) => Promise<void>;
  stdin?: string;
  /** the terminal's size on a pty, "COLS ROWS" */
  ttySize?: string;
  code: number;
  /** the exit code on a terminal, where it differs */
  ttyCode?: number;
  check?: (r: Ran, c: Ctx) => void | Promise<void>;
}

/** Piped: the row's stdout. On a terminal: the whole screen. */
const shown = (r: Ran): string => r.out;

const ROWS: Row[] = [
  { command: '--version', what: 'prints the version', args: () => ['--version'], code: 0, check: (r) => expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+$/) },
  { command: '--help', what: 'lists the commands', args: () => ['--help'], code: 0, check: (r) => expect(shown(r)).toContain('Commands:') },
  {
    command: '--help', what: 'no arguments: usage on stderr, exit 2', code: 2,
    args: () => [],
    check: (r) => expect(r.err + r.out).toContain('Usage: regctl'),
  },
  { command: 'help', what: 'help for one command', args: () => ['help', 'copy'], code: 0, check: (r) => expect(shown(r)).toContain('Usage: regctl copy') },
  {
    command: 'catalog', what: 'lists repositories', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/cat-${c.id}:1`]).then(() => undefined),
    args: (c) => ['catalog', c.reg],
    check: (r, c) => expect(shown(r)).toContain(`cat-${c.id}`),
  },
  {
    command: 'search', what: 'finds repositories by name', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/find-${c.id}:1`]).then(() => undefined),
    args: (c) => ['search', c.reg, `find-${c.id}`],
    check: (r, c) => expect(shown(r).split('\n').map((l) => l.trim()).filter(Boolean)).toEqual([`find-${c.id}`]),
  },
  {
    command: 'tags', what: 'lists tags', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/tags-${c.id}:1.0.0`, '--tag', '1']).then(() => undefined),
    args: (c) => ['tags', `${c.reg}/tags-${c.id}`],
    check: (r) => expect(shown(r).split('\n').map((l) => l.trim()).filter(Boolean)).toEqual(['1', '1.0.0']),
  },
  {
    command: 'inspect', what: 'shows the image', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/insp-${c.id}:1`]).then(() => undefined),
    args: (c) => ['inspect', `${c.reg}/insp-${c.id}:1`],
    check: (r, c) => {
      expect(shown(r)).toContain(c.srcDigest);
      expect(shown(r)).toContain('linux/amd64');
    },
  },
  {
    command: 'digest', what: 'prints the digest', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/dig-${c.id}:1`]).then(() => undefined),
    args: (c) => ['digest', `${c.reg}/dig-${c.id}:1`],
    check: (r, c) => expect(r.out.trim()).toBe(c.srcDigest),
  },
  {
    command: 'manifest', what: 'prints the manifest bytes', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/man-${c.id}:1`]).then(() => undefined),
    args: (c) => ['manifest', `${c.reg}/man-${c.id}:1`],
    check: async (r, c) => {
      const bytes = await readFile(join(c.src, 'blobs', 'sha256', c.srcDigest.slice(7)), 'utf8');
      expect(r.out.trim()).toBe(bytes);
    },
  },
  {
    command: 'manifest get', what: 'prints the manifest bytes', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/mget-${c.id}:1`]).then(() => undefined),
    args: (c) => ['manifest', 'get', `${c.reg}/mget-${c.id}:1`],
    check: async (r, c) => {
      const bytes = await readFile(join(c.src, 'blobs', 'sha256', c.srcDigest.slice(7)), 'utf8');
      expect(screenText(r.out).replace(/\s/g, '')).toBe(bytes.replace(/\s/g, ''));
    },
  },
  {
    command: 'manifest put', what: 'stores a manifest file, prints its digest', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/mput-${c.id}:1`]).then(() => undefined),
    args: (c) => ['manifest', 'put', `${c.reg}/mput-${c.id}:2`, join(c.src, 'blobs', 'sha256', c.srcDigest.slice(7))],
    check: async (r, c) => {
      expect(r.out.trim()).toBe(c.srcDigest);
      expect((await c.prep(['digest', `${c.reg}/mput-${c.id}:2`])).out.trim()).toBe(c.srcDigest);
    },
  },
  {
    command: 'blob get', what: 'downloads a layer to a file, verified', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/bget-${c.id}:1`]).then(() => undefined),
    args: (c) => ['blob', 'get', `${c.reg}/bget-${c.id}@${LAYER_DIGEST}`, join(c.dir, 'layer.bin')],
    check: async (_r, c) => expect((await readFile(join(c.dir, 'layer.bin'))).equals(Buffer.alloc(1024, 7))).toBe(true),
  },
  {
    command: 'blob put', what: 'uploads a file, prints its digest', code: 0,
    args: (c) => ['blob', 'put', `${c.reg}/bput-${c.id}`, join(c.src, 'blobs', 'sha256', LAYER_DIGEST.slice(7))],
    check: (r) => expect(screenText(r.out).trim()).toBe(LAYER_DIGEST),
  },
  {
    command: 'image config', what: 'prints the config JSON', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/icfg-${c.id}:1`]).then(() => undefined),
    args: (c) => ['image', 'config', `${c.reg}/icfg-${c.id}:1`],
    check: (r) => expect(screenText(r.out).replace(/\s/g, '')).toContain('"architecture":"amd64","os":"linux"'),
  },
  {
    command: 'image diff', what: 'two copies of one image: nothing differs', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/idiff-${c.id}:1`, '--tag', '2']).then(() => undefined),
    args: (c) => ['image', 'diff', `${c.reg}/idiff-${c.id}:1`, `${c.reg}/idiff-${c.id}:2`],
    check: (r) => {
      expect(screenText(r.out)).toContain('layers: 1 same, 0 removed, 0 added');
      expect(screenText(r.out)).toContain('config: the same');
    },
  },
  {
    command: 'completion', what: 'prints the bash script', code: 0,
    args: () => ['completion', 'bash'],
    check: (r) => expect(screenText(r.out)).toContain('complete -o default -F _regctl_complete regctl'),
  },
  {
    command: 'copy', what: 'layout -> registry, with progress', code: 0,
    args: (c) => ['copy', `oci:${c.src}:1`, `${c.reg}/copy-${c.id}:1`],
    check: async (r, c) => {
      expect(shown(r)).toMatch(HEX);
      expect(shown(r) + r.err).not.toMatch(/error|is not a function|constructor/i);
      expect((await c.prep(['digest', `${c.reg}/copy-${c.id}:1`])).out.trim()).toBe(c.srcDigest);
    },
  },
  {
    command: 'copy', what: 'on a terminal that reports no width', code: 0, ttySize: '0 0',
    args: (c) => ['copy', `oci:${c.src}:1`, `${c.reg}/nowidth-${c.id}:1`],
    check: async (_r, c) => expect((await c.prep(['digest', `${c.reg}/nowidth-${c.id}:1`])).out.trim()).toBe(c.srcDigest),
  },
  {
    command: 'copy', what: 'registry -> layout (alias cp)', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/cp-${c.id}:1`]).then(() => undefined),
    args: (c) => ['cp', `${c.reg}/cp-${c.id}:1`, `oci:${c.dir}/out:1`],
    check: (_r, c) => expect(existsSync(join(c.dir, 'out', 'blobs', 'sha256', c.srcDigest.slice(7)))).toBe(true),
  },
  {
    command: 'sync', what: 'mirrors what a YAML file lists, with a summary', code: 0,
    before: async (c) => {
      await c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/syncsrc-${c.id}:1.2.0`]);
      await writeFile(join(c.dir, 'sync.yaml'), `sync:\n  - source: ${c.reg}/syncsrc-${c.id}\n    target: ${c.reg}/syncdst-${c.id}\n    tags:\n      semver: ">=1.0 <2"\n`);
    },
    args: (c) => ['sync', join(c.dir, 'sync.yaml')],
    check: async (r, c) => {
      expect(screenText(shown(r))).toMatch(/copied 1 tag, skipped 0 up to date, 0 failed in 1 repository/);
      expect((await c.prep(['digest', `${c.reg}/syncdst-${c.id}:1.2.0`])).out.trim()).toBe(c.srcDigest);
    },
  },
  {
    command: 'sync', what: 'a bad file: its line, exit 2', code: 2,
    before: (c) => writeFile(join(c.dir, 'bad.yaml'), 'sync:\n  - source: a.example/app\n    targt: b.example/app\n'),
    args: (c) => ['sync', join(c.dir, 'bad.yaml')],
    check: (r) => expect(screenText(r.out + r.err)).toMatch(/bad\.yaml:3: sync\[0\]: unknown key "targt"/),
  },
  {
    command: 'ratelimit', what: 'a registry without limits says so', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/rl-${c.id}:1`]).then(() => undefined),
    args: (c) => ['ratelimit', `${c.reg}/rl-${c.id}:1`],
    check: (r, c) => expect(screenText(shown(r))).toContain(`${c.reg}: no rate limit reported`),
  },
  {
    command: 'copy', what: '--dry-run --json', code: 0,
    args: (c) => ['--json', 'copy', '--dry-run', `oci:${c.src}:1`, `${c.reg}/dry-${c.id}:1`],
    check: (r) => {
      const json = screenText(r.out).slice(screenText(r.out).indexOf('{'));
      expect(() => JSON.parse(json)).not.toThrow();
    },
  },
  {
    command: 'retag', what: 'adds a tag', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/rt-${c.id}:1`]).then(() => undefined),
    args: (c) => ['retag', `${c.reg}/rt-${c.id}:1`, 'two'],
    check: async (_r, c) => expect((await c.prep(['digest', `${c.reg}/rt-${c.id}:two`])).out.trim()).toBe(c.srcDigest),
  },
  {
    command: 'retag', what: '--semver moves floating tags', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/sv-${c.id}:1.9.2`]).then(() => undefined),
    args: (c) => ['retag', '--semver', `${c.reg}/sv-${c.id}:1.9.2`],
    check: async (_r, c) => {
      const tags = (await c.prep(['tags', `${c.reg}/sv-${c.id}`])).out.trim().split('\n');
      expect(tags.sort()).toEqual(['1', '1.9', '1.9.2', 'latest']);
    },
  },
  {
    command: 'delete', what: '--yes deletes the manifest', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/del-${c.id}:1`]).then(() => undefined),
    args: (c) => ['delete', '--yes', `${c.reg}/del-${c.id}:1`],
    check: async (_r, c) => {
      const r = await runShipped(s, ['digest', `${c.reg}/del-${c.id}:1`], { tty: false, runtime: c.runtime, env: c.env });
      expect(r.code).toBe(3);
    },
  },
  {
    command: 'tag rm', what: 'removes one tag', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/trm-${c.id}:1`, '--tag', 'keep']).then(() => undefined),
    args: (c) => ['tag', 'rm', `${c.reg}/trm-${c.id}:1`],
    check: async (_r, c) => {
      expect((await c.prep(['tags', `${c.reg}/trm-${c.id}`])).out.trim()).toBe('keep');
    },
  },
  {
    command: 'prune', what: '--match --yes removes the matching tag, keeps the other on its digest', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/prn-${c.id}:1`, '--tag', 'old-2']).then(() => undefined),
    args: (c) => ['prune', `${c.reg}/prn-${c.id}`, '--match', '^old-', '--yes'],
    check: async (r, c) => {
      expect(r.err + r.out).toContain('removed 1 tag (0 manifests deleted by digest)');
      expect((await c.prep(['tags', `${c.reg}/prn-${c.id}`])).out.trim()).toBe('1');
    },
  },
  {
    command: 'repo rm', what: '--yes removes the repository from the catalog', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/rrm-${c.id}:1`]).then(() => undefined),
    args: (c) => ['repo', 'rm', '--yes', `${c.reg}/rrm-${c.id}`],
    check: async (r, c) => {
      expect(r.out).toContain(`deleted ${c.reg}/rrm-${c.id} (1 tag, 1 tagged manifest); the repository is gone`);
      expect((await c.prep(['catalog', c.reg])).out.split('\n')).not.toContain(`rrm-${c.id}`);
    },
  },
  {
    command: 'export', what: 'registry -> docker-archive file', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/exp-${c.id}:1`]).then(() => undefined),
    args: (c) => ['export', `${c.reg}/exp-${c.id}:1`, join(c.dir, 'img.tar')],
    check: (r, c) => {
      expect(statSync(join(c.dir, 'img.tar')).size).toBeGreaterThan(1024);
      expect(shown(r) + r.err).not.toMatch(/is not a function|constructor/);
    },
  },
  {
    command: 'export', what: 'to stdout: a tar when piped, refused on a terminal', code: 0, ttyCode: 2,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/expout-${c.id}:1`]).then(() => undefined),
    args: (c) => ['export', `${c.reg}/expout-${c.id}:1`, '-'],
    check: (r, c) => {
      if (c.tty) expect(r.out).toContain('refusing to write a tar archive to a terminal');
      else expect(r.out).toContain('manifest.json');
    },
  },
  {
    command: 'import', what: 'docker-archive -> registry', code: 0,
    before: async (c) => {
      await c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/impsrc-${c.id}:1`]);
      await c.prep(['export', `${c.reg}/impsrc-${c.id}:1`, join(c.dir, 'in.tar')]);
    },
    args: (c) => ['import', join(c.dir, 'in.tar'), `${c.reg}/imp-${c.id}:1`],
    check: async (_r, c) => expect((await c.prep(['digest', `${c.reg}/imp-${c.id}:1`])).out.trim()).toMatch(HEX),
  },
  {
    command: 'login', what: '--password-stdin stores the login', code: 0, stdin: `${PASSWORD}\n`,
    args: (c) => ['login', c.auth, '-u', 'alice', '--password-stdin'],
    check: async (r, c) => {
      expect(shown(r) + r.err).not.toContain(PASSWORD);
      // the stored login is used: the catalog of the protected registry answers
      expect((await c.prep(['catalog', c.auth])).code).toBe(0);
      const file = join(c.env.XDG_CONFIG_HOME!, 'regctl', 'config.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(file, '..')).mode & 0o777).toBe(0o700);
    },
  },
  {
    command: 'logout', what: 'removes the login', code: 0,
    before: (c) => c.prep(['login', c.auth, '-u', 'alice', '--password-stdin'], `${PASSWORD}\n`).then(() => undefined),
    args: (c) => ['logout', c.auth],
    check: async (_r, c) => {
      const r = await runShipped(s, ['catalog', c.auth], { tty: false, runtime: c.runtime, env: c.env });
      expect(r.code).toBe(4);
    },
  },
  {
    command: 'config set', what: '--insecure for a host', code: 0,
    args: () => ['config', 'set', 'registry.example.invalid:5000', '--insecure'],
    check: async (_r, c) => expect((await c.prep(['config', 'show'])).out).toContain('registry.example.invalid:5000'),
  },
  {
    command: 'config show', what: 'prints settings', code: 0,
    args: () => ['config', 'show'],
    check: (r) => expect(shown(r)).toContain('config file:'),
  },
  {
    command: 'config set-default', what: 'unqualified names go to that registry', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/def-${c.id}:1`]).then(() => undefined),
    args: (c) => ['config', 'set-default', c.reg],
    check: async (_r, c) => {
      expect((await c.prep(['config', 'show'])).out).toContain(c.reg);
      expect((await c.prep(['digest', `def-${c.id}:1`])).out.trim()).toBe(c.srcDigest);
    },
  },
  {
    command: 'tags', what: 'http:// before the registry is accepted', code: 0,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/scheme-${c.id}:1`]).then(() => undefined),
    args: (c) => ['tags', `http://${c.reg}/scheme-${c.id}`],
    check: (r) => expect(r.out.trim()).toBe('1'),
  },
  {
    command: 'tags', what: 'a registry instead of a repository: exit 2 and a hint', code: 2,
    args: (c) => ['tags', c.reg],
    check: (r, c) => expect(r.out + r.err).toContain(`regctl catalog ${c.reg}`),
  },
  {
    command: 'inspect', what: '--platform the image does not have: exit 3', code: 3,
    before: (c) => c.prep(['copy', `oci:${c.src}:1`, `${c.reg}/plat-${c.id}:1`]).then(() => undefined),
    args: (c) => ['inspect', '--platform', 'linux/arm64', `${c.reg}/plat-${c.id}:1`],
    check: (r) => expect(r.out + r.err).toMatch(/linux\/amd64/),
  },
  {
    command: 'serve user add', what: 'password from stdin', code: 0, stdin: 'pw-bob\n',
    args: (c) => ['serve', 'user', 'add', 'bob', '--password-stdin', '--htpasswd', join(c.dir, 'users')],
    check: async (_r, c) => expect(await readFile(join(c.dir, 'users'), 'utf8')).toMatch(/^bob:\$2[aby]\$/),
  },
  {
    command: 'serve user list', what: 'lists users', code: 0,
    before: (c) => c.prep(['serve', 'user', 'add', 'carol', '--password-stdin', '--htpasswd', join(c.dir, 'users')], 'pw\n').then(() => undefined),
    args: (c) => ['serve', 'user', 'list', '--htpasswd', join(c.dir, 'users')],
    check: (r) => expect(shown(r)).toContain('carol'),
  },
  {
    command: 'serve user rm', what: 'removes a user', code: 0,
    before: (c) => c.prep(['serve', 'user', 'add', 'dave', '--password-stdin', '--htpasswd', join(c.dir, 'users')], 'pw\n').then(() => undefined),
    args: (c) => ['serve', 'user', 'rm', 'dave', '--htpasswd', join(c.dir, 'users')],
    check: async (_r, c) => expect(await readFile(join(c.dir, 'users'), 'utf8')).not.toContain('dave'),
  },
  {
    command: 'serve gc', what: '--dry-run on a running registry', code: 0,
    args: (c) => ['serve', 'gc', '--dry-run', '--root', c.regRoot],
  },
  {
    command: 'tags', what: 'a missing repository: exit 3, one line', code: 3,
    args: (c) => ['tags', `${c.reg}/missing-${c.id}`],
    check: (r) => {
      const text = r.err + (r.code === 3 ? r.out : '');
      expect(text).toMatch(/^error: /m);
      expect(text).not.toMatch(/\n\s+at /);
    },
  },
  {
    command: 'copy', what: 'a malformed reference: exit 2', code: 2,
    args: () => ['copy', 'Bad Ref!', 'localhost:1/x:1'],
  },
];

/** Commands that run by themselves and also have sub-commands. */
const RUN_AND_GROUP = new Set(['serve', 'manifest']);

/** `serve` runs until stopped: its own test below. */
const LONG_RUNNING = new Set(['serve']);

/** The commands and sub-commands the installed CLI lists in its help. */
async function listedCommands(runtime: Runtime, env: NodeJS.ProcessEnv): Promise<string[]> {
  const commandsIn = (help: string): string[] => {
    const at = help.indexOf('\nCommands:\n');
    if (at < 0) return [];
    const block = help.slice(at + 11).split('\n\n')[0]!;
    return block.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/[\s|]/)[0]!).filter((n) => n !== 'help');
  };
  const top = commandsIn((await runShipped(s, ['--help'], { tty: false, runtime, env })).out);
  const all: string[] = ['--version', '--help', 'help'];
  // A group (`config`, `tag`, `serve user`) is covered by its sub-commands; `serve` and `manifest` both run and have some.
  const visit = async (path: string[]): Promise<void> => {
    const subs = commandsIn((await runShipped(s, [...path, '--help'], { tty: false, runtime, env })).out);
    if (subs.length === 0 || path.length === 1 && RUN_AND_GROUP.has(path[0]!)) all.push(path.join(' '));
    for (const sub of subs) await visit([...path, sub]);
  };
  for (const name of top) await visit([name]);
  return all;
}

const work = await mkdtemp(join(tmpdir(), 'regctl-shipped-run-'));
let counter = 0;

async function freshEnv(): Promise<NodeJS.ProcessEnv> {
  const home = join(work, `home-${++counter}`);
  await mkdir(home, { recursive: true });
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    DOCKER_CONFIG: join(home, '.docker'),
    NO_COLOR: undefined,
  };
}

// REGCTL_SHIPPED_RUNTIMES=sea (or node20,node24) runs only those runtimes' tables (all by default).
const only = process.env.REGCTL_SHIPPED_RUNTIMES?.split(',');
for (const runtime of s.runtimes.filter((r) => !only || only.includes(r.name))) {
  describe(`installed regctl on ${runtime.name} (${runtime.version})`, () => {
    let plain: RunningServe;
    let locked: RunningServe;
    const src = join(work, `src-${runtime.name}`);
    let srcDigest = '';

    beforeAll(async () => {
      srcDigest = writeLayout(src);
      const env = await freshEnv();
      const users = join(work, `users-${runtime.name}`);
      const add = await runShipped(s, ['serve', 'user', 'add', 'alice', '--password-stdin', '--htpasswd', users], { tty: false, runtime, env, stdin: `${PASSWORD}\n` });
      expect(add.code, add.err).toBe(0);
      plain = await startInstalledServe(s, runtime, ['--root', join(work, `reg-${runtime.name}`), '--no-log'], env);
      locked = await startInstalledServe(s, runtime, ['--root', join(work, `auth-${runtime.name}`), '--htpasswd', users, '--no-log'], env);
    });
    afterAll(async () => {
      await plain?.stop();
      await locked?.stop();
    });

    if (runtime.name === 'sea') {
      test('the single executable runs with only itself and sh, script, stty on PATH: no node', async () => {
        const env = { PATH: runtime.path, HOME: work };
        const r = await runShipped(s, ['--version'], { tty: false, runtime, env: {} });
        expect(r).toMatchObject({ code: 0, out: `${JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')).version}\n`, err: '' });
        const which = spawnSync('sh', ['-c', 'command -v node nodejs npm npx; command -v regctl'], { env, encoding: 'utf8' });
        expect(which.stdout.trim()).toBe(join(runtime.path, 'regctl'));
        expect(readdirSync(runtime.path).sort()).toEqual(['regctl', 'script', 'sh', 'stty']);
        // an ELF executable, not a script run by some interpreter
        expect(readFileSync(join(runtime.path, 'regctl')).subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
      });
    } else {
      test('the package holds the bin and the bundle, and no sources, tests or single executable', async () => {
        const files = await installedFiles(s);
        expect(files).toContain('bin/regctl.js');
        expect(files).toContain('dist/bundle/regctl.mjs');
        expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/sea/'))).toEqual([]);
      });
    }

    test('every command and sub-command the help lists has a row', async () => {
      const listed = await listedCommands(runtime, await freshEnv());
      const covered = new Set([...ROWS.map((r) => r.command), ...LONG_RUNNING]);
      expect(listed.filter((c) => !covered.has(c))).toEqual([]);
      expect([...covered].filter((c) => !listed.includes(c))).toEqual([]);
    });

    for (const tty of [false, true]) {
      const mode = tty ? 'terminal' : 'piped';
      test.concurrent.each(ROWS.map((row, i) => [`${row.command}: ${row.what}`, row, i] as const))(`${mode}: %s`, async (_name, row, i) => {
        const env = await freshEnv();
        const dir = join(work, `run-${runtime.name}-${mode}-${i}`);
        await mkdir(dir, { recursive: true });
        const ctx: Ctx = {
          runtime, tty, reg: plain.host, auth: locked.host, regRoot: join(work, `reg-${runtime.name}`), src, srcDigest, dir, env,
          id: `${runtime.name}-${mode}-${i}`,
          prep: async (args, stdin) => {
            const r = await runShipped(s, args, { tty: false, runtime, env, stdin });
            if (r.code !== 0 && args[0] !== 'catalog') throw new Error(`regctl ${args.join(' ')} -> ${r.code}: ${r.err}`);
            return r;
          },
        };
        await row.before?.(ctx);
        const r = await runShipped(s, row.args(ctx), { tty, runtime, env, stdin: row.stdin, cwd: dir, ttySize: row.ttySize, timeoutMs: 30_000 });
        const said = `regctl ${row.args(ctx).map(shellQuote).join(' ')}\nstdout/screen:\n${r.out}\nstderr:\n${r.err}`;
        expect(r.code, said).toBe(tty ? row.ttyCode ?? row.code : row.code);
        // never a stack trace, never a bundling error, on any path
        expect(r.out + r.err, said).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n|is not a function|is not a constructor/);
        if (!tty) expect(r.out + r.err, said).not.toMatch(/\x1b\[/);
        await row.check?.(r, ctx);
      });
    }

    for (const tty of [false, true]) {
      test(`${tty ? 'terminal' : 'piped'}: serve starts, answers /v2/, stops cleanly on Ctrl-C`, async () => {
        const env = await freshEnv();
        const root = join(work, `serve-${runtime.name}-${tty}`);
        const line = `regctl serve --port 0 --address 127.0.0.1 --root ${shellQuote(root)}`;
        const child = spawn(tty ? 'script' : 'sh', tty ? ['-qefc', line, '/dev/null'] : ['-c', `exec ${line}`], {
          env: { PATH: runtime.path, TERM: 'xterm', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
        let text = '';
        child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
        child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        const deadline = Date.now() + 30_000;
        let host: string | undefined;
        while (!host && Date.now() < deadline) {
          host = /listening on http:\/\/([\d.]+:\d+)/.exec(text)?.[1];
          if (!host) await new Promise((r) => setTimeout(r, 50));
        }
        expect(host, text).toBeDefined();
        const res = await fetch(`http://${host}/v2/`);
        expect(res.status).toBe(200);
        expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        process.kill(-child.pid!, 'SIGINT');
        expect(await exited, text).toBe(0);
        expect(screenText(text)).not.toMatch(/\n\s+at /);
      });
    }
  });
}

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
