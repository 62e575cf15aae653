#!/usr/bin/env node
// Pull-through cache over a simulated WAN (docs/mirror.md): Debian's docker-registry is the
// upstream, reached through bench/wan-proxy.mjs adding 20 ms each way and 200 Mbit/s (its cap
// is per connection and direction). Measures:
//   - skopeo pull of a SIZE image directly from upstream (over the WAN) - the reference;
//   - the first (cold) and second (warm) skopeo pull through `regctl serve --mirror`;
//   - 20 concurrent cold pulls through a fresh mirror: bytes that crossed the WAN (must be
//     one image, not 20).
// Usage: node bench/mirror.mjs [--size-mib 500] [--layers 5] [--concurrent 20] [--rate-mbit 200] [--delay-ms 20] [--json FILE]
// Needs: npm run build, skopeo, docker-registry. Only 127.0.0.1 is used.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, optionOf, randomStream } from './lib.mjs';
import { stopChild, waitReady } from './registries.mjs';
import { startWanProxy } from './wan-proxy.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = optionOf(args);
const MiB = 1024 * 1024;
const SIZE_MIB = Number(opt('size-mib', '500'));
const LAYERS = Number(opt('layers', '5'));
const CONCURRENT = Number(opt('concurrent', '20'));
const MBIT = Number(opt('rate-mbit', '200'));
const DELAY = Number(opt('delay-ms', '20'));
const JSON_OUT = opt('json', undefined);

for (const tool of ['skopeo', 'docker-registry']) {
  if (spawnSync('which', [tool]).status !== 0) {
    console.error(`bench/mirror.mjs needs ${tool} (apt-get install ${tool})`);
    process.exit(2);
  }
}
if (!existsSync(join(repoRoot, 'dist/cli/main.js'))) {
  console.error('run `npm run build` first: the benchmark uses the built CLI (node bin/regctl.js serve)');
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), 'regctl-bench-mirror-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => rm(work, { recursive: true, force: true }).finally(() => process.exit(130)));

/** Wait for a started server, or fail the bench (the shared waiter only says whether it came up). */
async function ready(url, child) {
  if (!(await waitReady(url, child))) throw new Error(`${url} did not come up`);
}

async function startDistribution(root) {
  const port = await freePort();
  const config = join(work, `registry-${port}.yml`);
  await writeFile(config, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(child);
  await ready(`http://127.0.0.1:${port}`, child);
  return { child, port, url: `http://127.0.0.1:${port}` };
}

async function startMirror(root, upstreamUrl) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin/regctl.js'), 'serve', '--port', String(port), '--root', root, '--no-log', '--mirror', `docker.io=${upstreamUrl}`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  await ready(`http://127.0.0.1:${port}`, child);
  return { child, host: `127.0.0.1:${port}` };
}

async function digestOfStream(seed, size) {
  const h = createHash('sha256');
  for await (const c of randomStream(seed, size)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

function putBlob(base, repo, digest, size, body) {
  return new Promise((resolve, reject) => {
    const post = http.request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } }, (res) => {
      res.resume();
      const loc = new URL(res.headers.location, base);
      loc.searchParams.set('digest', digest);
      const put = http.request(loc, { method: 'PUT', headers: { 'Content-Length': size, 'Content-Type': 'application/octet-stream' } }, (r) => {
        r.resume();
        r.statusCode === 201 ? resolve() : reject(new Error(`PUT blob: ${r.statusCode}`));
      });
      put.on('error', reject);
      if (typeof body === 'string' || Buffer.isBuffer(body)) put.end(body);
      else body.pipe(put);
    });
    post.on('error', reject);
    post.end();
  });
}

/** Push a SIZE_MIB image of LAYERS uncompressed layers straight to the upstream (no WAN). */
async function pushImage(base, repo, tag) {
  const layerSize = Math.floor((SIZE_MIB * MiB) / LAYERS);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) {
    const seed = `mirror-bench-${i}`;
    const digest = await digestOfStream(seed, layerSize);
    await putBlob(base, repo, digest, layerSize, randomStream(seed, layerSize));
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: layerSize });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await putBlob(base, repo, configDigest, config.length, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers }));
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  if (res.status !== 201) throw new Error(`PUT manifest: ${res.status}`);
  return { digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, bytes: layers.reduce((s, l) => s + l.size, 0) + config.length + manifest.length };
}

function skopeoPull(ref, dir) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', '--preserve-digests', `docker://${ref}`, `dir:${dir}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`skopeo ${ref}: ${err.trim()}`))));
  });
}

async function manifestDigestOf(dir) {
  const { readFile } = await import('node:fs/promises');
  return `sha256:${createHash('sha256').update(await readFile(join(dir, 'manifest.json'))).digest('hex')}`;
}

