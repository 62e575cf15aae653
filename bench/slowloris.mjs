#!/usr/bin/env node
// Slow bodies against `regctl serve` (the BUILT CLI): N connections each start a chunked blob
// upload (PATCH) and trickle a few bytes every 2 s (alive for the idle timeout, never done),
// while a few normal clients push small blobs and read them back. Reports the normal requests'
// successes, failures and p50/p99, first without and then with the slow connections.
// The server runs under `ulimit -n 1024` (a common default), where the issue saw fd exhaustion.
// Usage: npm run build && node bench/slowloris.mjs [--slow 300] [--seconds 15] [--clients 8] [--fd-limit 1024]
// Loopback only (127.0.0.1); bounded in connections and time. Exit 1 when a normal request failed.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { optionOf } from './lib.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = optionOf(args);
const SLOW = Math.min(Number(opt('slow', '300')), 2000);
const SECONDS = Math.min(Number(opt('seconds', '15')), 120);
const CLIENTS = Math.min(Number(opt('clients', '8')), 64);
const FD_LIMIT = Number(opt('fd-limit', '1024'));

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const work = await mkdtemp(join(tmpdir(), 'regctl-bench-slow-'));
const cli = join(repoRoot, 'bin', 'regctl.js');
const server = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, cli, 'serve', '--port', '0', '--root', join(work, 'root'), '--no-log', '--max-uploads', '5000', '--max-uploads-per-repository', '5000'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
let err = '';
server.stdout.on('data', (c) => (out += c));
server.stderr.on('data', (c) => (err += c));
const url = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 20_000);
  server.stdout.on('data', () => {
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      clearTimeout(t);
      resolve(m[1]);
    }
  });
  server.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
});
const port = Number(new URL(url).port);
const agent = new Agent({ connections: CLIENTS, keepAliveTimeout: 4_000 });

async function normalClient(stopAt, stats) {
  while (Date.now() < stopAt) {
    const blob = randomBytes(4096);
    const digest = sha256(blob);
    const t0 = performance.now();
    try {
      const put = await request(`${url}/v2/bench/normal/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, dispatcher: agent });
      await put.body.dump();
      const get = await request(`${url}/v2/bench/normal/blobs/${digest}`, { dispatcher: agent });
      const body = Buffer.from(await get.body.arrayBuffer());
      if (put.statusCode !== 201 || get.statusCode !== 200 || sha256(body) !== digest) throw new Error(`${put.statusCode}/${get.statusCode}`);
      stats.ok++;
      stats.ms.push(performance.now() - t0);
    } catch (e) {
      stats.failed++;
      stats.errors.add(String(e?.code ?? e?.message ?? e).slice(0, 80));
    }
  }
}

async function phase(name, seconds) {
  const stats = { ok: 0, failed: 0, ms: [], errors: new Set() };
  const stopAt = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, () => normalClient(stopAt, stats)));
  stats.ms.sort((a, b) => a - b);
  const q = (p) => (stats.ms.length ? stats.ms[Math.min(stats.ms.length - 1, Math.floor(p * stats.ms.length))].toFixed(1) : '-');
  console.log(`${name}: ${stats.ok} push+pull ok, ${stats.failed} failed${stats.errors.size ? ` (${[...stats.errors].join(', ')})` : ''}, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`);
  return stats;
}

/** One slow upload: POST a session, then PATCH chunked, a few bytes every 2 s, never finishing. */
function slowUpload(stopAt, slow) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let timer;
    let patching = false;
    const done = () => {
      clearInterval(timer);
      s.destroy();
      resolve();
    };
    s.on('error', () => {
      slow.errors++;
      done();
    });
    s.on('close', () => {
      if (Date.now() < stopAt) slow.closedEarly++;
      done();
    });
    s.on('data', (c) => {
      buf += c.toString('latin1');
      if (patching) {
        // Anything on the PATCH connection before we stop is a refusal (503 over the cap).
        if (/^HTTP\/1\.1 503/.test(buf)) slow.refused++;
        return;
      }
      const m = /^HTTP\/1\.1 (\d+)[\s\S]*?\r\nlocation: (\S+)[\s\S]*?\r\n\r\n/i.exec(buf);
      if (!m) {
        if (/^HTTP\/1\.1 503/.test(buf)) {
          slow.refused++;
          done();
        }
        return;
      }
      patching = true;
      buf = '';
      slow.open++;
      s.write(`PATCH ${m[2]} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`);
      timer = setInterval(() => {
        if (Date.now() >= stopAt) return done();
        s.write('10\r\n0123456789abcdef\r\n');
      }, 2000);
    });
    s.write('POST /v2/bench/slow/blobs/uploads/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
  });
}

let code = 0;
try {
  console.log(`regctl serve under ulimit -n ${FD_LIMIT}; ${CLIENTS} normal clients (4 KiB blob push + pull each round)`);
  const base = await phase(`normal traffic alone, ${SECONDS}s`, SECONDS);
  const slow = { open: 0, refused: 0, errors: 0, closedEarly: 0 };
  const slowStop = Date.now() + SECONDS * 1000 + 8_000;
  const slowDone = Promise.all(Array.from({ length: SLOW }, () => slowUpload(slowStop, slow)));
  // Let the slow connections all get their sessions before measuring.
  const settle = Date.now() + 8_000;
  while (slow.open + slow.refused + slow.errors < SLOW && Date.now() < settle) await new Promise((r) => setTimeout(r, 100));
  const under = await phase(`with ${SLOW} slow-body connections (${slow.open} trickling, ${slow.refused} refused 503), ${SECONDS}s`, SECONDS);
  console.log(`slow connections: ${slow.open} trickling uploads, ${slow.refused} refused with 503, ${slow.errors} socket errors, ${slow.closedEarly} closed early by the server`);
  await slowDone;
  const alive = server.exitCode === null;
  console.log(`server still running: ${alive}`);
  if (base.failed > 0 || under.failed > 0 || !alive) code = 1;
} finally {
  await agent.close();
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
  await rm(work, { recursive: true, force: true });
}
process.exit(code);
