/** skopeo (a real client) against `regctl serve` on S3: an OCI layout with an index in and back out. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/server.js';
import { makeMultiArch, type TestIndex } from '../helpers/images.js';
import { requireTool } from '../helpers/tools.js';
import { http } from '../server/client.js';
import { writeOciLayout } from '../server/layout-writer.js';
import { startS3, type LocalS3 } from './s3rver.js';

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run(requireTool('skopeo', 'skopeo'), ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

async function layoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) out.set(`sha256:${name}`, await readFile(join(dir, 'blobs', 'sha256', name)));
  return out;
}

describe.each([
  ['streamed through the server', false],
  ['--s3-redirect (307 to presigned URLs)', true],
] as const)('skopeo against serve on S3, blob GETs %s', (_label, redirect) => {
  let s3: LocalS3;
  let reg: RegistryServer;
  let registry: string;
  let url: string;
  let work: string;
  let index: TestIndex;
  let src: string;
  const requests: Array<{ method: string; path: string; status: number }> = [];

  beforeAll(async () => {
    s3 = await startS3();
    reg = await createRegistryServer({ open: true, storage: s3.storage({ redirect }), onRequest: (e) => requests.push(e) });
    const bound = await reg.listen(0, '127.0.0.1');
    url = bound.url;
    registry = `127.0.0.1:${bound.port}`;
    work = await mkdtemp(join(tmpdir(), 'regctl-s3-skopeo-'));
    index = makeMultiArch([4096, 300_000]);
    src = join(work, 'src');
    await writeOciLayout(src, index, 'v1');
  });
  afterAll(async () => {
    await reg?.close();
    await s3?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('copy in (index + images) keeps digests and bytes; copy out is byte-identical', async () => {
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${registry}/interop/app:v1`);
    const get = await http(url, 'GET', '/v2/interop/app/manifests/v1', { headers: { accept: index.manifest.mediaType } });
    expect(get.status).toBe(200);
    expect(get.headers['docker-content-digest']).toBe(index.manifest.digest);
    expect(get.body.equals(index.manifest.bytes)).toBe(true);

    const out = join(work, 'out');
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${registry}/interop/app:v1`, `oci:${out}:v1`);
    const before = await layoutBlobs(src);
    const after = await layoutBlobs(out);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [digest, bytes] of after) {
      expect(digestOf(bytes)).toBe(digest);
      expect(bytes.equals(before.get(digest)!)).toBe(true);
    }
    const blobGets = requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/sha256:'));
    expect(blobGets.length).toBeGreaterThan(0);
    // With --s3-redirect every blob GET was answered by a redirect, not by streaming.
    for (const r of blobGets) expect(r.status).toBe(redirect ? 307 : 200);
  });

  test('list-tags, inspect --raw, delete', async () => {
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${registry}/interop/app:v2`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${registry}/interop/app`));
    expect(tags).toEqual({ Repository: `${registry}/interop/app`, Tags: ['v1', 'v2'] });
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry}/interop/app:v2`);
    expect(Buffer.from(raw).equals(index.manifest.bytes)).toBe(true);
    await skopeo('delete', '--tls-verify=false', `docker://${registry}/interop/app:v2`);
    expect((await http(url, 'GET', `/v2/interop/app/manifests/${index.manifest.digest}`)).status).toBe(404);
    expect((await http(url, 'GET', '/v2/interop/app/tags/list')).json().tags).toEqual([]);
  });
});
