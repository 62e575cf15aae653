#!/usr/bin/env node
// Benchmark `regctl serve` (the BUILT CLI) against Debian's docker-registry on the same data:
// skopeo push and pull of a 500 MiB image (5 incompressible 100 MiB layers, an OCI layout on
// disk), server RSS while receiving and serving, and GET tags/list with 10,000 tags. A null sink
// (a server that stores nothing) measures how fast skopeo itself can push on this machine.
// Usage: npm run build && node bench/serve.mjs [--size-mib 500] [--layers 5] [--tags 10000] [--runs 1] [--json FILE]
// Loopback only (127.0.0.1). Needs skopeo and docker-registry (apt-get install skopeo docker-registry).
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, optionOf } from './lib.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = optionOf(args);
const SIZE_MIB = Number(opt('size-mib', '500'));
const LAYERS = Number(opt('layers', '5'));
const TAGS = Number(opt('tags', '10000'));
const RUNS = Number(opt('runs', '1'));
const JSON_OUT = opt('json', undefined);

for (const tool of ['skopeo', 'docker-registry']) {
  if (spawnSync('which', [tool]).status !== 0) {
    console.error(`bench/serve.mjs needs ${tool} (apt-get install ${tool})`);
    process.exit(2);
  }
}
if (!existsSync(join(repoRoot, 'dist/cli/main.js'))) {
  console.error('run `npm run build` first: the benchmark uses the built CLI (node bin/regctl.js serve)');
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), 'regctl-bench-serve-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    rm(work, { recursive: true, force: true }).finally(() => process.exit(130));
  });
}

async function waitReady(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

async function startRegctl(root) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(repoRoot, 'bin/regctl.js'), 'serve', '--port', String(port), '--root', root, '--no-log'], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { name: 'regctl serve', child, url, host: `127.0.0.1:${port}` };
}

