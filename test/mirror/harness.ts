import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServeRuntime } from '../../src/server/runtime.js';
import type { RegistryStorage } from '../../src/server/storage/types.js';
import { blob, type TestImage } from '../helpers/images.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { startServeRuntime, type ServeFlags } from '../helpers/serve-runtime.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);

/** A pull-through `regctl serve` as the CLI assembles it, with its log lines captured. */
export interface MirrorServe {
  url: string;
  registry: string;
  root: string;
  runtime: ServeRuntime;
  logs: string[];
  close(): Promise<void>;
}

export async function startMirror(flags: ServeFlags, options: { root?: string; storage?: RegistryStorage } = {}): Promise<MirrorServe> {
  const logs: string[] = [];
  const hooks = { ...(options.storage ? { storage: options.storage } : {}), info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };
  const serve = await startServeRuntime(flags, { ...(options.root ? { root: options.root } : {}), prefix: 'regctl-mirror-', hooks });
  return { ...serve, logs };
}

/** Push a test image over plain HTTP (monolithic blob uploads, then the manifest). */
export async function pushHttp(base: string, repo: string, image: TestImage, tag: string): Promise<void> {
  for (const b of [image.config, ...image.layers]) {
    // POST a session, PUT the bytes with the digest (what every registry takes).
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const location = new URL(start.headers.get('location') ?? '', base);
    location.searchParams.set('digest', b.desc.digest);
    const res = await fetch(location, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(b.bytes.length) },
      body: new Uint8Array(b.bytes),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`blob push to ${base}/${repo}: ${start.status}/${res.status}`);
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': image.manifest.mediaType }, body: new Uint8Array(image.manifest.bytes) });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`manifest push to ${base}/${repo}: ${res.status}`);
}

export async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run(requireTool('skopeo', 'skopeo'), ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** skopeo copy docker://REF -> oci:DIR:latest (plain HTTP source). */
export async function pull(ref: string, dir: string): Promise<void> {
  await skopeo('copy', '--src-tls-verify=false', '--preserve-digests', `docker://${ref}`, `oci:${dir}:latest`);
}

/** Digest -> sha256 of bytes for every blob of an OCI layout; and the manifest digest. */
export async function layoutContent(dir: string): Promise<{ manifest: string; blobs: Map<string, Buffer> }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blobs = new Map<string, Buffer>();
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) blobs.set(`sha256:${name}`, await readFile(join(dir, 'blobs', 'sha256', name)));
  return { manifest: index.manifests[0]!.digest, blobs };
}

/** An image podman can store: one gzip'd tar layer, diff_ids of the uncompressed tar. */
export function runnableImage(size: number): TestImage {
  const tar = tarBytes(size);
  const layer = blob(gzipSync(tar), MediaType.ociLayerGzip);
  const config = blob(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } })),
    MediaType.ociConfig,
  );
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: config.desc, layers: [layer.desc] }));
  return { manifest: { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) }, config, layers: [layer], platform: { os: 'linux', architecture: 'amd64' } };
}

/** A tar holding one file of `size` random bytes. */
function tarBytes(size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write('data.bin', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (size % 512)) % 512);
  return Buffer.concat([header, randomBytes(size), pad, Buffer.alloc(1024)]);
}

export async function tempDir(prefix = 'regctl-mirror-out-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
