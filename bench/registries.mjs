// Registries and images the copy benchmarks share (bench/copy.mjs, bench/wan.mjs): a `regctl serve`
// of the BUILT CLI and a Debian docker-registry, each on a free 127.0.0.1 port in its own temporary
// folder, and images of reproducible incompressible layers pushed through the registry client.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { freePort, randomStream, timer } from './lib.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'regctl.js');

/** `flag('--x')`: present; `value('--x', dflt)`: the word after it, else dflt. */
export function cliArgs(argv = process.argv.slice(2)) {
  return {
    flag: (name) => argv.includes(name),
    value: (name, dflt) => {
      const i = argv.indexOf(name);
      return i >= 0 ? argv[i + 1] : dflt;
    },
  };
}

/**
 * What a copy benchmark run needs: exits with a one-line hint when dist/ or a tool is missing;
 * a temporary `work` folder named `prefix`..., the children's `env` (own config folders, no
 * colour), a skopeo `policy`, a registry `client`, the server starters and `timed`.
 */
export async function copyBench(prefix) {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    console.error('bench: dist/ is missing: run `npm run build` first');
    process.exit(1);
  }
  for (const tool of ['/usr/bin/skopeo', '/usr/bin/docker-registry', '/usr/bin/time']) {
    if (!existsSync(tool)) {
      console.error(`bench: ${tool} is missing (apt-get install -y skopeo docker-registry time)`);
      process.exit(1);
    }
  }
  const { createRegistryClient } = await import(join(ROOT, 'dist', 'wiring', 'registry-client.js'));
  const work = await mkdtemp(join(tmpdir(), prefix));
  const env = { ...process.env, REGCTL_CONFIG_DIR: join(work, 'regctl-config'), DOCKER_CONFIG: join(work, 'docker-config'), NO_COLOR: '1' };
  delete env.CI;
  const policy = join(work, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const cleanups = [];
  const servers = registryServers({ root: ROOT, bin: BIN, work, env, cleanups });
  const timed = timer({ work, env });
  const regctl = (...args) => timed(process.execPath, [BIN, ...args]);
  const skopeo = (...args) => timed('/usr/bin/skopeo', ['--policy', policy, ...args]);
  // --preserve-digests: a byte-exact copy, as regctl makes; skopeo fails rather than rewrite a layer.
  const skopeoCopy = (src, dst) => skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-no-creds', '--dest-no-creds', `docker://${src}`, `docker://${dst}`);
  return { work, env, policy, client: createRegistryClient({ env }), cleanups, ...servers, timed, regctl, skopeo, skopeoCopy };
}

// ---- servers ---------------------------------------------------------------------------------

/** Poll `url/v2/` until it answers 200 or 401 (true), the child exits or 15 s pass (false). */
export async function waitReady(url, child) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

/**
 * Server starters bound to one run: `root` the project folder, `bin` the built CLI, `work` the
 * run's temporary folder, `env` the children's environment; every started server's close goes
 * into `cleanups`. Each returns `{ name, registry: '127.0.0.1:PORT', close }`.
 */
export function registryServers({ root, bin, work, env, cleanups }) {
  /** How `regctl serve` takes its port and data directory (read from its help once). */
  let serveArgs;
  function serveCommand(port, dir) {
    if (serveArgs === undefined) {
      const help = spawnSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8', env }).stdout ?? '';
      serveArgs = {
        port: /--port\b/.test(help) ? '--port' : undefined,
        host: /--host\b/.test(help) ? '--host' : /--address\b/.test(help) ? '--address' : undefined,
        root: /--root\b/.test(help) ? '--root' : /--data\b/.test(help) ? '--data' : /--dir\b/.test(help) ? '--dir' : undefined,
        // An access log line per request costs server CPU that both clients would pay for.
        quiet: /--no-log\b/.test(help) ? ['--no-log'] : [],
      };
    }
    if (serveArgs.port && serveArgs.root) {
      return [bin, 'serve', serveArgs.port, String(port), ...(serveArgs.host ? [serveArgs.host, '127.0.0.1'] : []), serveArgs.root, dir, ...serveArgs.quiet];
    }
    // The serve command is not wired yet: run the same server module in its own process.
    const launcher = `const { createRegistryServer } = await import(${JSON.stringify(join(root, 'dist', 'server', 'server.js'))});
      const s = await createRegistryServer({ root: process.argv[1], open: true }); await s.listen(Number(process.argv[2]), '127.0.0.1');`;
    return ['--input-type=module', '-e', launcher, dir, String(port)];
  }

  async function started(name, child, port, dir) {
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    if (!(await waitReady(`http://127.0.0.1:${port}`, child))) throw new Error(`${name} did not start: ${err.slice(-400)}`);
    const h = { name, registry: `127.0.0.1:${port}`, close: async () => { await stopChild(child); await rm(dir, { recursive: true, force: true }); } };
    cleanups.push(h.close);
    return h;
  }

  async function startServe() {
    const dir = await mkdtemp(join(work, 'serve-'));
    const port = await freePort();
    const child = spawn(process.execPath, serveCommand(port, dir), { stdio: ['ignore', 'ignore', 'pipe'], env });
    return started('regctl serve', child, port, dir);
  }

  async function startDistribution() {
    const dir = await mkdtemp(join(work, 'distribution-'));
    const port = await freePort();
    const config = join(dir, 'config.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
      ].join('\n'),
    );
    const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    return started('docker-registry', child, port, dir);
  }

  return { startServe, startDistribution };
}

