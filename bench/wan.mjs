#!/usr/bin/env node
// Benchmark: WAN-shaped copies. Two Debian docker-registry instances, each behind
// bench/wan-proxy.mjs (default 20 ms each way = 40 ms RTT, 200 Mbit/s per direction), and the
// BUILT CLI (`node bin/regctl.js copy`) against skopeo in the same run, alternating.
// Usage: npm run build && node bench/wan.mjs [--runs N] [--tags N] [--latency-ms 20] [--mbit 200] [--quick] [--json FILE]
// Only 127.0.0.1 is used. Rows and targets: bench/README.md.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliArgs, copyBench, pushImage, pushManyTags, pushMultiArch } from './registries.mjs';
import { startWanProxy } from './wan-proxy.mjs';

const { flag, value } = cliArgs();
const QUICK = flag('--quick');
const RUNS = Number(value('--runs', QUICK ? '1' : '3'));
const MiB = 1024 * 1024;
const TAGS = Number(value('--tags', QUICK ? '100' : '250'));
const LATENCY = Number(value('--latency-ms', '20'));
const MBIT = Number(value('--mbit', '200'));
const RTT = (2 * LATENCY) / 1000;
// --only serve: just the serve -> serve row (the tag-digests extension).
const ONLY = value('--only', undefined);

const { work, client, cleanups, startServe, startDistribution, regctl, skopeo, skopeoCopy } = await copyBench('regctl-bench-wan-');

/** A docker-registry behind a WAN proxy: `registry` is the proxy's address (what the tools use), `direct` the registry's. */
async function startRemote() {
  const d = await startDistribution();
  const proxy = await startWanProxy({ target: d.registry, latencyMs: LATENCY, mbit: MBIT, countRequests: true });
  const h = { registry: proxy.address, direct: d.registry, proxy, close: async () => { await proxy.close(); await d.close(); } };
  cleanups.push(h.close);
  return h;
}

/** A `regctl serve` (the BUILT CLI) behind a WAN proxy. */
async function startRemoteServe() {
  const d = await startServe();
  const proxy = await startWanProxy({ target: d.registry, latencyMs: LATENCY, mbit: MBIT, countRequests: true });
  const h = { registry: proxy.address, direct: d.registry, proxy, close: async () => { await proxy.close(); await d.close(); } };
  cleanups.push(h.close);
  return h;
}

/** The many-tag repository only (for the serve pair). */
async function seedMany(src) {
  const many = client.repository(src.direct, 'bench/many');
  await pushManyTags(many, 'wan-many', TAGS);
}

async function seed(src) {
  const t0 = performance.now();
  const medium = client.repository(src.direct, 'bench/medium');
  const medImg = await pushImage(medium, 'wan-medium', QUICK ? [4 * MiB, 3 * MiB, 2 * MiB, 1 * MiB] : [20 * MiB, 15 * MiB, 10 * MiB, 3 * MiB]);
  await medium.putManifest('v1', medImg.data);

  const multi = client.repository(src.direct, 'bench/multi');
  await pushMultiArch(multi, 'wan-multi', QUICK ? [MiB, MiB] : [5 * MiB, 5 * MiB], 'v1');

  const many = client.repository(src.direct, 'bench/many');
  await pushManyTags(many, 'wan-many', TAGS);
  return { seconds: (performance.now() - t0) / 1000 };
}

// ---- measuring -------------------------------------------------------------------------------


/** Both tools must have made the same image: the destination's digest is the source's. */
async function sameImage(src, dst, path, tool) {
  const [repo, tag] = path.split(':');
  const want = await client.repository(src.direct, repo).headManifest(tag);
  const got = await client.repository(dst.direct, repo).headManifest(tag);
  if (!got || got.digest !== want?.digest) throw new Error(`${tool} changed ${path}: ${want?.digest} -> ${got?.digest}`);
}