const fmt = (s) => `${s.toFixed(2)} s`;
/** CPU seconds (user + system) a child process has used so far (Linux /proc; NaN elsewhere). */
async function cpuSeconds(pid) {
  try {
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}
const rows = [];
try {
  const upstream = await startDistribution(join(work, 'upstream'));
  const image = await pushImage(upstream.url, 'bench/big', 'v1');
  const wan = await startWanProxy({ target: `127.0.0.1:${upstream.port}`, latencyMs: DELAY, mbit: MBIT });
  const wanUrl = `http://127.0.0.1:${wan.port}`;
  console.log(`image ${SIZE_MIB} MiB in ${LAYERS} layers (${image.digest.slice(0, 19)}); WAN (bench/wan-proxy.mjs) ${MBIT} Mbit/s per connection, ${DELAY} ms each way`);

  const check = async (dir, what) => {
    const d = await manifestDigestOf(dir);
    if (d !== image.digest) throw new Error(`${what}: manifest ${d} != ${image.digest}`);
    await rm(dir, { recursive: true, force: true });
  };

  // Reference: straight from upstream over the WAN.
  let before = wan.stats.down;
  const direct = await skopeoPull(`127.0.0.1:${wan.port}/bench/big:v1`, join(work, 'direct'));
  await check(join(work, 'direct'), 'direct');
  rows.push({ row: 'direct from upstream over the WAN', seconds: direct, wanBytes: wan.stats.down - before });

  const mirror = await startMirror(join(work, 'mirror1'), wanUrl);
  before = wan.stats.down;
  let cpu0 = await cpuSeconds(mirror.child.pid);
  const cold = await skopeoPull(`${mirror.host}/docker.io/bench/big:v1`, join(work, 'cold'));
  // The store after the last byte is served runs on: count its CPU too (until the mirror idles).
  let cpu1 = await cpuSeconds(mirror.child.pid);
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const c = await cpuSeconds(mirror.child.pid);
    if (!(c - cpu1 > 0.02)) break;
    cpu1 = c;
  }
  cpu1 = await cpuSeconds(mirror.child.pid);
  await check(join(work, 'cold'), 'cold');
  rows.push({ row: 'through the mirror, first (cold) pull', seconds: cold, wanBytes: wan.stats.down - before, mirrorCpuSeconds: cpu1 - cpu0 });
  before = wan.stats.down;
  cpu0 = await cpuSeconds(mirror.child.pid);
  const warm = await skopeoPull(`${mirror.host}/docker.io/bench/big:v1`, join(work, 'warm'));
  cpu1 = await cpuSeconds(mirror.child.pid);
  await check(join(work, 'warm'), 'warm');
  rows.push({ row: 'through the mirror, second (warm) pull', seconds: warm, wanBytes: wan.stats.down - before, mirrorCpuSeconds: cpu1 - cpu0 });
  await stopChild(mirror.child);

  const fresh = await startMirror(join(work, 'mirror2'), wanUrl);
  before = wan.stats.down;
  const started = performance.now();
  const dirs = Array.from({ length: CONCURRENT }, (_, i) => join(work, `c${i}`));
  await Promise.all(dirs.map((d) => skopeoPull(`${fresh.host}/docker.io/bench/big:v1`, d)));
  const all = (performance.now() - started) / 1000;
  for (const d of dirs) await check(d, 'concurrent');
  rows.push({ row: `${CONCURRENT} concurrent cold pulls through a fresh mirror`, seconds: all, wanBytes: wan.stats.down - before });
  await stopChild(fresh.child);
  await wan.close();
  await stopChild(upstream.child);

  console.log('');
  console.log('| case | wall | bytes over the WAN (upstream -> client side) | mirror CPU |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.row} | ${fmt(r.seconds)} | ${(r.wanBytes / MiB).toFixed(1)} MiB | ${r.mirrorCpuSeconds === undefined ? '' : fmt(r.mirrorCpuSeconds)} |`);
  console.log('');
  console.log(`image size ${(image.bytes / MiB).toFixed(1)} MiB; warm / direct = ${(warm / direct).toFixed(2)}x; cold / direct = ${(cold / direct).toFixed(2)}x`);
  console.log(`concurrent cold pulls moved ${((rows[3].wanBytes / image.bytes) * 100).toFixed(1)}% of one image over the WAN (HTTP headers included)`);
  if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify({ sizeMiB: SIZE_MIB, layers: LAYERS, imageBytes: image.bytes, rateMbit: MBIT, delayMs: DELAY, rows }, null, 2));
} finally {
  await rm(work, { recursive: true, force: true });
}
