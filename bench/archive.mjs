#!/usr/bin/env node
// Benchmark: `regctl import` of a large `docker save` archive into `regctl serve`, and
// `regctl export` back to a docker-archive, sampling the client's RSS while it runs.
// Run `npm run build` first. Usage: node bench/archive.mjs [--size-mib N] [--layers N] [--quick] [--json FILE]
// Only 127.0.0.1 is used. See bench/README.md (section "docker-archive import/export").
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';
import { freePort, randomStream } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'regctl.js');
const argv = process.argv.slice(2);
const value = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const QUICK = argv.includes('--quick');
const MiB = 1024 * 1024;
const TOTAL = Number(value('--size-mib', QUICK ? '64' : '1024')) * MiB;
const LAYERS = Number(value('--layers', '4'));
const RSS_TARGET_MIB = 150;

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('bench: dist/ is missing: run `npm run build` first');
  process.exit(1);
}

const work = await mkdtemp(join(tmpdir(), 'regctl-bench-archive-'));
const env = { ...process.env, REGCTL_CONFIG_DIR: join(work, 'cfg'), DOCKER_CONFIG: join(work, 'docker'), NO_COLOR: '1' };
const cleanups = [];

const pad512 = (n) => Math.ceil(n / 512) * 512;

/** Add an entry to a pack from a stream of exactly `size` bytes. */
function entry(pack, header, body) {
  return new Promise((resolve, reject) => {
    const sink = pack.entry({ mtime: new Date(0), ...header }, (err) => (err ? reject(err) : resolve()));
    pipeline(body, sink).catch(reject);
  });
}

/**
 * A classic docker save archive written the way docker writes it (layers first, config and
 * manifest.json last), so a reader must get through every byte before it knows what is what.
 * Each layer is a real tar holding one file of incompressible data.
 */
async function makeArchive(file) {
  const outer = tar.pack();
  const written = pipeline(outer, createWriteStream(file));
  const per = Math.floor(TOTAL / LAYERS);
  const diffIds = [];
  const paths = [];
  for (let i = 0; i < LAYERS; i++) {
    const inner = tar.pack();
    const innerSize = 512 + pad512(per) + 1024;
    const h = createHash('sha256');
    let n = 0;
    const tap = new Transform({
      transform(c, _e, cb) {
        h.update(c);
        n += c.length;
        cb(null, c);
      },
    });
    const innerDone = entry(inner, { name: `data/layer${i}.bin`, size: per }, randomStream(`layer-${i}`, per)).then(() => inner.finalize());
    const path = `layer${i}/layer.tar`;
    await Promise.all([innerDone, entry(outer, { name: path, size: innerSize }, inner.pipe(tap))]);
    if (n !== innerSize) throw new Error(`inner tar size ${n} != ${innerSize}`);
    diffIds.push(`sha256:${h.digest('hex')}`);
    paths.push(path);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created_by: 'bench' })),
    }),
  );
  const cfgHex = createHash('sha256').update(config).digest('hex');
  await entry(outer, { name: `${cfgHex}.json`, size: config.length }, Readable.from([config]));
  const manifest = Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['bench/big:1'], Layers: paths }]));
  await entry(outer, { name: 'manifest.json', size: manifest.length }, Readable.from([manifest]));
  outer.finalize();
  await written;
  return { config: `sha256:${cfgHex}`, diffIds };
}

async function startServe() {
  const dir = join(work, 'serve');
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--root', dir, '--no-log'], { stdio: 'ignore', env });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  );
  return `127.0.0.1:${port}`;
}

/** Read VmHWM (peak RSS) of a process from /proc, in KiB. */
async function peakKiB(pid) {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Run the built CLI, sampling its peak RSS every 20 ms. */
async function run(args, { stdinFile } = {}) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  if (stdinFile) pipeline(createReadStream(stdinFile), child.stdin).catch(() => {});
  let peak = 0;
  const timer = setInterval(async () => {
    peak = Math.max(peak, await peakKiB(child.pid));
  }, 20);
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`regctl ${args.join(' ')} failed (${code}): ${err.trim()}`);
  return { seconds, peakMiB: peak / 1024, out: out.trim() };
}

try {
  const file = join(work, 'big.tar');
  console.error(`bench: writing a ${(TOTAL / MiB).toFixed(0)} MiB docker-archive (${LAYERS} layers, manifest.json last)...`);
  const made = await makeArchive(file);
  const size = (await stat(file)).size;
  const registry = await startServe();
  const rows = [];
  const row = (name, r, bytes) => {
    rows.push({ name, seconds: r.seconds, mibPerS: bytes / MiB / r.seconds, peakRssMiB: r.peakMiB });
    console.error(`  ${name}: ${r.seconds.toFixed(2)} s, ${(bytes / MiB / r.seconds).toFixed(0)} MiB/s, peak RSS ${r.peakMiB.toFixed(0)} MiB`);
  };
  row('import FILE (gzip while streaming)', await run(['import', file, `${registry}/bench/big:gz`]), size);
  row('import --no-compress FILE', await run(['import', '--no-compress', file, `${registry}/bench/big:raw`]), size);
  row('import - (stdin, spooled)', await run(['import', '-', `${registry}/bench/big:stdin`], { stdinFile: file }), size);
  const out = join(work, 'export.tar');
  row('export to docker-archive (gunzip, diff_ids checked)', await run(['export', `${registry}/bench/big:gz`, out]), size);
  // The export must hold the same config and layers that went in.
  const manifest = JSON.parse(
    await new Promise((resolve, reject) => {
      const ex = tar.extract();
      ex.on('entry', (h, s, next) => {
        if (h.name === 'manifest.json') {
          let t = '';
          s.on('data', (c) => (t += c));
          s.on('end', () => resolve(t));
        } else s.resume();
        s.on('end', next);
      });
      ex.on('error', reject);
      createReadStream(out).pipe(ex);
    }),
  );
  const ok = manifest[0].Config === `${made.config.slice(7)}.json` && manifest[0].Layers.join() === made.diffIds.map((d) => `${d.slice(7)}/layer.tar`).join();
  const maxRss = Math.max(...rows.map((r) => r.peakRssMiB));
  console.log(`\n| run (${(size / MiB).toFixed(0)} MiB archive, ${LAYERS} layers) | wall s | MiB/s | peak RSS MiB |`);
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mibPerS.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`);
  console.log(`\nexport matches import (config, diff_ids): ${ok ? 'yes' : 'NO'}`);
  console.log(`peak RSS ${maxRss.toFixed(0)} MiB (target < ${RSS_TARGET_MIB} MiB): ${maxRss < RSS_TARGET_MIB ? 'met' : 'MISSED'}`);
  const json = value('--json');
  if (json) await writeFile(json, JSON.stringify({ archiveBytes: size, layers: LAYERS, rows, exportMatches: ok }, null, 2));
  if (!ok) process.exitCode = 1;
} finally {
  for (const c of cleanups.reverse()) await c();
  await rm(work, { recursive: true, force: true });
}