/** Requests both proxies saw while `fn` ran. */
async function counted(src, dst, fn) {
  const before = src.proxy.stats.requests + dst.proxy.stats.requests;
  const r = await fn();
  r.requests = src.proxy.stats.requests + dst.proxy.stats.requests - before;
  return r;
}

const copyOnce = (tool, src, dst, path) =>
  counted(src, dst, () =>
    tool === 'regctl'
      ? regctl('copy', '--json', '--progress', 'none', `${src.registry}/${path}`, `${dst.registry}/${path}`)
      : skopeoCopy(`${src.registry}/${path}`, `${dst.registry}/${path}`),
  );

const syncArgs = (src, dst) => ['sync', '--all', '--preserve-digests', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-no-creds', '--dest-no-creds', `${src.registry}/bench/many`, `${dst.registry}/bench`];
const allTagsOnce = (tool, src, dst) =>
  counted(src, dst, () =>
    tool === 'regctl'
      ? regctl('copy', '--all-tags', '--json', '--progress', 'none', `${src.registry}/bench/many`, `${dst.registry}/bench/many`)
      : skopeo(...syncArgs(src, dst)),
  );

/** The run with the median wall time (its CPU and request count go with it). */
function mid(xs) {
  return [...xs].sort((a, b) => a.wall - b.wall)[Math.floor(xs.length / 2)];
}

const rows = [];
const fmt = (n, d = 2) => (n === undefined ? '-' : n.toFixed(d));
const row = (name, r, s, target, limit, note = '') => {
  const ratio = r.wall / s.wall;
  rows.push({ bench: 'wan', name, regctl: r, skopeo: s, ratio, target, pass: ratio <= limit, note });
};

try {
  console.error(`bench: WAN ${LATENCY} ms each way (RTT ${RTT * 1000} ms), ${MBIT} Mbit/s per direction; ${RUNS} run(s) per row; ${TAGS} tags`);
  const src = ONLY === 'serve' ? undefined : await startRemote();
  if (src) {
    console.error('bench: seeding the source...');
    await seed(src);

    // Cold copies into a fresh destination each run, regctl and skopeo alternating.
    for (const [label, path, limit] of [
      ['cold ~50 MB image (4 layers)', 'bench/medium:v1', 0.6],
      ['cold 3-platform index', 'bench/multi:v1', 0.6],
    ]) {
      console.error(`bench: ${label}`);
      const rs = [];
      const ss = [];
      for (let i = 0; i < RUNS; i++) {
        for (const tool of i % 2 ? ['skopeo', 'regctl'] : ['regctl', 'skopeo']) {
          const dst = await startRemote();
          try {
            const r = await copyOnce(tool, src, dst, path);
            await sameImage(src, dst, path, tool);
            (tool === 'regctl' ? rs : ss).push(r);
          } finally {
            await dst.close();
          }
        }
      }
      row(label, mid(rs), mid(ss), '<= 0.6x', limit);
    }

    // Re-copy when the destination is up to date.
    {
      console.error('bench: re-copy, up to date');
      const dst = await startRemote();
      await copyOnce('regctl', src, dst, 'bench/medium:v1');
      const rs = [];
      const ss = [];
      for (let i = 0; i < Math.max(RUNS, 3); i++) {
        const r = await copyOnce('regctl', src, dst, 'bench/medium:v1');
        if (!JSON.parse(r.stdout).upToDate) throw new Error('re-copy was not up to date');
        rs.push(r);
        ss.push(await copyOnce('skopeo', src, dst, 'bench/medium:v1'));
      }
      row('re-copy ~50 MB image, up to date', mid(rs), mid(ss), '<= 0.3x', 0.3, 'API minimum: 2 requests (manifest HEAD at each side, in parallel) = 1 RTT + connection set-up');
      await dst.close();
    }

    // --all-tags against skopeo sync: cold (fresh destination per tool), then up to date.
    {
      console.error(`bench: --all-tags of ${TAGS} tags, cold`);
      const dstR = await startRemote();
      const dstS = await startRemote();
      const r1 = await allTagsOnce('regctl', src, dstR);
      const s1 = await allTagsOnce('skopeo', src, dstS);
      const tagsR = (await client.repository(dstR.direct, 'bench/many').listTags()).length;
      const tagsS = (await client.repository(dstS.direct, 'bench/many').listTags()).length;
      if (tagsR !== TAGS || tagsS !== TAGS) throw new Error(`tag counts: regctl ${tagsR}, skopeo ${tagsS}, expected ${TAGS}`);
      row(`--all-tags, ${TAGS} tags, cold (vs skopeo sync)`, r1, s1, '<= 0.2x', 0.2);
      console.error(`bench: --all-tags of ${TAGS} tags, up to date`);
      const rs = [];
      const ss = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await allTagsOnce('regctl', src, dstR);
        if (!JSON.parse(r.stdout).upToDate) throw new Error('all-tags re-copy was not up to date');
        rs.push(r);
        ss.push(await allTagsOnce('skopeo', src, dstS));
      }
      row(`--all-tags, ${TAGS} tags, up to date (vs skopeo sync)`, mid(rs), mid(ss), '<= 0.1x', 0.1, `standard API minimum: 1 tag list + ${2 * TAGS} manifest HEADs (one per tag and side)`);
      await dstR.close();
      await dstS.close();
    }
  }

  // The same up-to-date check between two regctl serve: the tag-digests extension.
  {
    console.error(`bench: --all-tags of ${TAGS} tags, up to date, serve -> serve`);
    const srcS = await startRemoteServe();
    await seedMany(srcS);
    const dstR = await startRemoteServe();
    const dstS = await startRemoteServe();
    await allTagsOnce('regctl', srcS, dstR);
    await allTagsOnce('skopeo', srcS, dstS);
    const rs = [];
    const ss = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await allTagsOnce('regctl', srcS, dstR);
      if (!JSON.parse(r.stdout).upToDate) throw new Error('all-tags re-copy was not up to date');
      rs.push(r);
      ss.push(await allTagsOnce('skopeo', srcS, dstS));
    }
    row(`--all-tags, ${TAGS} tags, up to date, serve -> serve (tag-digests)`, mid(rs), mid(ss), '<= 0.1x', 0.1, `2 requests (one tag list with digests per side) instead of ${2 + 2 * TAGS}`);
    await dstR.close();
    await dstS.close();
    await srcS.close();
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await rm(work, { recursive: true, force: true });
}

