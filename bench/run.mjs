// Runs every benchmark in one go (regctl against skopeo and Debian's docker-registry on the same
// generated data), then prints ONE summary table: each row with regctl's figure, the reference
// measured in the same run, the ratio, the target (issue 19) and whether it is met, plus CPU
// seconds per GiB where bytes move. Each bench's own table is printed above it. Not part of
// `npm test`. Usage: npm run bench [-- --quick] [-- --only serve,copy,wan]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv[onlyAt + 1]?.split(',') : undefined;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

// Each entry: script, arguments of a full run, arguments of a quick smoke run, and whether it
// writes --json (read back for the summary).
const benches = [
  ['client', ['--runs', '20'], ['--runs', '5'], true],
  ['serve', ['--runs', '3'], ['--size-mib', '100', '--tags', '2000'], true],
  ['copy', ['--runs', '3'], ['--quick'], true],
  ['wan', ['--runs', '3'], ['--quick'], true],
  ['load', ['--compare', '--rows', '1,2', '--duration', '60'], ['--compare', '--rows', '1,2', '--duration', '10'], true],
  ['archive', [], ['--quick'], false],
  ['s3', [], ['--size-mib', '50'], false],
  ['slowloris', [], ['--seconds', '5'], false],
  ['ui', ['--no-build'], ['--no-build', '--repos', '2000', '--tags', '2000', '--runs', '10'], true],
];

