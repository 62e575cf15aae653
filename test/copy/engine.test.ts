import { describe, expect, it } from 'vitest';
import { copyAllTags, copyImage, type CopyEvent } from '../../src/copy/index.js';
import { Limiter, mapLimit } from '../../src/copy/limiter.js';
import { DigestMismatchError, ExitCode } from '../../src/errors.js';
import { makeImage, makeIndex, makeMultiArch, makeReferrer, type TestImage, type TestIndex } from '../helpers/images.js';
import { MemoryStore, seed } from './memory-store.js';

function seedImage(store: MemoryStore, img: TestImage, tag?: string): void {
  seed(store, [img.manifest], [img.config, ...img.layers], tag ? { [tag]: img.manifest.digest } : {});
}

function seedIndex(store: MemoryStore, idx: TestIndex, tag?: string): void {
  for (const img of idx.images) seedImage(store, img);
  seed(store, [idx.manifest], [], tag ? { [tag]: idx.manifest.digest } : {});
}

function indexOfOp(store: MemoryStore, op: string, ref: string): number {
  return store.calls.findIndex((c) => c.op === op && c.ref === ref);
}

describe('copyImage', () => {
  it('copies a single image byte-exact and tags it', async () => {
    const src = new MemoryStore({ description: 'src' });
    const dst = new MemoryStore({ description: 'dst' });
    const img = makeImage({ layers: [5000, 3000] });
    seedImage(src, img, 'v1');
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'] });
    expect(report.digest).toBe(img.manifest.digest);
    expect(report.upToDate).toBe(false);
    expect(report.blobs).toEqual({ copied: 3, skipped: 0, mounted: 0 });
    expect(report.bytes).toBe(8000 + img.config.bytes.length);
    expect(report.tags).toEqual([{ tag: 'v1', digest: img.manifest.digest, outcome: 'pushed' }]);
    expect(dst.tags.get('v1')).toBe(img.manifest.digest);
    expect(dst.manifests.get(img.manifest.digest)!.bytes.equals(img.manifest.bytes)).toBe(true);
    for (const l of img.layers) expect(dst.blobs.get(l.desc.digest)!.equals(l.bytes)).toBe(true);
    expect(dst.committed).toBe(1);
    expect(dst.aborted).toBe(0);
  });

  it('copies an index whole: blobs, then children by digest, then the index under its tag', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const idx = makeMultiArch([700, 900]);
    seedIndex(src, idx, 'multi');
    const report = await copyImage({ source: src, target: dst, ref: 'multi', tags: ['multi', 'latest'] });
    expect(report.digest).toBe(idx.manifest.digest);
    expect(report.blobs.copied).toBe(6);
    expect(report.manifests.pushed).toBe(2);
    const lastBlob = Math.max(...dst.calls.map((c, i) => (c.op === 'putBlob' ? i : -1)));
    const childPuts = idx.images.map((i) => indexOfOp(dst, 'putManifest', i.manifest.digest));
    const tagPuts = ['multi', 'latest'].map((t) => indexOfOp(dst, 'putManifest', t));
    for (const c of childPuts) {
      expect(c).toBeGreaterThan(lastBlob);
      for (const t of tagPuts) expect(t).toBeGreaterThan(c);
    }
    // Tagged only: no extra PUT of the index by digest.
    expect(indexOfOp(dst, 'putManifest', idx.manifest.digest)).toBe(-1);
    expect(dst.tags.get('latest')).toBe(idx.manifest.digest);
    expect(dst.manifests.get(idx.manifest.digest)!.bytes.equals(idx.manifest.bytes)).toBe(true);
  });

  it('stores by digest when no tag is given (ref by digest)', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const idx = makeMultiArch();
    seedIndex(src, idx, 'x');
    const report = await copyImage({ source: src, target: dst, ref: idx.manifest.digest });
    expect(report.digest).toBe(idx.manifest.digest);
    expect(dst.manifests.has(idx.manifest.digest)).toBe(true);
    expect(dst.tags.size).toBe(0);
    expect(indexOfOp(dst, 'putManifest', idx.manifest.digest)).toBeGreaterThan(indexOfOp(dst, 'putManifest', idx.images[1]!.manifest.digest));
  });

  it('copies one platform: just that child manifest, tagged', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const idx = makeMultiArch();
    seedIndex(src, idx, 'multi');
    const arm = idx.images[1]!;
    const report = await copyImage({ source: src, target: dst, ref: 'multi', tags: ['arm'], platform: { os: 'linux', architecture: 'arm64' } });
    expect(report.digest).toBe(arm.manifest.digest);
    expect(dst.tags.get('arm')).toBe(arm.manifest.digest);
    expect(dst.manifests.has(idx.manifest.digest)).toBe(false);
    expect(dst.manifests.has(idx.images[0]!.manifest.digest)).toBe(false);
    expect([...dst.blobs.keys()].sort()).toEqual([arm.config, ...arm.layers].map((b) => b.desc.digest).sort());
  });

  it('fails with PLATFORM_NOT_FOUND naming the platforms there are', async () => {
    const src = new MemoryStore({ description: 'src' });
    const dst = new MemoryStore();
    seedIndex(src, makeMultiArch(), 'multi');
    const err = await copyImage({ source: src, target: dst, ref: 'multi', tags: ['x'], platform: { os: 'windows', architecture: 'amd64' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PLATFORM_NOT_FOUND', exitCode: ExitCode.notFound });
    expect((err as Error).message).toBe('src:multi has no windows/amd64 image (it has linux/amd64, linux/arm64/v8)');
    expect(dst.calls.filter((c) => c.op.startsWith('put'))).toEqual([]);
  });

  it('re-copy when up to date transfers nothing (HEAD only on the target)', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const idx = makeMultiArch();
    seedIndex(src, idx, 'multi');
    await copyImage({ source: src, target: dst, ref: 'multi', tags: ['multi'] });
    dst.calls.length = 0;
    src.calls.length = 0;
    const events: CopyEvent[] = [];
    const report = await copyImage({ source: src, target: dst, ref: 'multi', tags: ['multi'], onEvent: (e) => events.push(e) });
    expect(report.upToDate).toBe(true);
    expect(report.blobs).toEqual({ copied: 0, skipped: 0, mounted: 0 });
    expect(report.bytes).toBe(0);
    expect(dst.calls).toEqual([{ op: 'headManifest', ref: 'multi' }]);
    expect(src.ops('getBlob')).toEqual([]);
    expect(events.filter((e) => e.type === 'image')).toEqual([{ type: 'image', ref: 'multi', digest: idx.manifest.digest, upToDate: true }]);
  });

  it('adds a missing tag to content the target already has with one manifest PUT', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const img = makeImage();
    seedImage(src, img, 'v1');
    seedImage(dst, img, 'v1');
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1', 'stable'] });
    expect(report.tags).toEqual([
      { tag: 'v1', digest: img.manifest.digest, outcome: 'up-to-date' },
      { tag: 'stable', digest: img.manifest.digest, outcome: 'pushed' },
    ]);
    expect(dst.ops('putBlob', 'hasBlob', 'mountBlob')).toEqual([]);
    expect(dst.ops('putManifest')).toEqual([{ op: 'putManifest', ref: 'stable' }]);
  });

  it('skips blobs the target has (HEAD each) and downloads only the others', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const img = makeImage({ layers: [100, 200, 300] });
    seedImage(src, img, 'v1');
    dst.blobs.set(img.layers[1]!.desc.digest, img.layers[1]!.bytes);
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'] });
    expect(report.blobs).toEqual({ copied: 3, skipped: 1, mounted: 0 });
    expect(src.ops('getBlob').map((c) => c.ref)).not.toContain(img.layers[1]!.desc.digest);
    expect(src.ops('getBlob')).toHaveLength(3);
  });

  it('detects one corrupted byte: DigestMismatchError naming the blob, nothing tagged, target aborted', async () => {
    const img = makeImage({ layers: [50_000, 40_000] });
    const bad = img.layers[0]!.desc.digest;
    const src = new MemoryStore({ corrupt: bad, chunk: 4096 });
    const dst = new MemoryStore();
    seedImage(src, img, 'v1');
    const err = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).exitCode).toBe(5);
    expect((err as Error).message).toContain(`blob ${bad} digest mismatch: expected ${bad}, got sha256:`);
    expect(dst.ops('putManifest')).toEqual([]);
    expect(dst.tags.size).toBe(0);
    expect(dst.blobs.has(bad)).toBe(false);
    expect(dst.aborted).toBe(1);
    expect(dst.committed).toBe(0);
    // The verifier held back the last chunk: the target never saw the whole corrupt blob.
    expect(dst.received).toBeLessThan(50_000 + 40_000 + img.config.bytes.length);
  });

  it('a corrupted manifest from the source is refused', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const img = makeImage();
    seedImage(src, img, 'v1');
    const tampered = Buffer.from(img.manifest.bytes);
    tampered[tampered.length - 2] = 0x20;
    src.manifests.set(img.manifest.digest, { ...img.manifest, bytes: tampered });
    const err = await copyImage({ source: src, target: dst, ref: img.manifest.digest, tags: ['v1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(`manifest ${img.manifest.digest} from memory digest mismatch`);
    expect(dst.tags.size).toBe(0);
  });

  it('a missing source blob fails naming the blob and both ends', async () => {
    const src = new MemoryStore({ description: 'src' });
    const dst = new MemoryStore({ description: 'dst' });
    const img = makeImage({ layers: [10] });
    seedImage(src, img, 'v1');
    src.blobs.delete(img.layers[0]!.desc.digest);
    const err = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'] }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`reading blob ${img.layers[0]!.desc.digest} (10 bytes) from src: blob ${img.layers[0]!.desc.digest} not found in src`);
    expect(err).toMatchObject({ code: 'BLOB_UNKNOWN', exitCode: ExitCode.notFound });
    expect(dst.tags.size).toBe(0);
  });

  it('bounds blob transfers with the limiter', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore({ putDelay: 20 });
    const img = makeImage({ layers: [10, 20, 30, 40, 50, 60, 70] });
    seedImage(src, img, 'v1');
    await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], jobs: 3 });
    expect(dst.peakPuts).toBe(3);
    const dst1 = new MemoryStore({ putDelay: 5 });
    await copyImage({ source: src, target: dst1, ref: 'v1', tags: ['v1'], jobs: 1 });
    expect(dst1.peakPuts).toBe(1);
  });

  it('mounts blobs from the same registry instead of uploading', async () => {
    const img = makeImage({ layers: [100, 200] });
    const src = new MemoryStore({ description: 'reg/a' });
    seedImage(src, img, 'v1');
    const dst = new MemoryStore({ description: 'reg/b', mountFrom: new Map([['a', src]]) });
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], mountFrom: 'a' });
    expect(report.blobs).toEqual({ copied: 0, skipped: 0, mounted: 3 });
    expect(report.bytes).toBe(0);
    expect(src.ops('getBlob')).toEqual([]);
    expect(dst.ops('putBlob')).toEqual([]);
    expect(dst.tags.get('v1')).toBe(img.manifest.digest);
  });

  it('falls back to upload when the mount is refused', async () => {
    const img = makeImage({ layers: [100] });
    const src = new MemoryStore();
    seedImage(src, img, 'v1');
    const dst = new MemoryStore({ refuseMount: true });
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], mountFrom: 'a' });
    expect(report.blobs).toEqual({ copied: 2, skipped: 0, mounted: 0 });
    expect(dst.ops('mountBlob')).toHaveLength(2);
    expect(dst.ops('putBlob')).toHaveLength(2);
  });

  it('copies referrers recursively (a signature of an SBOM of the image)', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const img = makeImage();
    const sbom = makeReferrer(img.manifest, 'application/spdx+json');
    const sig = makeReferrer(sbom.manifest, 'application/vnd.example.signature.v1');
    seedImage(src, img, 'v1');
    seedImage(src, sbom);
    seedImage(src, sig);
    const report = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], referrers: true });
    expect(report.referrers).toBe(2);
    expect(dst.manifests.get(sbom.manifest.digest)!.bytes.equals(sbom.manifest.bytes)).toBe(true);
    expect(dst.manifests.get(sig.manifest.digest)!.bytes.equals(sig.manifest.bytes)).toBe(true);
    // Without the option they stay behind.
    const dst2 = new MemoryStore();
    await copyImage({ source: src, target: dst2, ref: 'v1', tags: ['v1'] });
    expect(dst2.manifests.size).toBe(1);
    // Up to date, referrers are still looked at (a new signature may have appeared).
    const sig2 = makeReferrer(img.manifest);
    seedImage(src, sig2);
    const again = await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], referrers: true });
    expect(again.referrers).toBe(3);
    expect(dst.manifests.has(sig2.manifest.digest)).toBe(true);
    expect(dst.ops('putBlob').filter((c) => img.layers.some((l) => l.desc.digest === c.ref))).toHaveLength(2);
  });

  it('dry run lists what would transfer and writes nothing', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore();
    const idx = makeMultiArch([100, 200]);
    seedIndex(src, idx, 'multi');
    const shared = idx.images[0]!.layers[0]!;
    dst.blobs.set(shared.desc.digest, shared.bytes);
    const report = await copyImage({ source: src, target: dst, ref: 'multi', tags: ['multi'], dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(dst.calls.filter((c) => c.op.startsWith('put') || c.op === 'mountBlob')).toEqual([]);
    expect(src.ops('getBlob')).toEqual([]);
    expect(dst.committed).toBe(0);
    const plan = report.plan!;
    expect(plan.filter((p) => p.kind === 'blob' && p.action === 'copy')).toHaveLength(5);
    expect(plan.filter((p) => p.kind === 'blob' && p.action === 'exists').map((p) => p.digest)).toEqual([shared.desc.digest]);
    expect(plan.filter((p) => p.kind === 'manifest').map((p) => p.digest).sort()).toEqual(idx.images.map((i) => i.manifest.digest).sort());
    expect(plan.filter((p) => p.kind === 'tag')).toEqual([expect.objectContaining({ tag: 'multi', digest: idx.manifest.digest, action: 'push' })]);
    expect(report.tags).toEqual([{ tag: 'multi', digest: idx.manifest.digest, outcome: 'planned' }]);
  });

  it('an abort signal stops the copy: transfers destroyed, nothing tagged, target aborted', async () => {
    const src = new MemoryStore();
    const dst = new MemoryStore({ putDelay: 30 });
    const img = makeImage({ layers: [1000, 2000, 3000] });
    seedImage(src, img, 'v1');
    const ac = new AbortController();
    const copying = copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], jobs: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    const err = await copying.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ABORTED', message: 'copy interrupted: nothing was tagged after the interruption' });
    expect(dst.ops('putManifest')).toEqual([]);
    expect(dst.ops('putBlob').length).toBeLessThan(3);
    expect(dst.aborted).toBe(1);
  });

  it('emits progress events ending with blob-done for every blob', async () => {
    const src = new MemoryStore({ chunk: 64 * 1024 });
    const dst = new MemoryStore();
    const img = makeImage({ layers: [600_000] });
    seedImage(src, img, 'v1');
    const events: CopyEvent[] = [];
    await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], onEvent: (e) => events.push(e) });
    const layer = img.layers[0]!.desc.digest;
    const progress = events.filter((e) => e.type === 'blob-progress' && e.digest === layer).map((e) => (e as { bytes: number }).bytes);
    expect(progress.at(-1)).toBe(600_000);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.type === 'blob-done')).toHaveLength(2);
    const lastDone = events.map((e) => e.type).lastIndexOf('blob-done');
    expect(events.findIndex((e) => e.type === 'tag')).toBeGreaterThan(lastDone);
  });
});

