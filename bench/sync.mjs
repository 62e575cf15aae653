#!/usr/bin/env node
// Benchmark: `regctl sync FILE` of a 1,200-tag repository of tiny images, regctl serve -> regctl
// serve, against `regctl copy --all-tags` and `skopeo sync` on the same data in the same run:
// first run (empty destination) and up to date. Wall, CPU seconds (user+sys, /usr/bin/time) and
// requests (counted by a loopback proxy in front of each registry). One run of each: the machine
// is shared. Run `npm run build` first. Usage: node bench/sync.mjs [--tags N] [--json FILE]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { freePort, timer } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'regctl.js');
const argv = process.argv.slice(2);
const value = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const TAGS = Number(value('--tags', '1200'));
const JSON_OUT = value('--json', undefined);

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('bench: dist/ is missing: run `npm run build` first');
  process.exit(1);
}
for (const tool of ['/usr/bin/skopeo', '/usr/bin/time']) {
  if (!existsSync(tool)) {
    console.error(`bench: ${tool} is missing (apt-get install -y skopeo time)`);
    process.exit(1);
  }
}

const { createRegistryClient } = await import(join(ROOT, 'dist', 'wiring', 'registry-client.js'));
const { digestOf } = await import(join(ROOT, 'dist', 'oci', 'digest.js'));
const work = await mkdtemp(join(tmpdir(), 'regctl-bench-sync-'));
const env = { ...process.env, REGCTL_CONFIG_DIR: join(work, 'cfg'), DOCKER_CONFIG: join(work, 'docker'), NO_COLOR: '1' };
const policy = join(work, 'policy.json');
await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
const client = createRegistryClient({ env });
const cleanups = [];

/** A `regctl serve` process behind a counting proxy: `registry` is the proxy. */
async function startServe() {
  const dir = await mkdtemp(join(work, 'serve-'));
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--address', '127.0.0.1', '--root', dir], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('regctl serve did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const upstream = `127.0.0.1:${port}`;
  const counts = { total: 0, writes: 0 };
  const proxy = createServer((req, res) => {
    counts.total++;
    if (!['GET', 'HEAD'].includes(req.method)) counts.writes++;
    const up = request(`http://${upstream}${req.url}`, { method: req.method, headers: { ...req.headers, host: upstream } }, (ur) => {
      const headers = { ...ur.headers };
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${upstream}`, `//${self}`);
      res.writeHead(ur.statusCode ?? 502, headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  proxy.keepAliveTimeout = 30_000;
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const self = `127.0.0.1:${proxy.address().port}`;
  const h = {
    registry: self,
    direct: upstream,
    counts,
    reset: () => Object.assign(counts, { total: 0, writes: 0 }),
    close: async () => {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  cleanups.push(h.close);
  return h;
}

async function pushTiny(repo, i) {
  const layer = randomBytes(256);
  const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] }, config: { Labels: { n: String(i) } } }));
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length };
  for (const [d, b] of [[layerDesc, layer], [configDesc, config]]) if (!(await repo.hasBlob(d))) await repo.putBlob(d, Readable.from([b]));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] }));
  return { bytes, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(bytes) };
}

const timed = timer({ work, env });

const rows = [];
try {
  const src = await startServe();
  console.error(`bench: seeding ${TAGS} tags (4 tiny images)`);
  const many = client.repository(src.direct, 'bench/many');
  const imgs = [];
  for (let i = 0; i < 4; i++) imgs.push(await pushTiny(many, i));
  const names = Array.from({ length: TAGS }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`);
  for (let i = 0; i < names.length; i += 32) await Promise.all(names.slice(i, i + 32).map((t, j) => many.putManifest(t, imgs[(i + j) % imgs.length])));

  const [dSync, dCopy, dSkopeo] = [await startServe(), await startServe(), await startServe()];
  const file = join(work, 'sync.yaml');
  await writeFile(file, `sync:\n  - source: ${src.registry}/bench/many\n    target: ${dSync.registry}/bench/many\n`);
  const tools = {
    'regctl sync': { dst: dSync, run: () => timed(process.execPath, [BIN, 'sync', '--json', file]) },
    'regctl copy --all-tags': { dst: dCopy, run: () => timed(process.execPath, [BIN, 'copy', '--all-tags', '--json', '--progress', 'none', `${src.registry}/bench/many`, `${dCopy.registry}/bench/many`]) },
    'skopeo sync': {
      dst: dSkopeo,
      run: () => timed('/usr/bin/skopeo', ['--policy', policy, 'sync', '--all', '--preserve-digests', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-no-creds', '--dest-no-creds', `${src.registry}/bench/many`, `${dSkopeo.registry}/bench`]),
    },
  };
  for (const phase of ['first run', 'up to date']) {
    for (const [name, t] of Object.entries(tools)) {
      src.reset();
      t.dst.reset();
      const r = await t.run();
      const tags = (await client.repository(t.dst.direct, 'bench/many').listTags()).length;
      if (tags !== TAGS) throw new Error(`${name}: ${tags} tags at the destination, expected ${TAGS}`);
      if (name === 'regctl sync' && phase === 'up to date' && JSON.parse(r.stdout).totals.skipped !== TAGS) throw new Error('sync: not up to date');
      rows.push({ phase, tool: name, wall: r.wall, cpu: r.cpu, rssMiB: r.rssMiB, srcRequests: src.counts.total, dstRequests: t.dst.counts.total, dstWrites: t.dst.counts.writes });
      console.error(`bench: ${phase}, ${name}: ${r.wall.toFixed(2)} s`);
    }
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await rm(work, { recursive: true, force: true });
}

const f = (n, d = 2) => n.toFixed(d);
console.log(`\nsync of ${TAGS} tags (tiny images), regctl serve -> regctl serve, one run each\n`);
console.log('| phase | tool | wall s | CPU s | peak RSS MiB | requests to source | requests to target | writes to target |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.phase} | ${r.tool} | ${f(r.wall)} | ${f(r.cpu)} | ${f(r.rssMiB, 0)} | ${r.srcRequests} | ${r.dstRequests} | ${r.dstWrites} |`);
if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify({ tags: TAGS, rows }, null, 2));