const build = spawnSync('npm', ['run', 'build'], { cwd: join(here, '..'), stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const work = mkdtempSync(join(tmpdir(), 'regctl-bench-run-'));
const results = {};
let failed = 0;
for (const [name, full, quickArgs, json] of benches) {
  if (only && !only.includes(name)) continue;
  const script = join(here, `${name}.mjs`);
  const out = join(work, `${name}.json`);
  console.log(`\n=== bench/${name}.mjs ${quick ? '(quick)' : ''}`);
  const r = spawnSync(process.execPath, [script, ...(quick ? quickArgs : full), ...(json ? ['--json', out] : [])], { stdio: 'inherit' });
  if (r.error?.code === 'ENOENT' || r.status !== 0) {
    console.log(`bench/${name}.mjs exited with ${r.status}`);
    failed++;
  }
  if (json && existsSync(out)) results[name] = JSON.parse(readFileSync(out, 'utf8'));
}
rmSync(work, { recursive: true, force: true });

// ---- the summary -----------------------------------------------------------------------------

const rows = [];
const f = (n, d = 2) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(d));
/** ratio: regctl / reference in the direction the target is written in. */
const add = (bench, row, regctl, reference, ratio, target, met, cpuGiB = ['', '']) => rows.push([bench, row, regctl, reference, ratio, target, met === undefined ? '' : met ? 'met' : 'not met', ...cpuGiB]);

if (results.client) {
  const by = Object.fromEntries(results.client.map((x) => [x.command, x.medianMs]));
  const base = by['node -e 0'];
  const v = by['regctl --version'] - base;
  add('client', '--version over node -e 0', `+${f(v, 1)} ms`, `${f(base, 1)} ms`, '', 'within 40 ms', v <= 40);
  const t = by['regctl tags (1,200)'];
  add('client', 'tags, 1,200 tags, end to end', `${f(t, 1)} ms`, '', '', '< 150 ms', t < 150);
}
if (results.serve) {
  const s = results.serve;
  const a = s['regctl serve'];
  const b = s['docker-registry'];
  const gib = (s.meta.sizeMiB * MiB) / GiB;
  const sink = s['null sink'];
  add('serve', `skopeo push ${s.meta.sizeMiB} MiB, wall vs null-sink ceiling`, `${f(a.pushSeconds)} s`, `${f(sink.pushSeconds)} s`, `${f(sink.pushSeconds / a.pushSeconds)}x`, '>= 0.95x', sink.pushSeconds / a.pushSeconds >= 0.95);
  add('serve', 'server CPU per GiB received (push)', f(a.pushServerCpu / gib), `docker-registry ${f(b.pushServerCpu / gib)}`, `${f(a.pushServerCpu / b.pushServerCpu)}x`, '<= 0.6x', a.pushServerCpu / b.pushServerCpu <= 0.6, [f(a.pushServerCpu / gib), f(b.pushServerCpu / gib)]);
  add('serve', 'skopeo pull, wall', `${f(a.pullSeconds)} s`, `${f(b.pullSeconds)} s`, `${f(b.pullSeconds / a.pullSeconds)}x faster`, '>= 1.1x', b.pullSeconds / a.pullSeconds >= 1.1);
  add('serve', 'server CPU per GiB served (pull)', f(a.pullServerCpu / gib), `docker-registry ${f(b.pullServerCpu / gib)}`, `${f(a.pullServerCpu / b.pullServerCpu)}x`, '<= 0.5x', a.pullServerCpu / b.pullServerCpu <= 0.5, [f(a.pullServerCpu / gib), f(b.pullServerCpu / gib)]);
  add('serve', 'server RSS peak receiving / serving', `${f(a.rssPushPeak / MiB, 0)} / ${f(a.rssPullPeak / MiB, 0)} MiB`, `${f(b.rssPushPeak / MiB, 0)} / ${f(b.rssPullPeak / MiB, 0)} MiB`, '', '< 150 MiB', Math.max(a.rssPushPeak, a.rssPullPeak) < 150 * MiB);
}
if (results.copy) {
  for (const r of results.copy) {
    if (!r.regctl) {
      add('copy', r.name, r.metric, '', '', r.target, r.pass);
      continue;
    }
    const mib = /^(\d+) MiB image/.exec(r.name)?.[1];
    const gib = mib ? (Number(mib) * MiB) / GiB : undefined;
    const cpu = gib ? [f(r.regctl.cpu / gib), f(r.skopeo.cpu / gib)] : undefined;
    const ratio = `wall ${f(r.regctl.wall / r.skopeo.wall)}x, CPU ${f(r.regctl.cpu / r.skopeo.cpu)}x`;
    let target = r.target;
    let met = r.pass;
    if (/docker-registry -> docker-registry/.test(r.name)) {
      // Issue 19's targets for this row: CPU <= 0.4x skopeo's, wall <= 0.72x.
      target = 'CPU <= 0.4x, wall <= 0.72x';
      met = r.regctl.cpu / r.skopeo.cpu <= 0.4 && r.regctl.wall / r.skopeo.wall <= 0.72;
    }
    add('copy', r.name, `${f(r.regctl.wall)} s / ${f(r.regctl.cpu)} CPU-s`, `skopeo ${f(r.skopeo.wall)} s / ${f(r.skopeo.cpu)} CPU-s`, ratio, target, met, cpu);
  }
}
if (results.wan) {
  for (const r of results.wan) {
    add('wan', r.name, `${f(r.regctl.wall)} s, ${r.regctl.requests} req, ${f(r.regctl.cpu)} CPU-s`, `skopeo ${f(r.skopeo.wall)} s, ${r.skopeo.requests} req`, `${f(r.ratio, 3)}x`, r.target, r.pass);
  }
}
if (results.load) {
  const by = Object.fromEntries(results.load.map((x) => [x.row, x]));
  const a = by['regctl serve'];
  const b = by['docker-registry'];
  if (a && b) {
    const q = a.requestsPerSecond / b.requestsPerSecond;
    add('load', '50 clients, req/s (p99, errors)', `${a.requestsPerSecond} (p99 ${a.latencyMs.p99} ms, ${a.errors ?? 0} err)`, `${b.requestsPerSecond} (p99 ${b.latencyMs.p99} ms)`, `${f(q)}x`, '>= 2.5x, p99 < 100 ms, 0 errors', q >= 2.5 && a.latencyMs.p99 < 100 && !a.errors);
  }
}
if (results.ui) {
  const u = results.ui;
  const api = u.rows.find((r) => r.path.startsWith('/v2/'));
  for (const r of u.rows) {
    if (r === api) continue;
    const limit = r.path.startsWith('/ui/image') ? 50 : 100;
    add('ui', `${r.page}, warm median (${u.storage})`, `${f(r.medianMs, 1)} ms (p90 ${f(r.p90Ms, 1)})`, api ? `tags/list API ${f(api.medianMs, 1)} ms` : '', '', `< ${limit} ms`, r.medianMs < limit);
  }
  add('ui', `first view after start, ${u.repos} repos (rows "counting…")`, `${f(u.firstView.ms, 0)} ms (${u.firstView.counting}/50)`, `index warm after ${f(u.warmedMs / 1000, 1)} s`, '', '< 1 s', u.firstView.ms < 1000);
}

const header = ['bench', 'row', 'regctl', 'reference (same run)', 'ratio', 'target', 'result', 'regctl CPU-s/GiB', 'ref CPU-s/GiB'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log('\n=== summary (bench/README.md explains each row and its ceiling)\n');
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
process.exit(failed ? 1 : 0);
