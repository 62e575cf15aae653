#!/usr/bin/env node
// Benchmark: start-up of the single executable (dist/sea/regctl, `npm run package`) against the
// npm-installed CLI on Node 20 and Node 24, and against bare Node (`node -e 0`); and `regctl tags`
// of a 1,200-tag repository on a local `regctl serve`, end to end, for both.
// CPU = user + sys of the child (bash's `times`, ms resolution); medians of --runs (default 5),
// after one warm-up run each (page cache; Node 24's compile cache for the npm CLI).
// Usage: node bench/sea.mjs [--runs N] [--sea FILE] [--node24 NODE]. Only 127.0.0.1 is used.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const RUNS = Number(flag('--runs', 5));
const SEA = flag('--sea', join(ROOT, 'dist', 'sea', 'regctl'));
const NODE20 = process.execPath;
const NODE24 = flag('--node24', process.env.REGCTL_SEA_NODE ?? [join(ROOT, 'node_modules', '.cache', 'regctl-node24', 'package', 'bin', 'node'), '/opt/node24/package/bin/node'].find(existsSync));
const TAGS = 1200;

for (const [what, ok] of [
  [`${SEA} (run npm run package)`, existsSync(SEA)],
  ['Node 24 (--node24 or $REGCTL_SEA_NODE)', NODE24 && existsSync(NODE24)],
  ['Node 20 as the default node', process.version.startsWith('v20.')],
]) {
  if (!ok) {
    console.error(`missing ${what}`);
    process.exit(1);
  }
}

const work = await mkdtemp(join(tmpdir(), 'regctl-bench-sea-'));
const children = [];
try {
  // The npm CLI as users get it: npm pack (runs the build) -> npm install -g into a prefix.
  const tgz = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 }))[0].filename;
  execFileSync('npm', ['install', '--global', '--prefix', join(work, 'prefix'), '--no-audit', '--no-fund', '--prefer-offline', join(work, tgz)], { cwd: work, stdio: 'ignore' });
  const CLI = join(work, 'prefix', 'lib', 'node_modules', 'regctl', 'bin', 'regctl.js');
  const env = { PATH: '/usr/bin:/bin', HOME: work, XDG_CONFIG_HOME: join(work, 'config'), LANG: 'C.UTF-8', TMPDIR: tmpdir() };

  // A registry with one image under 1,200 tags: the checkout's CLI serves it (not measured).
  const serve = spawn(NODE20, [CLI, 'serve', '--port', '0', '--address', '127.0.0.1', '--root', join(work, 'reg'), '--no-log'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(serve);
  const reg = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${text}`)), 30_000);
    const on = (c) => {
      text += c;
      const m = /listening on http:\/\/([\d.]+:\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    serve.stdout.on('data', on);
    serve.stderr.on('data', on);
  });
  const repo = `${reg}/bench/many`;
  const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const putBlob = async (b) => {
    const res = await fetch(`http://${reg}/v2/bench/many/blobs/uploads/?digest=${sha(b)}`, { method: 'POST', body: b, headers: { 'content-type': 'application/octet-stream' } });
    if (res.status !== 201) throw new Error(`blob upload: ${res.status} ${await res.text()}`);
  };
  const layer = Buffer.alloc(512, 1);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  await putBlob(layer);
  await putBlob(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  });
  const names = Array.from({ length: TAGS }, (_, i) => `${Math.floor(i / 100)}.${i % 100}.${i % 7}`);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(names.slice(i, i + 16).map(async (t) => {
      const res = await fetch(`http://${reg}/v2/bench/many/manifests/${t}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      if (res.status !== 201) throw new Error(`manifest ${t}: ${res.status}`);
    }));
  }

  /** CPU (user + sys of the command and what it waited for) and wall of one run, in ms. */
  const once = (cmd) => {
    const t0 = performance.now();
    const r = spawnSync('bash', ['-c', '"$@" >/dev/null || exit 1; times', 'bench', ...cmd], { env, encoding: 'utf8' });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.status}: ${r.stderr}`);
    // second line of `times`: the children's user and sys, e.g. "0m0.052s 0m0.013s"
    const [user, sys] = r.stdout.trim().split('\n')[1].split(' ').map((t) => {
      const m = /(\d+)m([\d.]+)s/.exec(t);
      return (Number(m[1]) * 60 + Number(m[2])) * 1000;
    });
    return { cpu: user + sys, wall };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const measure = (cmd) => {
    once(cmd);
    const rs = Array.from({ length: RUNS }, () => once(cmd));
    return { cpu: median(rs.map((r) => r.cpu)), wall: median(rs.map((r) => r.wall)) };
  };
  const lines = execFileSync(SEA, ['tags', repo], { env, encoding: 'utf8' }).trim().split('\n').length;
  if (lines !== TAGS) throw new Error(`the single executable listed ${lines} tags, not ${TAGS}`);

  const v = (node) => execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  const rows = [
    [`node -e 0 (Node ${v(NODE20)})`, [NODE20, '-e', '0']],
    [`node -e 0 (Node ${v(NODE24)})`, [NODE24, '-e', '0']],
    ['single executable --version', [SEA, '--version']],
    ['npm CLI --version, Node 20', [NODE20, CLI, '--version']],
    ['npm CLI --version, Node 24', [NODE24, CLI, '--version']],
    [`single executable tags (${TAGS})`, [SEA, 'tags', repo]],
    [`npm CLI tags (${TAGS}), Node 20`, [NODE20, CLI, 'tags', repo]],
    [`npm CLI tags (${TAGS}), Node 24`, [NODE24, CLI, 'tags', repo]],
  ];
  console.log(`medians of ${RUNS} runs (after 1 warm-up); load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
  console.log('| run | CPU ms | wall ms |\n|---|---|---|');
  for (const [name, cmd] of rows) {
    const m = measure(cmd);
    console.log(`| ${name} | ${m.cpu.toFixed(0)} | ${m.wall.toFixed(0)} |`);
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : undefined)));
  await rm(work, { recursive: true, force: true });
}
