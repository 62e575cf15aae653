#!/usr/bin/env node
// Benchmark: start-up of the built CLI (`--version`, `--help` vs `node -e 0`) and `regctl tags`
// of a 1,200-tag repository on Debian's docker-registry, end to end, with hyperfine.
// Run `npm run build` first. Usage: node bench/client.mjs [--runs N] [--bin ENTRY] [--node NODE].
// Only 127.0.0.1 is used.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const RUNS = Number(flag('--runs', 30));
// --bin: the installed CLI's entry (e.g. PREFIX/lib/node_modules/regctl/bin/regctl.js);
// --node: another Node binary (e.g. Node 24) to run it and the `node -e 0` baseline with.
const BIN = flag('--bin', join(ROOT, 'bin', 'regctl.js'));
const NODE = flag('--node', process.execPath);
const TAGS = 1200;

for (const [what, ok] of [
  ['dist/ (run npm run build)', existsSync(join(ROOT, 'dist', 'cli', 'main.js'))],
  ['hyperfine (apt-get install -y hyperfine)', spawnSync('hyperfine', ['--version']).status === 0],
  ['/usr/bin/docker-registry (apt-get install -y docker-registry)', existsSync('/usr/bin/docker-registry')],
]) {
  if (!ok) {
    console.error(`missing ${what}`);
    process.exit(1);
  }
}

const { RegistryClient } = await import(join(ROOT, 'dist', 'registry', 'client.js'));
const { digestOf } = await import(join(ROOT, 'dist', 'oci', 'digest.js'));

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const root = await mkdtemp(join(tmpdir(), 'regctl-bench-client-'));
const config = `version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: ${root}/data}}
http: {addr: 127.0.0.1:${port}, secret: ${randomBytes(8).toString('hex')}}
`;
await writeFile(join(root, 'config.yml'), config);
const registry = spawn('/usr/bin/docker-registry', ['serve', join(root, 'config.yml')], { stdio: 'ignore' });
const reg = `127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${reg}/v2/`)).ok) break;
    } catch {}
    if (i > 200) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  // One small image through the API, then 1,200 tags written into the registry's storage.
  const repo = new RegistryClient().repository(reg, 'bench/many');
  const layer = randomBytes(1024);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
  const blobs = [
    { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(cfg), size: cfg.length, bytes: cfg },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length, bytes: layer },
  ];
  for (const b of blobs) await repo.putBlob({ mediaType: b.mediaType, digest: b.digest, size: b.size }, Readable.from([b.bytes]));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: blobs[0].mediaType, digest: blobs[0].digest, size: blobs[0].size },
    layers: [{ mediaType: blobs[1].mediaType, digest: blobs[1].digest, size: blobs[1].size }],
  }));
  const digest = digestOf(manifest);
  await repo.putManifest('0.0.0', { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest });
  const tagsDir = join(root, 'data', 'docker', 'registry', 'v2', 'repositories', 'bench', 'many', '_manifests', 'tags');
  for (let i = 1; i < TAGS; i++) {
    const t = join(tagsDir, `${Math.floor(i / 100)}.${i % 100}.${i % 7}`);
    await mkdir(join(t, 'current'), { recursive: true });
    await mkdir(join(t, 'index', 'sha256', digest.slice(7)), { recursive: true });
    await writeFile(join(t, 'current', 'link'), digest);
    await writeFile(join(t, 'index', 'sha256', digest.slice(7), 'link'), digest);
  }
  const count = spawnSync(NODE, [BIN, 'tags', `${reg}/bench/many`], { encoding: 'utf8' }).stdout.trim().split('\n').length;
  console.log(`seeded ${reg}/bench/many with ${count} tags`);
  const r = spawnSync('hyperfine', [
    '-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', join(root, 'h.json'),
    '-n', 'node -e 0', `${NODE} -e 0`,
    '-n', 'regctl --version', `${NODE} ${BIN} --version`,
    '-n', 'regctl --help', `${NODE} ${BIN} --help`,
    '-n', 'regctl tags (1,200)', `${NODE} ${BIN} tags ${reg}/bench/many`,
    '-n', 'regctl tags --sort semver (1,200)', `${NODE} ${BIN} tags ${reg}/bench/many --sort semver`,
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('hyperfine failed');
  const { results } = JSON.parse(await (await import('node:fs/promises')).readFile(join(root, 'h.json'), 'utf8'));
  const base = results[0].median * 1000;
  console.log('\nmedian ms (delta vs node -e 0):');
  for (const x of results) console.log(`  ${x.command.padEnd(34)} ${(x.median * 1000).toFixed(1).padStart(7)}  ${x === results[0] ? '' : `+${(x.median * 1000 - base).toFixed(1)}`}`);
  const jsonAt = process.argv.indexOf('--json');
  if (jsonAt >= 0) await (await import('node:fs/promises')).writeFile(process.argv[jsonAt + 1], JSON.stringify(results.map((x) => ({ command: x.command, medianMs: x.median * 1000 })), null, 2));
} finally {
  registry.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
