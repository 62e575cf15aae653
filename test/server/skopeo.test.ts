import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeMultiArch, type TestIndex } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { requireTool } from '../helpers/tools.js';
import { http } from './client.js';
import { writeOciLayout } from './layout-writer.js';

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run(requireTool('skopeo', 'skopeo'), ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** Every blob in a layout, by digest, with its bytes. */
async function layoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) {
    out.set(`sha256:${name}`, await readFile(join(dir, 'blobs', 'sha256', name)));
  }
  return out;
}

describe('skopeo against regctl serve', () => {
  let s: ServeHandle;
  let work: string;
  let index: TestIndex;
  let src: string;

  beforeAll(async () => {
    s = await startServe();
    work = await mkdtemp(join(tmpdir(), 'regctl-skopeo-'));
    index = makeMultiArch([4096, 100_000]);
    src = join(work, 'src');
    await writeOciLayout(src, index, 'v1');
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${s.registry}/interop/app:v1`);
  });
  afterAll(async () => {
    await s?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('copy in keeps the index digest and bytes', async () => {
    const get = await http(s.url, 'GET', '/v2/interop/app/manifests/v1');
    expect(get.status).toBe(200);
    expect(get.headers['docker-content-digest']).toBe(index.manifest.digest);
    expect(get.body.equals(index.manifest.bytes)).toBe(true);
    expect(get.headers['content-type']).toBe(index.manifest.mediaType);
    // Blobs went up once each: POST+PUT or monolithic, never twice.
    const blobCount = index.images.reduce((n, i) => n + 1 + i.layers.length, 0);
    const commits = s.requests.filter((r) => (r.method === 'PUT' && r.path.includes('/blobs/uploads/')) || (r.method === 'POST' && r.status === 201));
    expect(commits.length).toBe(blobCount);
  });

  test('copy back out: byte-identical blobs, same digests', async () => {
    const out = join(work, 'out');
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${s.registry}/interop/app:v1`, `oci:${out}:v1`);
    const before = await layoutBlobs(src);
    const after = await layoutBlobs(out);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [digest, bytes] of after) {
      expect(digestOf(bytes)).toBe(digest);
      expect(bytes.equals(before.get(digest)!)).toBe(true);
    }
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(idx.manifests[0].digest).toBe(index.manifest.digest);
  });

  test('list-tags and inspect', async () => {
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${s.registry}/interop/app:v2`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${s.registry}/interop/app`));
    expect(tags).toEqual({ Repository: `${s.registry}/interop/app`, Tags: ['v1', 'v2'] });
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${s.registry}/interop/app:v1`);
    expect(Buffer.from(raw).equals(index.manifest.bytes)).toBe(true);
    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--override-arch', 'arm64', '--override-variant', 'v8', `docker://${s.registry}/interop/app:v1`));
    // skopeo reports the digest of what the tag names (the index), details of the chosen platform.
    expect(info.Digest).toBe(index.manifest.digest);
    expect(info.Architecture).toBe('arm64');
    expect(info.Layers).toEqual(index.images[1]!.layers.map((l) => l.desc.digest));
  });

  test('a repository directory is an OCI layout skopeo (and umoci) can read directly', async () => {
    const direct = join(work, 'direct');
    await skopeo('copy', '--all', '--preserve-digests', `oci:${join(s.root!, 'interop/app')}:v1`, `oci:${direct}:v1`);
    const after = await layoutBlobs(direct);
    const before = await layoutBlobs(src);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const { stdout } = await run(requireTool('umoci', 'umoci'), ['ls', '--layout', join(s.root!, 'interop/app')]);
    expect(stdout.trim().split('\n').sort()).toEqual(['v1', 'v2']);
  });

  test('skopeo delete removes the manifest (and with it every tag on it)', async () => {
    await skopeo('delete', '--tls-verify=false', `docker://${s.registry}/interop/app:v2`);
    expect((await http(s.url, 'GET', '/v2/interop/app/manifests/v2')).status).toBe(404);
    expect((await http(s.url, 'GET', `/v2/interop/app/manifests/${index.manifest.digest}`)).status).toBe(404);
    expect((await http(s.url, 'GET', '/v2/interop/app/tags/list')).json().tags).toEqual([]);
  });
});
