#!/usr/bin/env node
// Load test for `regctl serve` (the BUILT CLI): N concurrent clients push and pull small images
// for a while against one server, then every image still tagged is pulled back and every digest
// verified; then `regctl serve gc` runs on the result (timed) and everything is verified again.
// Usage: npm run build && node bench/load.mjs [--duration 60] [--clients 50] [--layer-kib 256]
//        [--auth] [--gc-every SECONDS --gc-grace DURATION] [--json FILE] [--keep]
// --gc-every: also run `regctl serve gc --untagged` from a separate process that often during
// the load (grace --gc-grace, default 10s): pushes must not notice.
// Loopback only (127.0.0.1). Exit code 1 when any request failed or any digest did not verify.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const DURATION_S = Number(opt('duration', '60'));
const CLIENTS = Number(opt('clients', '50'));
const LAYER_KIB = Number(opt('layer-kib', '256'));
const AUTH = args.includes('--auth');
const JSON_OUT = opt('json', undefined);
const KEEP = args.includes('--keep');
const GC_EVERY_S = Number(opt('gc-every', '0'));
const GC_GRACE = opt('gc-grace', '10s');
const cli = join(repoRoot, 'bin', 'regctl.js');

if (!existsSync(join(repoRoot, 'dist/cli/main.js'))) {
  console.error('run `npm run build` first: the load test uses the built CLI (node bin/regctl.js serve)');
  process.exit(2);
}

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const work = await mkdtemp(join(tmpdir(), 'regctl-bench-load-'));
const root = join(work, 'root');

function runCli(argv, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`regctl ${argv.join(' ')}: exit ${code}: ${err}`))));
    child.stdin.end(input ?? '');
  });
}