// ---- report ----------------------------------------------------------------------------------

const header = ['row', 'regctl s', 'skopeo s', 'ratio', 'target', 'ok', 'regctl req', 'skopeo req', 'regctl RTTs', 'regctl CPU s', 'skopeo CPU s'];
const lines = rows.map((r) => [
  r.name,
  fmt(r.regctl.wall),
  fmt(r.skopeo.wall),
  `${fmt(r.ratio, 3)}x`,
  r.target,
  r.pass ? 'met' : 'not met',
  String(r.regctl.requests),
  String(r.skopeo.requests),
  fmt(r.regctl.wall / RTT, 1),
  fmt(r.regctl.cpu),
  fmt(r.skopeo.cpu),
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const print = (cells) => console.log(cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
print(header);
print(widths.map((w) => '-'.repeat(w)));
for (const l of lines) print(l);
for (const r of rows) if (r.note) console.log(`${r.name}: ${r.note}`);
console.log('"regctl RTTs" = wall time / RTT, start-up and CPU included (a Node start is ~2-3 RTTs here).');
const jsonOut = value('--json');
if (jsonOut) await writeFile(jsonOut, JSON.stringify(rows.map(({ regctl: r, skopeo: s, ...rest }) => ({ ...rest, regctl: { wall: r.wall, cpu: r.cpu, requests: r.requests, rssMiB: r.rssMiB }, skopeo: { wall: s.wall, cpu: s.cpu, requests: s.requests } })), null, 2));
