import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { layoutContent, pull, pushHttp, startMirror, tempDir, type MirrorServe } from './harness.js';

/**
 * `regctl serve --mirror` pulling through from another `regctl serve`, behind a proxy that
 * counts what reaches upstream and can fail, rate-limit or corrupt on demand.
 */

let upstream: ServeHandle;
let proxy: UpstreamProxy;
let work: string;
const mirrors: MirrorServe[] = [];

async function mirror(flags: Record<string, unknown> = {}): Promise<MirrorServe> {
  const m = await startMirror({ mirror: [`docker.io=${proxy.url}`], ...flags });
  mirrors.push(m);
  return m;
}

function expectSameAsUpstream(got: { manifest: string; blobs: Map<string, Buffer> }, image: TestImage): void {
  expect(got.manifest).toBe(image.manifest.digest);
  for (const b of [image.config, ...image.layers]) {
    expect(got.blobs.has(b.desc.digest)).toBe(true);
    expect(digestOf(got.blobs.get(b.desc.digest)!)).toBe(b.desc.digest);
  }
}

beforeAll(async () => {
  upstream = await startServe();
  proxy = await startUpstreamProxy(upstream.url);
  work = await tempDir();
});

afterEach(async () => {
  proxy.mode = 'pass';
  proxy.corrupt = false;
  proxy.latencyMs = 0;
  while (mirrors.length > 0) await mirrors.pop()!.close();
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

describe('pull-through', () => {
  test('skopeo pulls HOST/docker.io/NAME through the upstream; a second pull sends no blob GET upstream', async () => {
    const image = makeImage({ layers: [300_000, 5000] });
    await pushHttp(upstream.url, 'team/app', image, 'v1');
    const m = await mirror();
    await pull(`${m.registry}/docker.io/team/app:v1`, join(work, 'a1'));
    expectSameAsUpstream(await layoutContent(join(work, 'a1')), image);
    const gets = proxy.blobGets();
    for (const b of [image.config, ...image.layers]) expect(gets.get(b.desc.digest)).toBe(1);

    const before = proxy.requests.length;
    await pull(`${m.registry}/docker.io/team/app:v1`, join(work, 'a2'));
    expectSameAsUpstream(await layoutContent(join(work, 'a2')), image);
    // Within the tag TTL the second pull costs upstream nothing at all.
    expect(proxy.requests.slice(before)).toEqual([]);
    // Metrics count it.
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).toMatch(/regctl_registry_mirror_hits_total \d+/);
    expect(Number(/regctl_registry_mirror_upstream_bytes_total (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(305_000);
  });

  test('docker mirror mode: --mirror-default pulls names no local repository has; local ones win; pushes stay local', async () => {
    const image = makeImage({ layers: [2000] });
    await pushHttp(upstream.url, 'team/def', image, 'v1');
    const m = await mirror({ mirrorDefault: 'docker.io' });
    await pull(`${m.registry}/team/def:v1`, join(work, 'd1'));
    expectSameAsUpstream(await layoutContent(join(work, 'd1')), image);
    // Cached under the namespaced name.
    expect(await m.runtime.registry.storage.resolveTag('docker.io/team/def', 'v1')).toBe(image.manifest.digest);

    // A local repository of the same name as an upstream one wins.
    const mine = makeImage({ layers: [1000] });
    const theirs = makeImage({ layers: [1000] });
    await pushHttp(upstream.url, 'team/own', theirs, 'v1');
    await pushHttp(m.url, 'team/own', mine, 'v1');
    const got = await fetch(`${m.url}/v2/team/own/manifests/v1`, { headers: { Accept: mine.manifest.mediaType } });
    expect(got.headers.get('docker-content-digest')).toBe(mine.manifest.digest);
    await got.arrayBuffer();
    // The push went to the local name only: upstream never saw a write.
    expect(proxy.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    // The mirror namespace itself takes no pushes.
    const refused = await fetch(`${m.url}/v2/docker.io/team/def/blobs/uploads/`, { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
  });

  test('a tag moved upstream is seen after --mirror-tag-ttl; unchanged tags cost one HEAD', async () => {
    const v1 = makeImage({ layers: [1500] });
    const v2 = makeImage({ layers: [1600] });
    await pushHttp(upstream.url, 'team/moving', v1, 'latest');
    const slow = await mirror({ mirrorTagTtlMs: '1h' });
    const fast = await mirror({ mirrorTagTtlMs: '50ms' });
    const digestVia = async (m: MirrorServe) => {
      const r = await fetch(`${m.url}/v2/docker.io/team/moving/manifests/latest`, { headers: { Accept: v1.manifest.mediaType } });
      await r.arrayBuffer();
      return { digest: r.headers.get('docker-content-digest'), how: r.headers.get('regctl-mirror') };
    };
    expect(await digestVia(slow)).toEqual({ digest: v1.manifest.digest, how: 'miss' });
    expect(await digestVia(fast)).toEqual({ digest: v1.manifest.digest, how: 'miss' });
    // Unchanged: after the TTL one HEAD revalidates, no manifest GET.
    const before = proxy.requests.length;
    const revalidated = await waitFor(async () => {
      const r = await digestVia(fast);
      return r.how === 'revalidated' ? r : undefined;
    });
    expect(revalidated.digest).toBe(v1.manifest.digest);
    expect(proxy.requests.slice(before).filter((r) => r.path.endsWith('/manifests/latest')).every((r) => r.method === 'HEAD')).toBe(true);

    await pushHttp(upstream.url, 'team/moving', v2, 'latest');
    await waitFor(async () => (await digestVia(fast)).digest === v2.manifest.digest, { what: 'the moved tag through the short-TTL mirror' });
    // Within its TTL the other mirror still serves what it has.
    expect(await digestVia(slow)).toEqual({ digest: v1.manifest.digest, how: 'hit' });
  });

  test('upstream down or rate-limiting: cached images still pull (stale, said so); uncached ones fail with a clear error', async () => {
    const cached = makeImage({ layers: [4000] });
    const never = makeImage({ layers: [4100] });
    await pushHttp(upstream.url, 'team/cached', cached, 'v1');
    await pushHttp(upstream.url, 'team/never', never, 'v1');
    const m = await mirror({ mirrorTagTtlMs: '1ms' });
    await pull(`${m.registry}/docker.io/team/cached:v1`, join(work, 's1'));

    for (const mode of ['refuse', 'ratelimit', 'fail'] as const) {
      proxy.mode = mode;
      const out = join(work, `s-${mode}`);
      await pull(`${m.registry}/docker.io/team/cached:v1`, out);
      expectSameAsUpstream(await layoutContent(out), cached);
      const r = await fetch(`${m.url}/v2/docker.io/team/cached/manifests/v1`, { headers: { Accept: cached.manifest.mediaType } });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
      expect(r.headers.get('regctl-mirror')).toBe('stale');
      expect(m.logs.some((l) => l.includes('serving cached docker.io/team/cached:v1 stale'))).toBe(true);

      const miss = await fetch(`${m.url}/v2/docker.io/team/never/manifests/v1`);
      const body = (await miss.json()) as { errors: Array<{ code: string; message: string }> };
      expect(miss.status).toBe(mode === 'ratelimit' ? 429 : 502);
      expect(body.errors[0]!.message).toMatch(mode === 'refuse' ? /upstream docker\.io unreachable/ : mode === 'ratelimit' ? /rate-limiting/ : /answered 503/);
      expect(body.errors[0]!.message).toContain('docker.io/team/never:v1 is not cached');
    }
    proxy.mode = 'refuse';
    // skopeo shows the status only; the message (above) is in the body and in the server log.
    await expect(pull(`${m.registry}/docker.io/team/never:v1`, join(work, 's-never'))).rejects.toThrow(/502 Bad Gateway/);
    expect(m.logs.some((l) => l.includes('docker.io/team/never:v1 is not cached') && l.includes('unreachable'))).toBe(true);
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(Number(/regctl_registry_mirror_stale_serves_total (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(6);
  });

  test('20 concurrent cold pulls of one image: each blob is fetched upstream once', async () => {
    const image = makeImage({ layers: [2_000_000, 700_000, 30_000] });
    await pushHttp(upstream.url, 'team/cold', image, 'v1');
    const m = await mirror();
    proxy.latencyMs = 30;
    const outs = Array.from({ length: 20 }, (_, i) => join(work, `c${i}`));
    await Promise.all(outs.map((o) => pull(`${m.registry}/docker.io/team/cold:v1`, o)));
    for (const o of outs) expectSameAsUpstream(await layoutContent(o), image);
    const gets = proxy.blobGets();
    for (const b of [image.config, ...image.layers]) expect(gets.get(b.desc.digest)).toBe(1);
  }, 120_000);

  test('a corrupted upstream byte is detected: not served complete, not cached; the next good fetch is', async () => {
    const image = makeImage({ layers: [500_000] });
    await pushHttp(upstream.url, 'team/bad', image, 'v1');
    const m = await mirror();
    const layer = image.layers[0]!.desc.digest;
    proxy.corrupt = true;
    const res = await fetch(`${m.url}/v2/docker.io/team/bad/blobs/${layer}`);
    expect(res.status).toBe(200);
    // The last byte is held back until the digest matched: the body never completes.
    await expect(res.arrayBuffer()).rejects.toThrow();
    expect(m.logs.some((l) => l.includes(`sent bytes with digest`) && l.includes(layer))).toBe(true);
    await waitFor(() => m.runtime.registry.storage.statBlob('docker.io/team/bad', layer).then((i) => i === undefined));
    await expect(pull(`${m.registry}/docker.io/team/bad:v1`, join(work, 'bad1'))).rejects.toThrow();
    expect(await m.runtime.registry.storage.statBlob('docker.io/team/bad', layer)).toBeUndefined();

    proxy.corrupt = false;
    await pull(`${m.registry}/docker.io/team/bad:v1`, join(work, 'bad2'));
    expectSameAsUpstream(await layoutContent(join(work, 'bad2')), image);
    await waitFor(() => m.runtime.registry.storage.statBlob('docker.io/team/bad', layer));
  });

  test('a Range on a blob still downloading is served from the partial file', async () => {
    const image = makeImage({ layers: [1_000_000] });
    await pushHttp(upstream.url, 'team/range', image, 'v1');
    const m = await mirror();
    const layer = image.layers[0]!;
    const res = await fetch(`${m.url}/v2/docker.io/team/range/blobs/${layer.desc.digest}`, { headers: { Range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000-1999/${layer.bytes.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(layer.bytes.subarray(1000, 2000))).toBe(true);
  });

  test('eviction under --mirror-max-size keeps the most recently pulled images and never local pushes', async () => {
    const [a, b, c] = [makeImage({ layers: [200_000] }), makeImage({ layers: [200_000] }), makeImage({ layers: [200_000] })];
    await pushHttp(upstream.url, 'team/a', a, 'v1');
    await pushHttp(upstream.url, 'team/b', b, 'v1');
    await pushHttp(upstream.url, 'team/c', c, 'v1');
    const m = await mirror({ mirrorMaxSize: '450KiB' });
    const local = makeImage({ layers: [300_000] });
    await pushHttp(m.url, 'mine/app', local, 'v1');
    const storage = m.runtime.registry.storage;
    const has = (repo: string, img: TestImage) => storage.statBlob(repo, img.layers[0]!.desc.digest).then((i) => i !== undefined);
    await pull(`${m.registry}/docker.io/team/a:v1`, join(work, 'e-a'));
    await pull(`${m.registry}/docker.io/team/b:v1`, join(work, 'e-b'));
    await pull(`${m.registry}/docker.io/team/a:v1`, join(work, 'e-a2'));
    await pull(`${m.registry}/docker.io/team/c:v1`, join(work, 'e-c'));
    await waitFor(async () => !(await has('docker.io/team/b', b)), { what: 'b evicted' });
    expect(await has('docker.io/team/a', a)).toBe(true);
    expect(await has('docker.io/team/c', c)).toBe(true);
    expect(await has('mine/app', local)).toBe(true);
    expect(await storage.resolveTag('mine/app', 'v1')).toBe(local.manifest.digest);
    // An eviction may still be queued behind the one that removed b (a blob stored meanwhile).
    await waitFor(() => m.runtime.mirror!.index.totalBytes <= 450 * 1024, { what: 'the cache within --mirror-max-size' });
    expect(m.logs.some((l) => /mirror: evicted \d+ cached item/.test(l))).toBe(true);
    // Evicted content pulls through again.
    await pull(`${m.registry}/docker.io/team/b:v1`, join(work, 'e-b2'));
    expectSameAsUpstream(await layoutContent(join(work, 'e-b2')), b);
  });

  test('`regctl serve gc --mirror-max-size` evicts the least recently pulled cached content (never pushes), then collects', async () => {
    const [old, recent] = [makeImage({ layers: [200_000] }), makeImage({ layers: [200_000] })];
    await pushHttp(upstream.url, 'team/old', old, 'v1');
    await pushHttp(upstream.url, 'team/recent', recent, 'v1');
    const root = await tempDir('regctl-mirror-gc-');
    const m = await startMirror({ mirror: [`docker.io=${proxy.url}`] }, { root });
    const local = makeImage({ layers: [250_000] });
    await pushHttp(m.url, 'mine/app', local, 'v1');
    await pull(`${m.registry}/docker.io/team/old:v1`, join(work, 'g-old'));
    await pull(`${m.registry}/docker.io/team/recent:v1`, join(work, 'g-recent'));
    await m.close();
    const res = await runCli(['serve', 'gc', '--root', root, '--grace', '0s', '--mirror-max-size', '300KiB']);
    expect(res.stderr).toMatch(/mirror cache: evicted \d+ items? \(/);
    expect(res.code).toBe(0);
    const { FilesystemStorage } = await import('../../src/server/storage/fs.js');
    const storage = new FilesystemStorage(root);
    try {
      expect(await storage.statBlob('docker.io/team/old', old.layers[0]!.desc.digest)).toBeUndefined();
      expect(await storage.resolveTag('docker.io/team/old', 'v1')).toBeUndefined();
      expect(await storage.statBlob('docker.io/team/recent', recent.layers[0]!.desc.digest)).toBeDefined();
      expect(await storage.statBlob('mine/app', local.layers[0]!.desc.digest)).toBeDefined();
      expect(await storage.resolveTag('mine/app', 'v1')).toBe(local.manifest.digest);
    } finally {
      await storage.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
