import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collectGarbage, type GcOptions } from '../../src/server/ops/gc.js';
import { blob, makeImage, makeIndex, makeMultiArch, makeReferrer } from '../helpers/images.js';
import { waitFor } from '../helpers/wait.js';
import { MemoryGcStore } from './memory-gc-store.js';

const HOUR = 3_600_000;
const run = (store: MemoryGcStore, options: GcOptions = {}) => collectGarbage(store, { now: () => store.now, ...options });
const orphan = (size = 100) => blob(randomBytes(size), 'application/octet-stream');

describe('gc reachability', () => {
  it('keeps tags, index children, configs, layers and (transitive) referrers; removes the unreachable', async () => {
    const s = new MemoryGcStore();
    const index = makeMultiArch();
    s.pushIndex('app', index, 'v1');
    const child = index.images[0]!.manifest;
    const sig = makeReferrer(child); // referrer of an index child
    s.pushImage('app', sig);
    const sigOfSig = makeReferrer(sig.manifest); // a referrer of a referrer
    s.pushImage('app', sigOfSig);
    const stale = makeImage({ layers: [300] }); // untagged, nothing refers to it
    s.pushImage('app', stale);
    const staleSig = makeReferrer(stale.manifest);
    s.pushImage('app', staleSig);
    const lost = orphan(5000);
    s.putBlob('app', lost);
    s.now += 2 * HOUR;

    // Default: untagged manifests are kept, only the stray blob goes.
    const r1 = await run(s);
    expect(r1.removed).toEqual([{ kind: 'blob', repository: 'app', digest: lost.desc.digest, size: 5000 }]);
    expect(r1.bytesReclaimed).toBe(5000);
    expect(s.has('app', stale.layers[0]!.desc.digest)).toBe(true);

    // --untagged: the stale image and its referrer go, the tagged tree and its referrers stay.
    const r2 = await run(s, { untagged: true });
    const gone = r2.removed.map((x) => x.digest).sort();
    const expected = [stale.manifest.digest, stale.config.desc.digest, stale.layers[0]!.desc.digest, staleSig.manifest.digest, staleSig.layers[0]!.desc.digest];
    // The referrers' shared empty config stays: the kept signatures use it too.
    expect(gone).toEqual(expected.sort());
    expect(r2.bytesReclaimed).toBe(r2.removed.reduce((n, x) => n + x.size, 0));
    for (const d of [index.manifest.digest, child.digest, sig.manifest.digest, sigOfSig.manifest.digest, ...sig.layers.map((l) => l.desc.digest), sig.config.desc.digest]) {
      expect(s.has('app', d)).toBe(true);
    }
    for (const img of index.images) for (const b of [img.config, ...img.layers]) expect(s.has('app', b.desc.digest)).toBe(true);
    expect(s.missingReachable()).toEqual([]);
    // A second run finds nothing more.
    expect((await run(s, { untagged: true })).removed).toEqual([]);
  });

  it('Docker manifest lists keep their children too', async () => {
    const s = new MemoryGcStore();
    const list = makeIndex([makeImage({ docker: true }), makeImage({ docker: true, platform: { os: 'linux', architecture: 'arm64' } })], { docker: true });
    s.pushIndex('d', list, 'latest');
    s.now += 2 * HOUR;
    const r = await run(s, { untagged: true });
    expect(r.removed).toEqual([]);
    expect(r.kept.manifests).toBe(3);
  });

  it('shared layers survive in the repository that still uses them; reclaimed bytes count only what left every repository', async () => {
    const s = new MemoryGcStore();
    const shared = makeImage({ layers: [4000, 1000] });
    s.pushImage('a', shared, 'v1');
    s.pushImage('b', shared, 'v1');
    const own = orphan(777);
    s.putBlob('a', own);
    // Untag in a: the image is now unreachable there.
    s.repos.get('a')!.tags.clear();
    s.now += 2 * HOUR;
    const r = await run(s, { untagged: true });
    expect(r.removed.filter((x) => x.repository === 'b')).toEqual([]);
    expect(r.removed.filter((x) => x.repository === 'a').map((x) => x.digest).sort()).toEqual(
      [shared.manifest.digest, shared.config.desc.digest, ...shared.layers.map((l) => l.desc.digest), own.desc.digest].sort(),
    );
    expect(r.bytesReclaimed).toBe(777);
    for (const b of [shared.config, ...shared.layers]) expect(s.has('b', b.desc.digest)).toBe(true);
    expect(s.missingReachable()).toEqual([]);
  });

  it('keeps anything younger than the grace period (default 1 hour)', async () => {
    const s = new MemoryGcStore();
    const old = orphan();
    s.putBlob('r', old);
    s.now += 50 * 60_000;
    const young = orphan();
    s.putBlob('r', young);
    // An in-flight multi-arch push: children pushed by digest, the index not tagged yet.
    const img = makeImage();
    s.pushImage('r', img);
    s.now += 20 * 60_000; // old is 70 min, young 20 min
    const r = await run(s, { untagged: true });
    expect(r.removed.map((x) => x.digest)).toEqual([old.desc.digest]);
    expect(s.has('r', young.desc.digest)).toBe(true);
    expect(s.has('r', img.manifest.digest)).toBe(true);
    const r2 = await run(s, { untagged: true, graceMs: 10 * 60_000 });
    expect(r2.removed.map((x) => x.digest).sort()).toEqual([young.desc.digest, img.manifest.digest, img.config.desc.digest, ...img.layers.map((l) => l.desc.digest)].sort());
  });

  it('dry run reports exactly what a real run removes, and deletes nothing', async () => {
    const s = new MemoryGcStore();
    s.pushImage('x', makeImage(), 'keep');
    s.pushImage('x', makeImage());
    s.putBlob('x', orphan(123));
    s.uploads.push({ repository: 'x', id: 'u1', size: 50, modified: s.now });
    s.now += 3 * HOUR;
    const dry = await run(s, { untagged: true, dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(s.deletes).toEqual([]);
    expect(dry.removed.length).toBe(6); // manifest, config, 2 layers, orphan, upload
    const real = await run(s, { untagged: true });
    expect(real.removed).toEqual(dry.removed);
    expect(real.bytesReclaimed).toBe(dry.bytesReclaimed);
    expect(s.deletes.length).toBe(6);
    expect(s.missingReachable()).toEqual([]);
  });

  it('removes idle upload sessions only', async () => {
    const s = new MemoryGcStore();
    s.uploads.push({ repository: 'r', id: 'old', size: 10, modified: s.now - 2 * HOUR });
    s.uploads.push({ repository: 'r', id: 'new', size: 20, modified: s.now - 60_000 });
    const r = await run(s, { uploadGraceMs: HOUR });
    expect(r.removed).toEqual([{ kind: 'upload', repository: 'r', id: 'old', size: 10 }]);
    expect(s.uploads.map((u) => u.id)).toEqual(['new']);
  });
});

describe('gc while the server runs', () => {
  it('a tag pushed during marking that reuses an old orphan blob keeps it', async () => {
    const s = new MemoryGcStore();
    const img = makeImage({ layers: [64] });
    // The layer was uploaded long ago and nothing referenced it...
    s.putBlob('r', img.layers[0]!);
    s.putBlob('r', img.config);
    s.now += 2 * HOUR;
    // ...then, between gc's first look and its sweep, a client pushes a manifest using it.
    s.before.listBlobs = () => {
      s.touch('r', img.layers[0]!.desc.digest);
      s.touch('r', img.config.desc.digest);
      s.putManifest('r', img.manifest.bytes, 'new');
    };
    const r = await run(s, { untagged: true });
    expect(r.removed).toEqual([]);
    expect(s.missingReachable()).toEqual([]);
  });

  it('a blob touched after listing is spared by the delete guard', async () => {
    const s = new MemoryGcStore();
    const b = orphan();
    const c = orphan();
    s.putBlob('r', b);
    s.putBlob('r', c);
    s.now += 2 * HOUR;
    // A HEAD that finds b (a push about to reference it) happens right before the sweep.
    s.before.deleteBlob = () => s.touch('r', b.desc.digest);
    const r = await run(s);
    expect(r.removed.map((x) => x.digest)).toEqual([c.desc.digest]);
    expect(s.has('r', b.desc.digest)).toBe(true);
  });

  it('a referrer pushed during gc for a kept manifest survives', async () => {
    const s = new MemoryGcStore();
    const img = makeImage();
    s.pushImage('r', img, 'v1');
    s.now += 2 * HOUR;
    const sig = makeReferrer(img.manifest);
    s.before.listBlobs = () => {
      // Pushed "now" but the test clock for gc was read before: make it look old to be sure
      // the subject link, not the grace period, is what keeps it.
      s.now -= 2 * HOUR;
      s.pushImage('r', sig);
      s.now += 2 * HOUR;
    };
    const r = await run(s, { untagged: true });
    expect(r.removed).toEqual([]);
    expect(s.has('r', sig.manifest.digest)).toBe(true);
    expect(s.has('r', sig.layers[0]!.desc.digest)).toBe(true);
  });
});

describe('gc robustness', () => {
  it('leaves a repository alone when one of its manifests is not JSON, and goes on with the others', async () => {
    const s = new MemoryGcStore();
    s.putManifest('bad', Buffer.from('not json'), 'x');
    s.putBlob('bad', orphan());
    s.putBlob('good', orphan(10));
    s.now += 2 * HOUR;
    const r = await run(s);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^bad: manifest sha256:[0-9a-f]{64} is not valid JSON; repository left untouched$/);
    expect(r.removed.map((x) => x.repository)).toEqual(['good']);
  });

  it('survives a tag that points at a missing manifest', async () => {
    const s = new MemoryGcStore();
    s.repos.set('r', { tags: new Map([['gone', `sha256:${'0'.repeat(64)}`]]), manifests: new Map(), blobs: new Map() });
    s.putBlob('r', orphan());
    s.now += 2 * HOUR;
    const r = await run(s);
    expect(r.removed).toHaveLength(1);
  });

  it('can be limited to some repositories', async () => {
    const s = new MemoryGcStore();
    s.putBlob('a', orphan());
    s.putBlob('b', orphan());
    s.now += 2 * HOUR;
    const r = await run(s, { repositories: ['b'] });
    expect(r.removed.map((x) => x.repository)).toEqual(['b']);
    expect(r.repositories).toBe(1);
  });

  it('handles a larger tree quickly', async () => {
    const s = new MemoryGcStore();
    for (let i = 0; i < 200; i++) s.pushImage(`repo${i % 10}`, makeImage({ layers: [16, 16, 16] }), i % 2 ? `t${i}` : undefined);
    s.now += 2 * HOUR;
    const t = performance.now();
    const r = await run(s, { untagged: true });
    expect(performance.now() - t).toBeLessThan(2000);
    expect(r.removed.filter((x) => x.kind === 'manifest')).toHaveLength(100);
    expect(r.removed).toHaveLength(500);
    expect(s.missingReachable()).toEqual([]);
  });
});

describe('scheduleGc', () => {
  it('runs periodically, never overlapping, and stops', async () => {
    const { scheduleGc } = await import('../../src/server/ops/gc.js');
    const s = new MemoryGcStore();
    s.putBlob('r', orphan(10));
    s.now += 2 * HOUR;
    const reports: number[] = [];
    let listings = 0;
    const store = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop === 'listRepositories') {
          return async () => {
            listings++;
            await new Promise((r) => setTimeout(r, 30));
            return target.listRepositories();
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const sched = scheduleGc(store, 20, { now: () => s.now, onReport: (r) => reports.push(r.removed.length) });
    const [a, b] = await Promise.all([sched.runNow(), sched.runNow()]);
    expect(a).toBe(b); // the second call joined the first run
    // Periodic: more runs follow on their own (polled).
    await waitFor(() => listings >= 3 && reports.length >= 2, { what: 'two more scheduled runs' });
    await sched.stop();
    const after = listings;
    // After stop() nothing runs again: a window of three intervals (20 ms) must stay quiet.
    await new Promise((r) => setTimeout(r, 60));
    expect(listings).toBe(after);
    expect(reports.length).toBeGreaterThan(0);
    expect(a.removed).toHaveLength(1);
    expect(() => scheduleGc(store, 0)).toThrow(RangeError);
  });
});
