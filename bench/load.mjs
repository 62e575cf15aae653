#!/usr/bin/env node
// Load test for `regctl serve` (the BUILT CLI): N concurrent clients push and pull small images
// for a while against one server, then every image still tagged is pulled back and every digest
// verified; then `regctl serve gc` runs on the result (timed) and everything is verified again.
// Usage: npm run build && node bench/load.mjs [--duration 60] [--clients 50] [--layer-kib 256]
//        [--auth] [--gc-every SECONDS --gc-grace DURATION] [--json FILE] [--keep] [--cli PATH]
//        [--compare [--rows 1,2,...] [--attack-addresses 40] [--attack-per-address 10]]
// --gc-every: also run `regctl serve gc --untagged` from a separate process that often during
// the load (grace --gc-grace, default 10s): pushes must not notice.
//
// --compare: instead, six rows of --duration seconds each (20 s is plenty), every one verified:
//   serve, Debian's docker-registry (same load), serve --htpasswd, and serve --htpasswd while
//   400 wrong-password logins arrive from 40 addresses (127.0.0.2-127.0.0.41, 10 each, as the
//   per-address limit allows; a 503 is retried after its Retry-After). In the --htpasswd rows a
//   separate logged-in client (127.0.0.1) asks GET /v2/ and HEAD of a manifest every 10 ms: its
//   p99 is the number that shows whether failed logins stall everyone else (target < 100 ms).
//   The last two rows: the logged-in client alone, then with the storm but no other load.
// Loopback only. Exit code 1 when any request failed or any digest did not verify.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort, optionOf } from './lib.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = optionOf(args);
const COMPARE = args.includes('--compare');
const DURATION_S = Number(opt('duration', COMPARE ? '20' : '60'));
const CLIENTS = Number(opt('clients', '50'));
const LAYER_KIB = Number(opt('layer-kib', '256'));
const AUTH = args.includes('--auth');
const JSON_OUT = opt('json', undefined);
const KEEP = args.includes('--keep');
const GC_EVERY_S = Number(opt('gc-every', '0'));
const GC_GRACE = opt('gc-grace', '10s');
const ATTACK_ADDRESSES = Math.min(200, Number(opt('attack-addresses', '40')));
const ATTACK_PER_ADDRESS = Math.min(100, Number(opt('attack-per-address', '10')));
// --cli: another build of regctl (e.g. an older commit's checkout) to compare with.
const cli = opt('cli', join(repoRoot, 'bin', 'regctl.js'));
// --rows 3,4: only these --compare rows (1-based).
const ROWS = opt('rows', undefined)?.split(',').map(Number);

if (!existsSync(join(dirname(cli), '..', 'dist/cli/main.js'))) {
  console.error('run `npm run build` first: the load test uses the built CLI (node bin/regctl.js serve)');
  process.exit(2);
}

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const work = await mkdtemp(join(tmpdir(), 'regctl-bench-load-'));

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

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// ---- servers

/** `regctl serve` on a fresh root; with `users`, an htpasswd file holding them. */
async function startServe(root, { users = [], extra = [] } = {}) {
  const serveArgs = ['serve', '--port', '0', '--root', root, '--no-log', '--max-uploads-per-repository', '1000', '--max-uploads', '10000', ...extra];
  if (users.length > 0) {
    const file = join(root, '..', `htpasswd-${randomBytes(4).toString('hex')}`);
    for (const u of users) await runCli(['serve', 'user', 'add', u.name, '--htpasswd', file, '--password-stdin', ...(u.cost ? ['--cost', String(u.cost)] : [])], u.password);
    serveArgs.push('--htpasswd', file);
  }
  const child = spawn(process.execPath, [cli, ...serveArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverErr = '';
  child.stderr.on('data', (c) => (serverErr += c));
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}${serverErr}`)), 20_000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${serverErr}`)));
  });
  return { name: 'regctl serve', base, child, kind: 'serve', stop: () => stopChild(child) };
}

