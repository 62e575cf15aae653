#!/usr/bin/env node
// Push/pull throughput of `regctl serve` (the BUILT CLI) on the S3 backend against the same
// server on the filesystem backend: skopeo copy of an image (N incompressible layers, an OCI
// layout on disk) into the server and back out. S3 runs on s3rver (in this process, 127.0.0.1),
// which is a test double that keeps every object as a file and is itself slow: the S3 numbers
// measure regctl + s3rver, not what a real object store would give.
// Usage: npm run build && node bench/s3.mjs [--size-mib 200] [--layers 4] [--runs 1] [--json FILE]
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { optionOf } from './lib.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = optionOf(args);
const SIZE_MIB = Number(opt('size-mib', '200'));
const LAYERS = Number(opt('layers', '4'));
const RUNS = Number(opt('runs', '1'));
const JSON_OUT = opt('json', undefined);

if (spawnSync('which', ['skopeo']).status !== 0) {
  console.error('bench/s3.mjs needs skopeo (apt-get install skopeo)');
  process.exit(2);
}
if (!existsSync(join(repoRoot, 'dist/cli/main.js'))) {
  console.error('run `npm run build` first: the benchmark uses the built CLI (node bin/regctl.js serve)');
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), 'regctl-bench-s3-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function randomBlob(dir, size) {
  // AES-CTR keystream: incompressible and far cheaper to make than randomBytes.
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), Buffer.alloc(16));
  const zero = Buffer.alloc(1 << 20);
  const tmp = join(dir, `tmp-${randomBytes(4).toString('hex')}`);
  const out = createWriteStream(tmp);
  const h = createHash('sha256');
  for (let left = size; left > 0; left -= zero.length) {
    const chunk = cipher.update(zero.subarray(0, Math.min(left, zero.length)));
    h.update(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  const digest = `sha256:${h.digest('hex')}`;
  await rename(tmp, join(dir, digest.slice(7)));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size };
}

async function writeLayout(dir) {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push(await randomBlob(blobs, Math.floor((SIZE_MIB * 1024 * 1024) / LAYERS)));
  const json = async (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const config = await json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} });
  const manifest = await json({
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
}

function serve(extra, env) {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/regctl.js'), 'serve', '--port', '0', '--no-log', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening on http:\/\/([^\s]+)/.exec(out);
      if (m && out.includes('push:')) resolve({ child, registry: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

// Asynchronous: s3rver runs in this process and must keep answering while skopeo works.
function skopeo(...a) {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', ['--insecure-policy', ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t) / 1e9) : reject(new Error(`skopeo ${a.join(' ')}: ${err}`))));
  });
}

const src = join(work, 'src');
console.error(`writing a ${SIZE_MIB} MiB image (${LAYERS} layers)...`);
await writeLayout(src);

const s3dir = join(work, 's3rver');
await mkdir(s3dir);
const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3dir, silent: true });
const { port } = await s3.run();
const endpoint = `http://127.0.0.1:${port}`;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
const s3env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', REGCTL_SERVE_UPLOAD_SECRET: randomBytes(32).toString('hex') };

const backends = [
  { name: 'filesystem', args: (run) => ['--root', join(work, `fs-${run}`)], env: {} },
  { name: 's3 (s3rver)', args: (run) => ['--storage', `s3://bench/run-${run}`, '--s3-endpoint', endpoint, '--s3-force-path-style'], env: s3env },
  {
    name: 's3 --s3-redirect',
    args: (run) => ['--storage', `s3://bench/redirect-${run}`, '--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-redirect'],
    env: s3env,
  },
];

const results = [];
for (let run = 0; run < RUNS; run++) {
  for (const b of backends) {
    const { child, registry } = await serve(b.args(run), b.env);
    const push = await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${registry}/bench/app:v1`);
    const out = join(work, `out-${b.name.replace(/\W+/g, '-')}-${run}`);
    const pull = await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${registry}/bench/app:v1`, `oci:${out}:v1`);
    await stop(child);
    await rm(out, { recursive: true, force: true });
    const r = { backend: b.name, run, pushMiBs: SIZE_MIB / push, pullMiBs: SIZE_MIB / pull, pushSeconds: push, pullSeconds: pull };
    results.push(r);
    console.error(`${b.name.padEnd(18)} run ${run}: push ${r.pushMiBs.toFixed(0)} MiB/s (${push.toFixed(2)} s), pull ${r.pullMiBs.toFixed(0)} MiB/s (${pull.toFixed(2)} s)`);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\n${SIZE_MIB} MiB, ${LAYERS} layers, ${RUNS} run(s), medians:`);
console.log('| backend | skopeo push | skopeo pull |');
console.log('|---|---|---|');
for (const b of backends) {
  const mine = results.filter((r) => r.backend === b.name);
  console.log(`| ${b.name} | ${median(mine.map((r) => r.pushMiBs)).toFixed(0)} MiB/s | ${median(mine.map((r) => r.pullMiBs)).toFixed(0)} MiB/s |`);
}
if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify({ sizeMiB: SIZE_MIB, layers: LAYERS, results }, null, 2));
client.destroy();
await s3.close();
await rm(work, { recursive: true, force: true });
