#!/usr/bin/env node
// Benchmark: `regctl copy` (the built CLI) against Debian's skopeo, between two `regctl serve`
// instances and between two Debian docker-registry instances, on generated incompressible data.
// Run `npm run build` first. Usage: node bench/copy.mjs [--runs N] [--quick] [--json FILE]
// Only 127.0.0.1 is used. See bench/README.md for what each row measures and the targets.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { median } from './lib.mjs';
import { cliArgs, copyBench, pushImage, pushManyTags, pushMultiArch } from './registries.mjs';

const { flag, value } = cliArgs();
const QUICK = flag('--quick');
const RUNS = Number(value('--runs', QUICK ? '1' : '3'));
const MiB = 1024 * 1024;
const BIG_LAYER = (QUICK ? 20 : 100) * MiB;
const TAGS = QUICK ? 200 : 1200;

const { work, client, cleanups, startServe, startDistribution, regctl, skopeo, skopeoCopy } = await copyBench('regctl-bench-');

async function seed(src) {
  const t0 = performance.now();
  const big = client.repository(src.registry, 'bench/big');
  const bigImg = await pushImage(big, 'big', Array(5).fill(BIG_LAYER));
  await big.putManifest('v1', bigImg.data);

  const medium = client.repository(src.registry, 'bench/medium');
  const medImg = await pushImage(medium, 'medium', QUICK ? [4 * MiB, 2 * MiB] : [30 * MiB, 15 * MiB, 5 * MiB]);
  await medium.putManifest('v1', medImg.data);

  const multi = client.repository(src.registry, 'bench/multi');
  await pushMultiArch(multi, 'multi', [5 * MiB, 5 * MiB], 'v1');

  const many = client.repository(src.registry, 'bench/many');
  await pushManyTags(many, 'many', TAGS);
  return { seconds: (performance.now() - t0) / 1000 };
}

// ---- measuring -------------------------------------------------------------------------------


/** Both tools must have made the same image: the destination's digest is the source's. */
async function sameImage(src, dst, path, tool) {
  const [repo, tag] = path.split(':');
  const want = await client.repository(src.registry, repo).headManifest(tag);
  const got = await client.repository(dst.registry, repo).headManifest(tag);
  if (!got || got.digest !== want?.digest) throw new Error(`${tool} changed ${path}: ${want?.digest} -> ${got?.digest}`);
}

/** Copy into a fresh destination each run (so nothing is skipped), median of RUNS. */
async function freshCopies(kind, startDst, src, path, tool) {
  const results = [];
  for (let i = 0; i < RUNS; i++) {
    const dst = await startDst();
    try {
      const r = tool === 'regctl'
        ? await regctl('copy', '--progress', 'none', `${src.registry}/${path}`, `${dst.registry}/${path}`)
        : await skopeoCopy(`${src.registry}/${path}`, `${dst.registry}/${path}`);
      await sameImage(src, dst, path, tool);
      results.push(r);
    } finally {
      await dst.close();
    }
  }
  const wall = median(results.map((r) => r.wall));
  return { wall, cpu: median(results.map((r) => r.cpu)), rssMiB: Math.max(...results.map((r) => r.rssMiB)), kind };
}

// ---- the benchmark ---------------------------------------------------------------------------

const rows = [];
const row = (name, r, s, metric, target, pass, note = '') => rows.push({ name, regctl: r, skopeo: s, metric, target, pass, note });
const fmt = (n, d = 2) => (n === undefined ? '-' : n.toFixed(d));
let regctlPeakRss = 0;