/** Debian's docker-registry (the distribution registry) on a fresh root. */
async function startDistribution(root) {
  const port = await freePort();
  const config = join(root, '..', `registry-${port}.yml`);
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  child.on('error', (e) => (err += e.message));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${base}/v2/`);
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    if (i >= 200 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: 'docker-registry', base, child, kind: 'distribution', stop: () => stopChild(child) };
}

// ---- one load run

/**
 * CLIENTS clients push and pull for DURATION_S against `server`. docker-registry 2.8 has no
 * single-request POST upload and deletes manifests by digest only: those steps adapt to it.
 */
async function loadRun(server, { authHeader = {}, probe = false, attack = false, clients = CLIENTS } = {}) {
  const { base } = server;
  const distribution = server.kind === 'distribution';
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
      // docker-registry answers with absolute Locations.
      res = await request(/^https?:/.test(path) ? path : base + path, { method, body, headers: { ...authHeader, ...headers }, dispatcher });
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

  const withDigest = (loc, digest) => `${loc}${loc.includes('?') ? '&' : '?'}digest=${digest}`;
  async function pushBlob(repo, b, chunked) {
    const digest = sha256(b);
    const head = await call('HEAD', `/v2/${repo}/blobs/${digest}`, { expect: [200, 404] });
    if (head.status === 200) return;
    if (!chunked && !distribution) {
      await call('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: b, expect: [201] });
      return;
    }
    const start = await call('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
    let loc = start.headers.location;
    if (!chunked) {
      await call('PUT', withDigest(loc, digest), { body: b, headers: { 'content-type': 'application/octet-stream' }, expect: [201] });
      return;
    }
    // The common client flow: POST, PATCH in two chunks, PUT.
    const half = Math.floor(b.length / 2);
    const p1 = await call('PATCH', loc, { body: b.subarray(0, half), headers: { 'content-range': `0-${half - 1}`, 'content-type': 'application/octet-stream' }, expect: [202] });
    loc = p1.headers.location;
    const p2 = await call('PATCH', loc, { body: b.subarray(half), headers: { 'content-range': `${half}-${b.length - 1}`, 'content-type': 'application/octet-stream' }, expect: [202] });
    loc = p2.headers.location;
    await call('PUT', withDigest(loc, digest), { expect: [201] });
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

  // Log in once (verified logins are cached) before the clock starts; not counted.
  await call('GET', '/v2/', { expect: [200] });
  latencies.length = 0;
  requests = 0;
  const pushed = new Map(); // "repo:tag" -> manifest digest (what must still be there)
  const deadline = Date.now() + DURATION_S * 1000;
  const cpu0 = cpuSeconds(server.child.pid);
  const gcDuring = [];
  const gcLoop = (async () => {
    if (!(GC_EVERY_S > 0) || !server.root) return;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, GC_EVERY_S * 1000));
      if (Date.now() >= deadline) break;
      const t = performance.now();
      try {
        const r = JSON.parse(await runCli(['--json', 'serve', 'gc', '--root', server.root, '--grace', GC_GRACE, '--untagged']));
        gcDuring.push({ seconds: (performance.now() - t) / 1000, removed: r.removed.length });
      } catch (e) {
        errors.push(`gc during load: ${e.message}`);
      }
    }
  })();
  const probeRun = probe ? probeLoop(base, authHeader, deadline) : undefined;
  const attackRun = attack ? attackLoop(base, deadline) : undefined;
  let pushes = 0;
  let pulls = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
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
          // Every third image is untagged again (deleted, on docker-registry), so gc has something to
          // collect: each client's first one too, so a short run on a busy machine has some.
          if (n % 3 === 0) {
            await call('DELETE', `/v2/${repo}/manifests/${distribution ? img.digest : tag}`, { expect: [202] });
            pushed.delete(`${repo}:${tag}`);
          }
        } catch (e) {
          if (!errors.includes(e.message)) errors.push(e.message);
        }
      }
    }),
  );
  await gcLoop;
  const probeResult = await probeRun;
  const elapsed = (performance.now() - t0) / 1000;
  const attackResult = await attackRun;
  const serverCpu = cpuSeconds(server.child.pid) - cpu0;
  if (probeResult) errors.push(...probeResult.errors);

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
  const stats = {
    server: server.name,
    clients,
    durationSeconds: round(elapsed),
    layerKiB: LAYER_KIB,
    pushes,
    pulls,
    requests,
    requestsPerSecond: Math.round(requests / elapsed),
    imagesPerSecond: round(pushes / elapsed),
    uploadMiBps: round(bytesUp / elapsed / 2 ** 20),
    downloadMiBps: round(bytesDown / elapsed / 2 ** 20),
    latencyMs: percentiles(latencies),
    serverCpuSeconds: round(serverCpu),
    tagged: pushed.size,
    verified,
    gcDuringLoad: { runs: gcDuring.length, removed: gcDuring.reduce((n, g) => n + g.removed, 0), maxSeconds: round(Math.max(0, ...gcDuring.map((g) => g.seconds)), 2) },
    ...(probeResult ? { probe: { requests: probeResult.latencies.length, latencyMs: percentiles(probeResult.latencies) } } : {}),
    ...(attackResult ? { attack: attackResult } : {}),
    errors: errors.length,
    firstErrors: errors.slice(0, 5),
  };
  return { stats, errors, pushed, verifyAll, dispatcher };
}

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return { p50: round(pct(50)), p99: round(pct(99)), max: round(pct(100)) };
}

/** A logged-in client on its own connection: GET /v2/ and HEAD of a manifest, every 10 ms. */
async function probeLoop(base, authHeader, deadline) {
  const dispatcher = new Agent({ connections: 1 });
  const latencies = [];
  const errors = [];
  for (let i = 0; Date.now() < deadline; i++) {
    const path = i % 2 === 0 ? '/v2/' : '/v2/load/c0/r0/manifests/t0';
    const t = performance.now();
    try {
      const res = await request(base + path, { method: i % 2 === 0 ? 'GET' : 'HEAD', headers: authHeader, dispatcher });
      await res.body.dump();
      latencies.push(performance.now() - t);
      if (![200, 404].includes(res.statusCode)) errors.push(`probe ${path}: ${res.statusCode}`);
    } catch (e) {
      errors.push(`probe ${path}: ${e.message}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await dispatcher.close();
  return { latencies, errors };
}