// ---- server
const serveArgs = ['serve', '--port', '0', '--root', root, '--no-log', '--max-uploads-per-repository', '1000', '--max-uploads', '10000'];
let authHeader = {};
if (AUTH) {
  const password = randomBytes(12).toString('hex');
  await runCli(['serve', 'user', 'add', 'load', '--htpasswd', join(work, 'htpasswd'), '--password-stdin', '--cost', '4'], password);
  serveArgs.push('--htpasswd', join(work, 'htpasswd'), '--login-attempts-per-minute', '1000');
  authHeader = { authorization: `Basic ${Buffer.from(`load:${password}`).toString('base64')}` };
}
const server = spawn(process.execPath, [cli, ...serveArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
let serverErr = '';
server.stderr.on('data', (c) => (serverErr += c));
const base = await new Promise((resolve, reject) => {
  let out = '';
  const t = setTimeout(() => reject(new Error(`serve did not start: ${out}${serverErr}`)), 20_000);
  server.stdout.on('data', (c) => {
    out += c;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      clearTimeout(t);
      resolve(m[1]);
    }
  });
  server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${serverErr}`)));
});
const stopServer = async () => {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
};

// ---- client side
const dispatcher = new Agent({ connections: CLIENTS * 2, pipelining: 1 });
const latencies = [];
const errors = [];
let bytesUp = 0;
let bytesDown = 0;
let requests = 0;

async function call(method, path, { body, headers = {}, expect: want } = {}) {
  const t = performance.now();
  let res;
  try {
    res = await request(base + path, { method, body, headers: { ...authHeader, ...headers }, dispatcher });
  } catch (e) {
    errors.push(`${method} ${path}: ${e.message}`);
    throw e;
  }
  const data = Buffer.from(await res.body.arrayBuffer());
  latencies.push(performance.now() - t);
  requests++;
  if (body) bytesUp += body.length;
  bytesDown += data.length;
  if (!want.includes(res.statusCode)) {
    const msg = `${method} ${path}: ${res.statusCode} ${data.toString('utf8').slice(0, 200)}`;
    errors.push(msg);
    throw new Error(msg);
  }
  return { status: res.statusCode, headers: res.headers, data };
}

/** A small image: random config, one per-client random layer, one layer shared by all clients. */
const shared = randomBytes(LAYER_KIB * 1024);
function makeImage(client) {
  const layer = randomBytes(LAYER_KIB * 1024);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer), sha256(shared)] }, nonce: randomBytes(8).toString('hex'), client }));
  const desc = (b, mediaType) => ({ mediaType, digest: sha256(b), size: b.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: desc(config, 'application/vnd.oci.image.config.v1+json'),
      layers: [desc(layer, 'application/vnd.oci.image.layer.v1.tar'), desc(shared, 'application/vnd.oci.image.layer.v1.tar')],
    }),
  );
  return { manifest, digest: sha256(manifest), blobs: [config, layer, shared] };
}

async function pushBlob(repo, b, chunked) {
  const digest = sha256(b);
  const head = await call('HEAD', `/v2/${repo}/blobs/${digest}`, { expect: [200, 404] });
  if (head.status === 200) return;
  if (!chunked) {
    await call('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: b, expect: [201] });
    return;
  }
  // The common client flow: POST, PATCH in two chunks, PUT.
  const start = await call('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
  let loc = start.headers.location;
  const half = Math.floor(b.length / 2);
  const p1 = await call('PATCH', loc, { body: b.subarray(0, half), headers: { 'content-range': `0-${half - 1}`, 'content-type': 'application/octet-stream' }, expect: [202] });
  loc = p1.headers.location;
  const p2 = await call('PATCH', loc, { body: b.subarray(half), headers: { 'content-range': `${half}-${b.length - 1}`, 'content-type': 'application/octet-stream' }, expect: [202] });
  loc = p2.headers.location;
  await call('PUT', `${loc}${loc.includes('?') ? '&' : '?'}digest=${digest}`, { expect: [201] });
}

async function pull(repo, tag, want) {
  const m = await call('GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }, expect: [200] });
  if (sha256(m.data) !== want) throw new Error(`${repo}:${tag}: manifest digest ${sha256(m.data)}, expected ${want}`);
  const doc = JSON.parse(m.data.toString('utf8'));
  for (const d of [doc.config, ...doc.layers]) {
    const b = await call('GET', `/v2/${repo}/blobs/${d.digest}`, { expect: [200] });
    if (sha256(b.data) !== d.digest) throw new Error(`${repo}: blob ${d.digest} came back as ${sha256(b.data)}`);
  }
}

const pushed = new Map(); // "repo:tag" -> manifest digest (what must still be there)
const deadline = Date.now() + DURATION_S * 1000;
const gcDuring = [];
const gcLoop = (async () => {
  if (!(GC_EVERY_S > 0)) return;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, GC_EVERY_S * 1000));
    if (Date.now() >= deadline) break;
    const t = performance.now();
    try {
      const r = JSON.parse(await runCli(['--json', 'serve', 'gc', '--root', root, '--grace', GC_GRACE, '--untagged']));
      gcDuring.push({ seconds: (performance.now() - t) / 1000, removed: r.removed.length });
    } catch (e) {
      errors.push(`gc during load: ${e.message}`);
    }
  }
})();
let pushes = 0;
let pulls = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: CLIENTS }, async (_, client) => {
    const repo = `load/c${client % 10}/r${client}`;
    for (let n = 0; Date.now() < deadline; n++) {
      try {
        const img = makeImage(client);
        for (const [i, b] of img.blobs.entries()) await pushBlob(repo, b, i === 1);
        const tag = `t${n}`;
        await call('PUT', `/v2/${repo}/manifests/${tag}`, { body: img.manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, expect: [201] });
        pushed.set(`${repo}:${tag}`, img.digest);
        pushes++;
        // Pull back something this client pushed earlier (or just now).
        const back = Math.floor(Math.random() * (n + 1));
        if (pushed.has(`${repo}:t${back}`)) {
          await pull(repo, `t${back}`, pushed.get(`${repo}:t${back}`));
          pulls++;
        }
        // Every third image is untagged again, so gc has something to collect afterwards.
        if (n % 3 === 2) {
          await call('DELETE', `/v2/${repo}/manifests/${tag}`, { expect: [202] });
          pushed.delete(`${repo}:${tag}`);
        }
      } catch (e) {
        if (!errors.includes(e.message)) errors.push(e.message);
      }
    }
  }),
);
await gcLoop;
const elapsed = (performance.now() - t0) / 1000;
const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function verifyAll() {
  let n = 0;
  const entries = [...pushed];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let e = entries.shift(); e; e = entries.shift()) {
        const [ref, digest] = e;
        const i = ref.lastIndexOf(':');
        try {
          await pull(ref.slice(0, i), ref.slice(i + 1), digest);
          n++;
        } catch (err) {
          errors.push(`verify ${ref}: ${err.message}`);
        }
      }
    }),
  );
  return n;
}
const verified = await verifyAll();

// gc on the result while the server still runs; then everything tagged must still pull.
const gcStart = performance.now();
const gcReport = JSON.parse(await runCli(['--json', 'serve', 'gc', '--root', root, '--grace', '0s', '--untagged']));
const gcSeconds = (performance.now() - gcStart) / 1000;
const verifiedAfterGc = await verifyAll();

await stopServer();
await dispatcher.close();
const result = {
  clients: CLIENTS,
  durationSeconds: Math.round(elapsed * 10) / 10,
  layerKiB: LAYER_KIB,
  auth: AUTH,
  pushes,
  pulls,
  requests,
  requestsPerSecond: Math.round(requests / elapsed),
  imagesPerSecond: Math.round((pushes / elapsed) * 10) / 10,
  uploadMiBps: Math.round((bytesUp / elapsed / 2 ** 20) * 10) / 10,
  downloadMiBps: Math.round((bytesDown / elapsed / 2 ** 20) * 10) / 10,
  latencyMs: { p50: Math.round(pct(50) * 10) / 10, p99: Math.round(pct(99) * 10) / 10, max: Math.round(pct(100) * 10) / 10 },
  tagged: pushed.size,
  verified,
  verifiedAfterGc,
  gc: { seconds: Math.round(gcSeconds * 100) / 100, removed: gcReport.removed.length, bytesReclaimed: gcReport.bytesReclaimed, repositories: gcReport.repositories },
  gcDuringLoad: { runs: gcDuring.length, removed: gcDuring.reduce((n, g) => n + g.removed, 0), maxSeconds: Math.round(Math.max(0, ...gcDuring.map((g) => g.seconds)) * 100) / 100 },
  errors: errors.length,
  firstErrors: errors.slice(0, 5),
};
console.log(
  `${CLIENTS} clients, ${result.durationSeconds} s: ${pushes} pushes, ${pulls} pulls, ${requests} requests (${result.requestsPerSecond}/s, ${result.imagesPerSecond} images/s), ` +
    `up ${result.uploadMiBps} MiB/s, down ${result.downloadMiBps} MiB/s; latency p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`,
);
console.log(`verified ${verified}/${pushed.size} tagged images; gc ${result.gc.seconds} s removed ${result.gc.removed} items (${result.gc.bytesReclaimed} bytes); verified again ${verifiedAfterGc}/${pushed.size}; errors ${errors.length}`);
if (gcDuring.length > 0) console.log(`gc during the load: ${result.gcDuringLoad.runs} runs removed ${result.gcDuringLoad.removed} items (longest ${result.gcDuringLoad.maxSeconds} s)`);
for (const e of result.firstErrors) console.log(`  error: ${e}`);
if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify(result, null, 2));
if (!KEEP) await rm(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
process.exit(errors.length === 0 && verified === pushed.size && verifiedAfterGc === pushed.size ? 0 : 1);