try {
  const bigBytes = 5 * BIG_LAYER;
  console.error(`bench: ${RUNS} run(s) per measurement, 500 MiB row uses ${(bigBytes / MiB).toFixed(0)} MiB, ${TAGS} tags`);

  // 1. Between two regctl serve instances.
  const srcServe = await startServe();
  console.error(`bench: seeding regctl serve ${srcServe.registry}...`);
  await seed(srcServe);
  for (const [label, path, bytes] of [
    [`${(bigBytes / MiB).toFixed(0)} MiB image (5 layers), serve -> serve`, 'bench/big:v1', bigBytes],
    ['~50 MB image, serve -> serve', 'bench/medium:v1', undefined],
    ['multi-arch index (3 platforms), serve -> serve', 'bench/multi:v1', undefined],
  ]) {
    console.error(`bench: ${label}`);
    const r = await freshCopies('serve', startServe, srcServe, path, 'regctl');
    const s = await freshCopies('serve', startServe, srcServe, path, 'skopeo');
    regctlPeakRss = Math.max(regctlPeakRss, r.rssMiB);
    const speedup = s.wall / r.wall;
    if (bytes) {
      row(label, r, s, `throughput ${fmt(bytes / MiB / r.wall, 0)} vs ${fmt(bytes / MiB / s.wall, 0)} MiB/s = ${fmt(speedup)}x`, '>= 2x skopeo', speedup >= 2);
    } else {
      row(label, r, s, `${fmt(speedup)}x faster`, '(reference)', undefined);
    }
  }

  // 2. Re-copy when the destination is up to date.
  {
    console.error('bench: re-copy when up to date');
    const dst = await startServe();
    await regctl('copy', '--progress', 'none', `${srcServe.registry}/bench/big:v1`, `${dst.registry}/bench/big:v1`);
    await skopeoCopy(`${srcServe.registry}/bench/big:v1`, `${dst.registry}/bench/big:v1`);
    const rs = [];
    const ss = [];
    for (let i = 0; i < 5; i++) {
      const r = await regctl('copy', '--json', '--progress', 'none', `${srcServe.registry}/bench/big:v1`, `${dst.registry}/bench/big:v1`);
      if (!JSON.parse(r.stdout).upToDate) throw new Error('re-copy was not up to date');
      rs.push(r);
      ss.push(await skopeoCopy(`${srcServe.registry}/bench/big:v1`, `${dst.registry}/bench/big:v1`));
    }
    const r = { wall: median(rs.map((x) => x.wall)), cpu: median(rs.map((x) => x.cpu)) };
    const s = { wall: median(ss.map((x) => x.wall)), cpu: median(ss.map((x) => x.cpu)) };
    row('re-copy, destination up to date (500 MiB image)', r, s, `${fmt(r.wall * 1000, 0)} ms`, '<= 200 ms', r.wall <= 0.2);
    await dst.close();
  }

  // 3. --all-tags of the many-tag repository vs skopeo sync.
  {
    console.error(`bench: --all-tags of ${TAGS} tags`);
    const dstR = await startServe();
    const dstS = await startServe();
    const r1 = await regctl('copy', '--all-tags', '--json', '--progress', 'none', `${srcServe.registry}/bench/many`, `${dstR.registry}/bench/many`);
    const syncArgs = (dst) => ['sync', '--all', '--preserve-digests', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-no-creds', '--dest-no-creds', `${srcServe.registry}/bench/many`, `${dst.registry}/bench`];
    const s1 = await skopeo(...syncArgs(dstS));
    const tagsCopied = (await client.repository(dstR.registry, 'bench/many').listTags()).length;
    const tagsSynced = (await client.repository(dstS.registry, 'bench/many').listTags()).length;
    if (tagsCopied !== TAGS || tagsSynced !== TAGS) throw new Error(`tag counts: regctl ${tagsCopied}, skopeo ${tagsSynced}, expected ${TAGS}`);
    const q1 = s1.wall / r1.wall;
    row(`--all-tags, ${TAGS} tags, empty destination`, r1, s1, `${fmt(1 / q1, 3)}x skopeo's time`, '<= 1/5 (0.2x)', q1 >= 5);
    // Up to date: RUNS times each, alternating, medians (one run is at the mercy of the moment).
    const r2s = [];
    const s2s = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await regctl('copy', '--all-tags', '--json', '--progress', 'none', `${srcServe.registry}/bench/many`, `${dstR.registry}/bench/many`);
      if (!JSON.parse(r.stdout).upToDate) throw new Error('all-tags re-copy was not up to date');
      r2s.push(r);
      s2s.push(await skopeo(...syncArgs(dstS)));
    }
    const mid = (xs) => [...xs].sort((a, b) => a.wall - b.wall)[Math.floor(xs.length / 2)];
    const r2 = mid(r2s);
    const s2 = mid(s2s);
    const q2 = s2.wall / r2.wall;
    row(`--all-tags, ${TAGS} tags, up to date`, r2, s2, `${fmt(1 / q2, 3)}x skopeo's time`, '<= 1/10 (0.1x)', q2 >= 10);
    await dstR.close();
    await dstS.close();
  }
  await srcServe.close();

  // 4. Between two docker-registry instances: wall and client CPU.
  {
    const srcDist = await startDistribution();
    console.error(`bench: seeding docker-registry ${srcDist.registry}...`);
    const big = client.repository(srcDist.registry, 'bench/big');
    const img = await pushImage(big, 'big', Array(5).fill(BIG_LAYER));
    await big.putManifest('v1', img.data);
    console.error('bench: 500 MiB image, docker-registry -> docker-registry');
    const r = await freshCopies('distribution', startDistribution, srcDist, 'bench/big:v1', 'regctl');
    const s = await freshCopies('distribution', startDistribution, srcDist, 'bench/big:v1', 'skopeo');
    regctlPeakRss = Math.max(regctlPeakRss, r.rssMiB);
    const cpuRatio = r.cpu / s.cpu;
    row(`${(bigBytes / MiB).toFixed(0)} MiB image, docker-registry -> docker-registry`, r, s, `wall ${fmt(r.wall / s.wall)}x, CPU ${fmt(cpuRatio)}x skopeo`, 'wall <= 1x, CPU <= 0.7x', r.wall <= s.wall * 1.02 && cpuRatio <= 0.7);
    await srcDist.close();
  }

  rows.push({ name: 'regctl copy peak RSS (largest of the runs above)', metric: `${fmt(regctlPeakRss, 0)} MiB`, target: '< 150 MiB', pass: regctlPeakRss < 150 });
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await rm(work, { recursive: true, force: true });
}

// ---- report ----------------------------------------------------------------------------------

const header = ['scenario', 'regctl wall s', 'skopeo wall s', 'regctl CPU s', 'skopeo CPU s', 'regctl RSS MiB', 'result', 'target', 'ok'];
const lines = rows.map((r) => [
  r.name,
  fmt(r.regctl?.wall),
  fmt(r.skopeo?.wall),
  fmt(r.regctl?.cpu),
  fmt(r.skopeo?.cpu),
  r.regctl?.rssMiB !== undefined ? fmt(r.regctl.rssMiB, 0) : '-',
  r.metric,
  r.target,
  r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const print = (cells) => console.log(cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
print(header);
print(widths.map((w) => '-'.repeat(w)));
for (const l of lines) print(l);
const jsonOut = value('--json');
if (jsonOut) await writeFile(jsonOut, JSON.stringify(rows, null, 2));