/**
 * Wrong passwords from ATTACK_ADDRESSES loopback addresses, ATTACK_PER_ADDRESS each, all
 * addresses at once; a 503 (check queue full) is retried after its Retry-After, as a
 * determined attacker would. Half guess at a real user, half at names that do not exist.
 */
async function attackLoop(base, deadline) {
  const counts = {};
  let checkedBy = 0;
  const t0 = performance.now();
  const one = (localAddress, authorization) =>
    new Promise((resolve) => {
      const req = httpRequest(`${base}/v2/`, { headers: { authorization }, agent: false, localAddress }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, retryAfter: Number(res.headers['retry-after'] ?? 1) }));
      });
      req.on('error', (e) => resolve({ status: `error ${e.code ?? e.message}`, retryAfter: 1 }));
      req.end();
    });
  await Promise.all(
    Array.from({ length: ATTACK_ADDRESSES }, async (_, a) => {
      const address = `127.0.0.${2 + a}`;
      for (let i = 0; i < ATTACK_PER_ADDRESS && Date.now() < deadline; ) {
        const user = i % 2 === 0 ? 'load' : `nobody${a}`;
        const r = await one(address, `Basic ${Buffer.from(`${user}:guess-${a}-${i}`).toString('base64')}`);
        counts[r.status] = (counts[r.status] ?? 0) + 1;
        if (r.status === 503) {
          await new Promise((res) => setTimeout(res, Math.min(5, r.retryAfter) * 1000));
          continue;
        }
        i++;
        checkedBy = performance.now() - t0;
      }
    }),
  );
  return { addresses: ATTACK_ADDRESSES, perAddress: ATTACK_PER_ADDRESS, statuses: counts, lastAnswerSeconds: round(checkedBy / 1000) };
}

// ---- the classic run: one serve, verify, gc, verify

async function classic() {
  const root = join(work, 'root');
  let authHeader = {};
  let users = [];
  if (AUTH) {
    const password = randomBytes(12).toString('hex');
    users = [{ name: 'load', password, cost: 4 }];
    authHeader = { authorization: `Basic ${Buffer.from(`load:${password}`).toString('base64')}` };
  }
  const server = await startServe(root, { users, extra: AUTH ? ['--login-attempts-per-minute', '1000'] : [] });
  server.root = root;
  const run = await loadRun(server, { authHeader });
  const { stats, errors, pushed } = run;
  // gc on the result while the server still runs; then everything tagged must still pull.
  const gcStart = performance.now();
  const gcReport = JSON.parse(await runCli(['--json', 'serve', 'gc', '--root', root, '--grace', '0s', '--untagged']));
  const gcSeconds = (performance.now() - gcStart) / 1000;
  const verifiedAfterGc = await run.verifyAll();
  await server.stop();
  await run.dispatcher.close();
  const result = {
    ...stats,
    auth: AUTH,
    verifiedAfterGc,
    gc: { seconds: round(gcSeconds, 2), removed: gcReport.removed.length, bytesReclaimed: gcReport.bytesReclaimed, repositories: gcReport.repositories },
    errors: errors.length,
    firstErrors: errors.slice(0, 5),
  };
  console.log(
    `${CLIENTS} clients, ${result.durationSeconds} s: ${result.pushes} pushes, ${result.pulls} pulls, ${result.requests} requests (${result.requestsPerSecond}/s, ${result.imagesPerSecond} images/s), ` +
      `up ${result.uploadMiBps} MiB/s, down ${result.downloadMiBps} MiB/s; latency p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`,
  );
  console.log(`verified ${result.verified}/${pushed.size} tagged images; gc ${result.gc.seconds} s removed ${result.gc.removed} items (${result.gc.bytesReclaimed} bytes); verified again ${verifiedAfterGc}/${pushed.size}; errors ${errors.length}`);
  if (result.gcDuringLoad.runs > 0) console.log(`gc during the load: ${result.gcDuringLoad.runs} runs removed ${result.gcDuringLoad.removed} items (longest ${result.gcDuringLoad.maxSeconds} s)`);
  for (const e of result.firstErrors) console.log(`  error: ${e}`);
  if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify(result, null, 2));
  return errors.length === 0 && result.verified === pushed.size && verifiedAfterGc === pushed.size;
}