describe('copyAllTags', () => {
  function repo(): { src: MemoryStore; a: TestImage; b: TestImage; idx: TestIndex } {
    const src = new MemoryStore({ description: 'src' });
    const a = makeImage({ layers: [1000, 2000] });
    // b shares a's first layer.
    const b = makeImage({ layers: [1000] });
    b.layers[0] = a.layers[0]!;
    const rebuilt = makeIndex([a]);
    seedImage(src, a, 'a1');
    src.tags.set('a2', a.manifest.digest);
    src.tags.set('a3', a.manifest.digest);
    seed(src, [], [...b.layers, b.config]);
    seedIndex(src, rebuilt, 'idx');
    return { src, a, b, idx: rebuilt };
  }

  it('copies every tag; tags sharing a digest transfer once; a shared blob transfers once', async () => {
    const { src, a, idx } = repo();
    const dst = new MemoryStore();
    const report = await copyAllTags({ source: src, target: dst });
    expect([...dst.tags.entries()].sort()).toEqual([
      ['a1', a.manifest.digest],
      ['a2', a.manifest.digest],
      ['a3', a.manifest.digest],
      ['idx', idx.manifest.digest],
    ]);
    // a's blobs are needed by the a-tags and the index: each read and written once.
    const gets = src.ops('getBlob').map((c) => c.ref);
    expect(gets.length).toBe(new Set(gets).size);
    expect(dst.ops('putBlob').length).toBe(3);
    expect(report.blobs.copied).toBe(3);
    expect(report.tags.map((t) => `${t.tag}:${t.outcome}`)).toEqual(['a1:pushed', 'a2:pushed', 'a3:pushed', 'idx:pushed']);
    expect(report.images).toHaveLength(2);
    expect(dst.committed).toBe(1);
    // The target's (empty) tag list answered for every tag: no HEAD by tag.
    expect(dst.ops('headManifest').filter((c) => !c.ref.startsWith('sha256:'))).toEqual([]);
  });

  it('include / exclude select tags', async () => {
    const { src } = repo();
    const dst = new MemoryStore();
    const report = await copyAllTags({ source: src, target: dst, include: /^a/, exclude: /3$/ });
    expect(report.tags.map((t) => t.tag)).toEqual(['a1', 'a2']);
    expect([...dst.tags.keys()].sort()).toEqual(['a1', 'a2']);
  });

  it('skip-existing: immutable tags present at the destination get no further checks', async () => {
    const { src, a } = repo();
    const dst = new MemoryStore();
    await copyAllTags({ source: src, target: dst, include: /^a1$/ });
    dst.calls.length = 0;
    src.calls.length = 0;
    const report = await copyAllTags({ source: src, target: dst, include: /^a/, skipExisting: /^a[0-9]$/ });
    expect(report.tags).toEqual([
      { tag: 'a1', outcome: 'skipped-existing' },
      { tag: 'a2', digest: a.manifest.digest, outcome: 'pushed' },
      { tag: 'a3', digest: a.manifest.digest, outcome: 'pushed' },
    ]);
    expect(dst.ops('headManifest').map((c) => c.ref)).not.toContain('a1');
    expect(src.ops('headManifest', 'getManifest').map((c) => c.ref)).not.toContain('a1');
    expect(dst.ops('putBlob')).toEqual([]);
  });

  it('up to date: only HEADs, no body transferred', async () => {
    const { src } = repo();
    const dst = new MemoryStore();
    await copyAllTags({ source: src, target: dst });
    dst.calls.length = 0;
    src.calls.length = 0;
    const report = await copyAllTags({ source: src, target: dst });
    expect(report.upToDate).toBe(true);
    expect(new Set(dst.calls.map((c) => c.op))).toEqual(new Set(['listTags', 'headManifest']));
    expect(new Set(src.calls.map((c) => c.op))).toEqual(new Set(['listTags', 'headManifest']));
  });

  it('one corrupt blob: the failing image is not tagged and the error propagates', async () => {
    const { a } = repo();
    const src = new MemoryStore({ corrupt: a.layers[1]!.desc.digest });
    seedImage(src, a, 'a1');
    const dst = new MemoryStore();
    const err = await copyAllTags({ source: src, target: dst }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(dst.tags.size).toBe(0);
    expect(dst.aborted).toBe(1);
  });
});

describe('Limiter', () => {
  it('never runs more than its limit and runs everything', async () => {
    const l = new Limiter(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        l.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          order.push(n);
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(l.peak).toBe(2);
    expect(order.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => new Limiter(0)).toThrow(RangeError);
  });

  it('mapLimit keeps order and stops handing out work after a failure', async () => {
    expect(await mapLimit([3, 1, 2], 2, async (n) => n * 10)).toEqual([30, 10, 20]);
    const started: number[] = [];
    const err = await mapLimit([1, 2, 3, 4, 5, 6], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('boom');
      return n;
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('boom');
    expect(started).toEqual([1, 2]);
  });
});