async function startDistribution(root) {
  const port = await freePort();
  const config = join(work, `registry-${port}.yml`);
  await writeFile(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { name: 'docker-registry', child, url, host: `127.0.0.1:${port}` };
}

// A registry that accepts a push and keeps nothing: reads every body byte, stores none, answers
// each step at once. skopeo's push into it is the fastest any server could make that push on
// this machine (the client's own ceiling), so the push ratios have a yardstick.
const NULL_SINK = String.raw`
const http = require('node:http');
let n = 0;
http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    const u = new URL(req.url, 'http://x');
    const p = u.pathname;
    const send = (status, headers = {}) => { res.writeHead(status, { 'Content-Length': 0, ...headers }); res.end(); };
    if (p === '/v2/') return send(200, { 'Docker-Distribution-API-Version': 'registry/2.0' });
    if (req.method === 'POST' && /\/blobs\/uploads\/$/.test(p)) return send(202, { Location: p + (++n), Range: '0-0' });
    if (req.method === 'PATCH') return send(202, { Location: p, Range: '0-0' });
    if (req.method === 'PUT' && p.includes('/blobs/uploads/')) {
      const d = u.searchParams.get('digest');
      return send(201, { Location: p.replace(/uploads\/.*/, d), 'Docker-Content-Digest': d });
    }
    if (req.method === 'PUT' && p.includes('/manifests/')) return send(201, { 'Docker-Content-Digest': 'sha256:' + '0'.repeat(64) });
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(req.method === 'HEAD' ? undefined : '{"errors":[{"code":"BLOB_UNKNOWN","message":"not here"}]}');
  });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

async function startNullSink() {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', NULL_SINK, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { name: 'null sink', child, url, host: `127.0.0.1:${port}` };
}

/** Peak RSS of a process while `fn` runs: VmRSS sampled every 20 ms (and VmHWM at the end). */
async function withRss(pid, fn) {
  let peak = 0;
  const sample = () => {
    try {
      const s = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
      peak = Math.max(peak, rss);
    } catch {
      // process gone
    }
  };
  const timer = setInterval(sample, 20);
  sample();
  try {
    const result = await fn();
    sample();
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function hwm(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Incompressible bytes (AES-CTR keystream) written to `path`, hashed on the way. */
async function writeRandomBlob(dir, size, seed) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(1 << 20);
  const tmp = join(dir, `tmp-${seed}`);
  const out = createWriteStream(tmp);
  const h = createHash('sha256');
  for (let left = size; left > 0; ) {
    const n = Math.min(left, zero.length);
    const chunk = cipher.update(zero.subarray(0, n));
    h.update(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    left -= n;
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  const digest = `sha256:${h.digest('hex')}`;
  const { rename } = await import('node:fs/promises');
  await rename(tmp, join(dir, digest.slice(7)));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size };
}

async function writeLayout(dir) {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layerSize = Math.floor((SIZE_MIB * 1024 * 1024) / LAYERS);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push(await writeRandomBlob(blobs, layerSize, `layer-${i}-${randomBytes(4).toString('hex')}`));
  const putJson = async (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const config = await putJson({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    config: {},
  });
  const manifest = await putJson({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers,
  });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }),
  );
  return { manifest, config, layers };
}

function run(cmd, argv) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) => {
      const s = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve(s);
      else reject(new Error(`${cmd} ${argv.join(' ')} failed (${code}): ${err.slice(-2000)}`));
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
function request(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** One small image, then `count` tags on its manifest, 32 requests in flight. */
async function seedTags(reg, count) {
  const cfg = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const cfgDigest = `sha256:${createHash('sha256').update(cfg).digest('hex')}`;
  // POST then PUT with the body: docker-registry 2.8 has no single-request POST upload.
  const post = await request('POST', `${reg.url}/v2/bench/tags/blobs/uploads/`);
  const loc = new URL(post.headers.location, reg.url);
  loc.searchParams.set('digest', cfgDigest);
  const put = await request('PUT', loc.href, cfg, { 'content-type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`config upload: ${put.status} ${put.body}`);
  const m = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgDigest, size: cfg.length },
      layers: [],
    }),
  );
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await request('PUT', `${reg.url}/v2/bench/tags/manifests/tag-${String(i).padStart(5, '0')}`, m, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      if (r.status !== 201) throw new Error(`tag push: ${r.status} ${r.body}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

async function timeTagsList(reg, count) {
  const times = [];
  for (let i = 0; i < 21; i++) {
    const t0 = process.hrtime.bigint();
    const r = await request('GET', `${reg.url}/v2/bench/tags/tags/list`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const n = JSON.parse(r.body.toString()).tags.length;
    if (n !== count) throw new Error(`${reg.name}: tags/list gave ${n} tags, expected ${count}`);
  }
  return { first: times[0], median: median(times.slice(1)) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const MiB = 1024 * 1024;
const fmtMiB = (b) => `${(b / MiB).toFixed(0)} MiB`;

console.log(`generating a ${SIZE_MIB} MiB image (${LAYERS} incompressible layers) as an OCI layout...`);
const layout = join(work, 'layout');
await writeLayout(layout);
const totalBytes = SIZE_MIB * MiB;

const results = {};
// Runs alternate between the servers so a change in machine load hits both alike.
const acc = new Map();
const sinkPushes = [];
for (let runIdx = 0; runIdx < RUNS; runIdx++) {
  {
    const sink = await startNullSink();
    console.log(`run ${runIdx + 1}/${RUNS} null sink: push...`);
    sinkPushes.push(await run('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${sink.host}/bench/img:v1`]));
    await stop(sink.child);
  }
  for (const start of [startRegctl, startDistribution]) {
    const root = join(work, `root-${start.name}-${runIdx}`);
    const reg = await start(root);
    const m = acc.get(reg.name) ?? { pushes: [], pulls: [], pushCpu: [], pullCpu: [], rssPush: 0, rssPull: 0, tags: undefined };
    acc.set(reg.name, m);
    const pid = reg.child.pid;
    console.log(`run ${runIdx + 1}/${RUNS} ${reg.name}: push...`);
    const cpu0 = cpuSeconds(pid);
    const push = await withRss(pid, () =>
      run('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/bench/img:v1`]),
    );
    m.pushes.push(push.result);
    const cpu1 = cpuSeconds(pid);
    m.pushCpu.push(cpu1 - cpu0);
    m.rssPush = Math.max(m.rssPush, push.peak);
    console.log(`run ${runIdx + 1}/${RUNS} ${reg.name}: pull...`);
    const out = join(work, `pull-${reg.name.replace(/\W/g, '')}-${runIdx}`);
    const pull = await withRss(pid, () =>
      // --preserve-digests: without it skopeo gzips the (uncompressed) layers into the OCI
      // layout, and the row measures skopeo's compressor, whatever the server.
      run('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/bench/img:v1`, `oci:${out}:v1`]),
    );
    m.pulls.push(pull.result);
    m.pullCpu.push(cpuSeconds(pid) - cpu1);
    m.rssPull = Math.max(m.rssPull, pull.peak, hwm(pid));
    await rm(out, { recursive: true, force: true });
    if (runIdx === 0) {
      console.log(`${reg.name}: ${TAGS} tags...`);
      const t0 = process.hrtime.bigint();
      await seedTags(reg, TAGS);
      m.tagPushSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      m.tags = await timeTagsList(reg, TAGS);
    }
    await stop(reg.child);
    await rm(root, { recursive: true, force: true });
  }
}
for (const [name, m] of acc) {
  results[name] = {
    tags: m.tags,
    tagPushSeconds: m.tagPushSeconds,
    pushSeconds: median(m.pushes),
    pullSeconds: median(m.pulls),
    pushMBps: totalBytes / MiB / median(m.pushes),
    pullMBps: totalBytes / MiB / median(m.pulls),
    pushServerCpu: median(m.pushCpu),
    pullServerCpu: median(m.pullCpu),
    rssPushPeak: m.rssPush,
    rssPullPeak: m.rssPull,
    runs: { push: m.pushes, pull: m.pulls },
  };
}

results['null sink'] = { pushSeconds: median(sinkPushes), pushMBps: totalBytes / MiB / median(sinkPushes), runs: { push: sinkPushes } };

const a = results['regctl serve'];
const b = results['docker-registry'];
const sinkMBps = results['null sink'].pushMBps;
const rows = [
  ['skopeo push (MiB/s)', a.pushMBps.toFixed(0), b.pushMBps.toFixed(0), `${(a.pushMBps / b.pushMBps).toFixed(2)}x`, '>= 1.5x'],
  ['  ceiling: push into a null sink', sinkMBps.toFixed(0), '', `${(sinkMBps / b.pushMBps).toFixed(2)}x`, ''],
  ['  share of the ceiling reached', `${((100 * a.pushMBps) / sinkMBps).toFixed(0)}%`, `${((100 * b.pushMBps) / sinkMBps).toFixed(0)}%`, '', ''],
  ['skopeo pull (MiB/s)', a.pullMBps.toFixed(0), b.pullMBps.toFixed(0), `${(a.pullMBps / b.pullMBps).toFixed(2)}x`, '>= 1.0x'],
  ['push wall (s)', a.pushSeconds.toFixed(2), b.pushSeconds.toFixed(2), '', ''],
  ['pull wall (s)', a.pullSeconds.toFixed(2), b.pullSeconds.toFixed(2), '', ''],
  ['server CPU during push (s)', a.pushServerCpu.toFixed(2), b.pushServerCpu.toFixed(2), `${(b.pushServerCpu / a.pushServerCpu).toFixed(2)}x less`, ''],
  ['server CPU during pull (s)', a.pullServerCpu.toFixed(2), b.pullServerCpu.toFixed(2), `${(b.pullServerCpu / a.pullServerCpu).toFixed(2)}x less`, ''],
  ['server RSS peak, receiving', fmtMiB(a.rssPushPeak), fmtMiB(b.rssPushPeak), '', '< 150 MiB'],
  ['server RSS peak, serving', fmtMiB(a.rssPullPeak), fmtMiB(b.rssPullPeak), '', '< 150 MiB'],
  [`tags/list ${TAGS} tags, median (ms)`, a.tags.median.toFixed(1), b.tags.median.toFixed(1), `${(b.tags.median / a.tags.median).toFixed(1)}x faster`, '< 50 ms'],
  [`tags/list ${TAGS} tags, first (ms)`, a.tags.first.toFixed(1), b.tags.first.toFixed(1), '', ''],
  [`pushing ${TAGS} tags, 32 in flight (s)`, a.tagPushSeconds.toFixed(1), b.tagPushSeconds.toFixed(1), '', ''],
];
const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[['', 'regctl serve', 'docker-registry', 'ratio', 'target'], ...rows].map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(`\n${SIZE_MIB} MiB image, ${LAYERS} layers, ${RUNS} run(s), medians\n`);
console.log(line(['', 'regctl serve', 'docker-registry', 'ratio', 'target']));
for (const r of rows) console.log(line(r));
if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify({ ...results, meta: { sizeMiB: SIZE_MIB, layers: LAYERS, tags: TAGS, runs: RUNS } }, null, 2));
await rm(work, { recursive: true, force: true });
agent.destroy();