// ---- --compare: serve vs docker-registry, and serve under a failed-login storm

async function compare() {
  const password = randomBytes(12).toString('hex');
  // Real users have the default cost (10): a failed login costs what it costs in production.
  const users = [{ name: 'load', password }];
  const authHeader = { authorization: `Basic ${Buffer.from(`load:${password}`).toString('base64')}` };
  const rows = [
    { name: 'regctl serve', start: (root) => startServe(root) },
    { name: 'docker-registry', start: (root) => startDistribution(root) },
    { name: 'serve --htpasswd', start: (root) => startServe(root, { users }), auth: true },
    { name: 'serve --htpasswd + 400 failed logins', start: (root) => startServe(root, { users }), auth: true, attack: true },
    { name: 'serve --htpasswd, no load', start: (root) => startServe(root, { users }), auth: true, clients: 0 },
    { name: 'serve --htpasswd, 400 failed logins, no load', start: (root) => startServe(root, { users }), auth: true, attack: true, clients: 0 },
  ];
  const results = [];
  let ok = true;
  for (const [i, row] of rows.entries()) {
    if (ROWS && !ROWS.includes(i + 1)) continue;
    const server = await row.start(join(work, `root-${i}`));
    try {
      const run = await loadRun(server, { ...(row.auth ? { authHeader, probe: true } : {}), attack: row.attack, clients: row.clients ?? CLIENTS });
      await run.dispatcher.close();
      results.push({ row: row.name, ...run.stats });
      ok &&= run.errors.length === 0 && run.stats.verified === run.stats.tagged;
    } finally {
      await server.stop();
    }
  }
  const head = ['row', 'req/s', 'images/s', 'p50 ms', 'p99 ms', 'server CPU s', 'errors', 'verified', 'logged-in probe p50/p99/max ms', 'failed logins'];
  const table = results.map((r) => [
    r.row,
    String(r.requestsPerSecond),
    String(r.imagesPerSecond),
    r.requests > 0 ? String(r.latencyMs.p50) : '-',
    r.requests > 0 ? String(r.latencyMs.p99) : '-',
    String(r.serverCpuSeconds),
    String(r.errors),
    `${r.verified}/${r.tagged}`,
    r.probe ? `${r.probe.latencyMs.p50} / ${r.probe.latencyMs.p99} / ${r.probe.latencyMs.max} (${r.probe.requests})` : '',
    r.attack ? `${Object.entries(r.attack.statuses).map(([s, n]) => `${n}x${s}`).join(' ')}, last at ${r.attack.lastAnswerSeconds} s` : '',
  ]);
  const widths = head.map((_, c) => Math.max(...[head, ...table].map((r) => r[c].length)));
  for (const r of [head, ...table]) console.log(r.map((v, c) => v.padEnd(widths[c])).join(' | '));
  for (const r of results) for (const e of r.firstErrors) console.log(`  ${r.row} error: ${e}`);
  for (const storm of results.filter((r) => r.attack && r.probe)) {
    console.log(`logged-in client, ${storm.row}: p99 ${storm.probe.latencyMs.p99} ms (target < 100 ms): ${storm.probe.latencyMs.p99 < 100 ? 'met' : 'NOT met'}`);
  }
  if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify(results, null, 2));
  return ok;
}

let ok = false;
try {
  ok = COMPARE ? await compare() : await classic();
} finally {
  if (!KEEP) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
process.exit(ok ? 0 : 1);
