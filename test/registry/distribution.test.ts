import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, NotFoundError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { RegistryClient } from '../../src/registry/client.js';
import { seedRepositories, seedTags, startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, makeIndex, makeMultiArch, makeReferrer, pushImage, pushIndex } from '../helpers/images.js';

async function read(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Run `fn` over `items` with `n` in flight. */
async function parallel<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

describe("Repository against Debian's docker-registry", () => {
  let d: Distribution;
  let client: RegistryClient;
  beforeAll(async () => {
    d = await startDistribution();
    client = new RegistryClient();
  });
  afterAll(async () => d?.close());

  it('pushes an image and reads back exact manifest bytes, HEAD data and blobs', async () => {
    const repo = client.repository(d.registry, 'app');
    const img = makeImage({ layers: [4096, 300_000] });
    await pushImage(repo, img, 'v1');
    const m = await repo.getManifest('v1');
    expect(m.bytes.equals(img.manifest.bytes)).toBe(true);
    expect(m.digest).toBe(img.manifest.digest);
    expect(m.mediaType).toBe(MediaType.ociManifest);
    expect(await repo.headManifest('v1')).toEqual({ digest: img.manifest.digest, size: img.manifest.bytes.length, mediaType: MediaType.ociManifest });
    expect((await repo.getManifest(img.manifest.digest)).bytes.equals(img.manifest.bytes)).toBe(true);
    expect(await repo.headManifest('nope')).toBeUndefined();
    await expect(repo.getManifest('nope')).rejects.toBeInstanceOf(NotFoundError);
    const layer = img.layers[1]!;
    expect((await read(await repo.getBlob(layer.desc))).equals(layer.bytes)).toBe(true);
    expect(await repo.headBlob(layer.desc.digest)).toEqual({ size: layer.bytes.length });
    expect(await repo.hasBlob(layer.desc)).toBe(true);
    expect(await repo.hasBlob({ ...layer.desc, digest: digestOf('missing') })).toBe(false);
  });

  it('pushes an index (children by digest) and serves it back', async () => {
    const repo = client.repository(d.registry, 'multi');
    const idx = makeMultiArch();
    await pushIndex(repo, idx, 'latest');
    const m = await repo.getManifest('latest');
    expect(m.bytes.equals(idx.manifest.bytes)).toBe(true);
    expect(m.mediaType).toBe(MediaType.ociIndex);
    const docker = makeIndex([makeImage({ docker: true })], { docker: true });
    await pushIndex(repo, docker, 'docker');
    expect((await repo.getManifest('docker')).mediaType).toBe(MediaType.dockerManifestList);
  });

  it('refuses a blob whose bytes do not match its digest, and stores nothing', async () => {
    const repo = client.repository(d.registry, 'bad');
    const bytes = randomBytes(2048);
    const desc = { mediaType: MediaType.ociLayerGzip, digest: digestOf('other bytes'), size: bytes.length };
    await expect(repo.putBlob(desc, Readable.from([bytes]))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await repo.headBlob(desc.digest)).toBeUndefined();
  });

  it('uploads in PATCH chunks when a chunk size is set, with progress', async () => {
    const chunked = new RegistryClient({ chunkSize: 64 * 1024 });
    const repo = chunked.repository(d.registry, 'chunked');
    const bytes = randomBytes(200_000);
    const desc = { mediaType: MediaType.ociLayerGzip, digest: digestOf(bytes), size: bytes.length };
    let progress = 0;
    // Many small pieces so the chunker has to join them.
    const pieces = Array.from({ length: 50 }, (_, i) => bytes.subarray(i * 4000, (i + 1) * 4000));
    await repo.putBlob(desc, Readable.from(pieces), (n) => (progress += n));
    expect(progress).toBe(bytes.length);
    expect((await read(await repo.getBlob(desc))).equals(bytes)).toBe(true);
  });

  it('putBlobComputed hashes while streaming and returns the descriptor', async () => {
    const repo = client.repository(d.registry, 'computed');
    const bytes = randomBytes(150_000);
    const desc = await repo.putBlobComputed(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), MediaType.ociLayerGzip);
    expect(desc).toEqual({ mediaType: MediaType.ociLayerGzip, digest: digestOf(bytes), size: bytes.length });
    expect((await read(await repo.getBlob(desc))).equals(bytes)).toBe(true);
  });

  it('mounts a blob from another repository (201) and reports a refused mount (202) as false', async () => {
    const src = client.repository(d.registry, 'mount-src');
    const img = makeImage();
    await pushImage(src, img, 'v1');
    const dst = client.repository(d.registry, 'mount-dst');
    expect(await dst.mountBlob(img.layers[0]!.desc, 'mount-src')).toBe(true);
    expect(await dst.hasBlob(img.layers[0]!.desc)).toBe(true);
    const absent = { mediaType: MediaType.ociLayerGzip, digest: digestOf('never uploaded'), size: 14 };
    expect(await dst.mountBlob(absent, 'mount-src')).toBe(false);
  });

  it('deletes a manifest by digest', async () => {
    const repo = client.repository(d.registry, 'deleting');
    const img = makeImage();
    await pushImage(repo, img, 'gone');
    await repo.deleteManifest(img.manifest.digest);
    expect(await repo.headManifest(img.manifest.digest)).toBeUndefined();
    await expect(repo.deleteManifest(img.manifest.digest)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('finds referrers through the sha256-<hex> tag fallback, filtered by artifact type', async () => {
    const repo = client.repository(d.registry, 'signed');
    const img = makeImage();
    await pushImage(repo, img, 'v1');
    const sig = makeReferrer(img.manifest, 'application/vnd.example.sig');
    const sbom = makeReferrer(img.manifest, 'application/vnd.example.sbom');
    await pushImage(repo, sig);
    await pushImage(repo, sbom);
    const list = [sig, sbom].map((r) => ({
      mediaType: r.manifest.mediaType,
      digest: r.manifest.digest,
      size: r.manifest.bytes.length,
      artifactType: JSON.parse(r.manifest.bytes.toString()).artifactType as string,
    }));
    expect(await repo.referrers(img.manifest.digest)).toEqual([]);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: list }));
    await repo.putManifest(`sha256-${img.manifest.digest.slice(7)}`, { bytes: body, mediaType: MediaType.ociIndex, digest: digestOf(body) });
    expect(await repo.referrers(img.manifest.digest)).toEqual(list);
    expect(await repo.referrers(img.manifest.digest, 'application/vnd.example.sbom')).toEqual([list[1]]);
  });

  it('lists 1,200 tags, all of them, sorted, with and without small pages', async () => {
    const repo = client.repository(d.registry, 'many-tags');
    const img = makeImage({ layers: [64] });
    await pushImage(repo, img, 't0');
    const tags = Array.from({ length: 1200 }, (_, i) => `t${i}`);
    // A few through the API (that path is what is under test), the rest written to storage directly.
    await parallel(tags.slice(1, 40), 8, (t) => repo.putManifest(t, img.manifest));
    await seedTags(d, 'many-tags', img.manifest.digest, tags.slice(40));
    const expected = [...tags].sort();
    expect(await repo.listTags()).toEqual(expected);
    expect(await repo.listTags({ pageSize: 100 })).toEqual(expected);
    expect(await repo.listTags({ pageSize: 7 })).toEqual(expected);
  });

  it('lists a catalog of 250 repositories with page size 100, and honours --limit/--last', async () => {
    const d2 = await startDistribution();
    try {
      const c = new RegistryClient();
      const img = makeImage({ layers: [32] });
      await pushImage(c.repository(d2.registry, 'r000'), img, 'v1');
      const names = Array.from({ length: 250 }, (_, i) => `r${String(i).padStart(3, '0')}`);
      await parallel(names.slice(1, 10), 4, async (name) => {
        const r = c.repository(d2.registry, name);
        for (const b of [img.config, ...img.layers]) expect(await r.mountBlob(b.desc, 'r000')).toBe(true);
        await r.putManifest('v1', img.manifest);
      });
      await seedRepositories(d2, 'r000', names.slice(10));
      const log: string[] = [];
      const counted = new RegistryClient({ log: (l) => log.push(l) });
      expect(await counted.catalog(d2.registry, { pageSize: 100 })).toEqual(names);
      expect(log.filter((l) => l.includes('/v2/_catalog'))).toHaveLength(3);
      expect(await c.catalog(d2.registry, { pageSize: 100, limit: 120 })).toEqual(names.slice(0, 120));
      expect(await c.catalog(d2.registry, { pageSize: 100, last: 'r244' })).toEqual(names.slice(245));
    } finally {
      await d2.close();
    }
  });
});
