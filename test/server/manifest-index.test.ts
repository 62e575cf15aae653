import { describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { ManifestIndex } from '../../src/server/storage/manifest-index.js';
import { MemoryStorage } from '../../src/server/storage/memory.js';

/** The UI's index: built from storage, kept current by puts and deletes, refreshed after its TTL. */

function manifest(n: number) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: 'application/vnd.example.config', digest: digestOf(Buffer.from(`c${n}`)), size: 10 },
      layers: [{ mediaType: MediaType.ociLayerGzip, digest: digestOf(Buffer.from(`l${n}`)), size: 1000 }],
    }),
  );
  return { digest: digestOf(bytes), mediaType: MediaType.ociManifest, bytes };
}

describe('ManifestIndex', () => {
  it('rows and totals follow puts and deletes through the storage; other writers after the TTL', async () => {
    let now = 1_000_000;
    const storage = new MemoryStorage(() => now);
    const a = manifest(1);
    await storage.putManifest('app', a, ['1.0.0']); // before the index exists: found by the rebuild
    const index = new ManifestIndex(storage, { ttlMs: 30_000, now: () => now });
    index.attach();
    const rows = await index.tags('app');
    expect(rows).toEqual([{ tag: '1.0.0', digest: a.digest, summary: { digest: a.digest, mediaType: MediaType.ociManifest, size: a.bytes.length + 1010, platforms: [], artifactType: 'application/vnd.example.config' }, pushed: 1_000_000 }]);
    expect(await index.tags('app')).toBe(rows); // cached: the same array

    const b = manifest(2);
    now += 5;
    await storage.putManifest('app', b, ['2.0.0', 'latest']);
    expect((await index.tags('app'))!.map((r) => [r.tag, r.digest, r.pushed])).toEqual([
      ['1.0.0', a.digest, 1_000_000], // the storage's record, from before the index existed
      ['2.0.0', b.digest, now],
      ['latest', b.digest, now],
    ]);
    expect(await index.repository('app')).toEqual({ name: 'app', tags: 3, size: 2 * (a.bytes.length + 1010), lastPush: now });

    await storage.deleteTag('app', 'latest');
    expect((await index.tags('app'))!.map((r) => r.tag)).toEqual(['1.0.0', '2.0.0']);
    await storage.deleteManifest('app', a.digest);
    expect((await index.tags('app'))!.map((r) => r.tag)).toEqual(['2.0.0']);

    // Another writer (another instance, gc elsewhere): the index is unpatched there.
    const other = Object.getPrototypeOf(storage) as MemoryStorage;
    await other.deleteTag.call(storage, 'app', '2.0.0');
    expect((await index.tags('app'))!.map((r) => r.tag)).toEqual(['2.0.0']);
    now += 30_000;
    expect(await index.tags('app')).toEqual([]);
    expect(await index.tags('missing')).toBeUndefined();
  });

  it('invalidate() (after gc) rebuilds on next use', async () => {
    const storage = new MemoryStorage();
    const index = new ManifestIndex(storage);
    index.attach();
    const a = manifest(3);
    await storage.putManifest('x', a, ['v1']);
    expect((await index.tags('x'))!.length).toBe(1);
    await MemoryStorage.prototype.deleteManifest.call(storage, 'x', a.digest);
    expect((await index.tags('x'))!.length).toBe(1);
    index.invalidate();
    expect((await index.tags('x'))!.length).toBe(0);
  });
});

describe('ManifestIndex.repositories', () => {
  it('keeps the list for the TTL; this process\'s new and deleted repositories show at once, other writers\' after the TTL', async () => {
    let now = 1_000_000;
    const storage = new MemoryStorage(() => now);
    await storage.putManifest('a', manifest(1), ['1']);
    const index = new ManifestIndex(storage, { ttlMs: 30_000, now: () => now });
    index.attach();
    const first = await index.repositories();
    expect(first).toEqual(['a']);
    expect(await index.repositories()).toBe(first); // cached
    await storage.putManifest('b', manifest(2), ['1']);
    expect(await index.repositories()).toEqual(['a', 'b']);
    await storage.deleteRepository!('a');
    expect(await index.repositories()).toEqual(['b']);
    const other = Object.getPrototypeOf(storage) as MemoryStorage;
    await other.putManifest.call(storage, 'c', manifest(3), ['1']);
    expect(await index.repositories()).toEqual(['b']);
    now += 30_000;
    expect(await index.repositories()).toEqual(['b', 'c']);
  });
});
