// Server time of the web UI's pages (bench for issue 15): the repositories page with 10,000
// repositories, a repository page with 10,000 tags (10,000 distinct manifests), and an image
// page. Warm medians of the server's own time per request (the access-log entry's `ms`), after
// warm-up requests that fill the manifest index. Targets: lists < 100 ms, image page < 50 ms.
// Also the first view right after start-up (the index warms in the background meanwhile).
// Usage: node bench/ui.mjs [--fs] [--repos 10000] [--tags 10000] [--runs 30] [--no-build] [--json OUT]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..');
const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const REPOS = arg('repos', 10_000);
const TAGS = arg('tags', 10_000);
const RUNS = arg('runs', 30);
const useFs = argv.includes('--fs');
const jsonAt = argv.indexOf('--json');
const jsonOut = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;

if (!argv.includes('--no-build')) {
  const build = spawnSync('npx', ['tsc', '-p', 'src'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const { createRegistryServer } = await import(join(repoRoot, 'dist/server/server.js'));
const { SessionStore } = await import(join(repoRoot, 'dist/server/security/sessions.js'));
const { openStorage } = await import(join(repoRoot, 'dist/server/storage/open-storage.js'));

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const dir = useFs ? await mkdtemp(join(tmpdir(), 'regctl-bench-ui-')) : undefined;
const storage = await openStorage(dir ? { root: dir } : { memory: true });

const config = Buffer.from(JSON.stringify({ created: '2026-01-02T03:04:05Z', architecture: 'amd64', os: 'linux', config: { Cmd: ['/app'] }, rootfs: { type: 'layers', diff_ids: [] } }));
const configDigest = sha(config);
async function putBlob(repo, bytes, digest) {
  if (await storage.mountBlob(repo, digest)) return;
  const u = await storage.createUpload(repo);
  await storage.appendUpload(repo, u.id, Readable.from([bytes]));
  await storage.completeUpload(repo, u.id, digest);
}
function manifest(n) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${createHash('sha256').update(String(n)).digest('hex')}`, size: 1000 + n }],
      annotations: { n: String(n) },
    }),
  );
  return { digest: sha(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes };
}

const tagOf = (i) => (i % 10 === 9 ? `build-${i}` : `${Math.floor(i / 1000)}.${Math.floor(i / 10) % 100}.${i % 10}`);
/** A release tag that exists whatever --tags is (9.99.8 with 10,000). */
const imageTag = tagOf((TAGS - 1) % 10 === 9 ? TAGS - 2 : TAGS - 1);
const t0 = performance.now();
for (let i = 0; i < REPOS; i++) {
  const repo = `team-${String(i % 100).padStart(2, '0')}/repo-${String(i).padStart(5, '0')}`;
  await putBlob(repo, config, configDigest);
  await storage.putManifest(repo, manifest(i), ['1.0.0', 'latest']);
}
await putBlob('big/app', config, configDigest);
for (let i = 0; i < TAGS; i++) {
  const tag = tagOf(i);
  await storage.putManifest('big/app', manifest(1_000_000 + i), [tag]);
}
const seedMs = performance.now() - t0;

const times = [];
const started = performance.now();
const reg = await createRegistryServer({ storage, open: true, ui: { sessions: new SessionStore() }, onRequest: (e) => times.push(e.ms) });
const { url } = await reg.listen(0, '127.0.0.1');

const raw = [];
async function measure(label, path) {
  const get = async () => {
    const res = await fetch(url + path, { headers: { accept: 'text/html' } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 200)}`);
    return body.length;
  };
  times.length = 0;
  const c0 = performance.now();
  await get(); // cold: fills the index for this page
  const cold = performance.now() - c0;
  for (let i = 0; i < 3; i++) await get();
  times.length = 0;
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) bytes = await get();
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const p90 = sorted[Math.floor(sorted.length * 0.9)];
  raw.push({ page: label, path, medianMs: median, p90Ms: p90, coldMs: cold });
  return { page: label, 'warm median ms': median.toFixed(1), 'p90 ms': p90.toFixed(1), 'cold ms': cold.toFixed(0), 'html KiB': (bytes / 1024).toFixed(0) };
}

// The first view right after start-up, while the index warms in the background.
let first;
{
  times.length = 0;
  const w0 = performance.now();
  const res = await fetch(url + '/ui/', { headers: { accept: 'text/html' } });
  const body = await res.text();
  first = { ms: times[0], wall: performance.now() - w0, counting: (body.match(/counting…/g) ?? []).length };
}
await reg.index?.warmUp();
const warmedMs = performance.now() - started;

const rows = [
  await measure(`repositories (${REPOS} repos), page 1`, '/ui/'),
  await measure(`repositories, page 150`, '/ui/?page=150'),
  await measure(`repositories, search "repo-09"`, '/ui/?q=repo-09'),
  await measure(`repository (${TAGS} tags), page 1`, '/ui/repo?name=big%2Fapp'),
  await measure(`repository, filter "build"`, '/ui/repo?name=big%2Fapp&filter=build'),
  await measure('image page (tag)', `/ui/image?name=big%2Fapp&ref=${imageTag}`),
  await measure('/v2/big/app/tags/list (API, for reference)', '/v2/big/app/tags/list'),
];
console.log(`storage: ${useFs ? 'filesystem' : 'memory'}; seeded ${REPOS} repositories + ${TAGS} tags in ${(seedMs / 1000).toFixed(1)} s; ${RUNS} warm runs each`);
console.log(`first view after start: ${first.ms.toFixed(1)} ms server time (${first.wall.toFixed(0)} ms wall), ${first.counting} of 50 rows "counting…"; index warm ${(warmedMs / 1000).toFixed(1)} s after start`);
console.table(rows);
if (jsonOut) {
  await writeFile(jsonOut, JSON.stringify({ storage: useFs ? 'fs' : 'memory', repos: REPOS, tags: TAGS, firstView: first, warmedMs, rows: raw }));
}
await reg.close();
if (dir) await rm(dir, { recursive: true, force: true });