// ---- data ------------------------------------------------------------------------------------

/**
 * A layer that is what its media type says: incompressible bytes in a gzip stream (level 0,
 * stored blocks, as gzip ends up storing random data anyway). Random bytes merely labelled
 * tar+gzip made skopeo "fix" them by compressing every layer (new digests, ~2 s more CPU per
 * 500 MiB), so its rows timed its compressor rather than a copy.
 */
export function layerStream(seed, size) {
  return randomStream(seed, size).pipe(createGzip({ level: 0 }));
}

async function randomBlob(seed, size) {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of layerStream(seed, size)) {
    h.update(c);
    bytes += c.length;
  }
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${h.digest('hex')}`, size: bytes };
}

export function bytesBlob(bytes, mediaType) {
  return { desc: { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length }, bytes };
}

/** Push an image of random layers; returns its manifest data. */
export async function pushImage(repo, seed, layerSizes, platform = { os: 'linux', architecture: 'amd64' }) {
  const layers = [];
  for (let i = 0; i < layerSizes.length; i++) {
    const desc = await randomBlob(`${seed}/${i}`, layerSizes[i]);
    if (!(await repo.hasBlob(desc))) await repo.putBlob(desc, layerStream(`${seed}/${i}`, layerSizes[i]));
    layers.push(desc);
  }
  const config = bytesBlob(
    Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: { Labels: { seed } } })),
    'application/vnd.oci.image.config.v1+json',
  );
  if (!(await repo.hasBlob(config.desc))) await repo.putBlob(config.desc, Readable.from([config.bytes]));
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const m = bytesBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: config.desc, layers })), mediaType);
  const data = { bytes: m.bytes, mediaType, digest: m.desc.digest };
  await repo.putManifest(data.digest, data);
  return { data, platform };
}

/** `count` tags t0000... over 4 small images (seeds `seed/0`..`seed/3`), 32 tag pushes in flight. */
export async function pushManyTags(repo, seed, count) {
  const imgs = [];
  for (let i = 0; i < 4; i++) imgs.push(await pushImage(repo, `${seed}/${i}`, [64 * 1024, 32 * 1024]));
  const names = Array.from({ length: count }, (_, i) => `t${String(i).padStart(4, '0')}`);
  for (let i = 0; i < names.length; i += 32) {
    await Promise.all(names.slice(i, i + 32).map((t, j) => repo.putManifest(t, imgs[(i + j) % imgs.length].data)));
  }
}

/** A multi-arch index (amd64, arm64/v8, ppc64le; each image of `layerSizes`) tagged `tag`. */
export async function pushMultiArch(repo, seed, layerSizes, tag) {
  const plats = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'ppc64le' },
  ];
  const children = [];
  for (const p of plats) children.push(await pushImage(repo, `${seed}/${p.architecture}`, layerSizes, p));
  const indexType = 'application/vnd.oci.image.index.v1+json';
  const idx = bytesBlob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: children.map((c) => ({ mediaType: c.data.mediaType, digest: c.data.digest, size: c.data.bytes.length, platform: c.platform })) })),
    indexType,
  );
  await repo.putManifest(tag, { bytes: idx.bytes, mediaType: indexType, digest: idx.desc.digest });
}
