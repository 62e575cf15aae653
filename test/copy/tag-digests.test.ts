import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyAllTags } from '../../src/copy/index.js';
import { RegistryClient } from '../../src/registry/client.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { seedTags, startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * regctl serve's tag-digests extension (issue 19, item 4): `tags/list?digests=1` lists each tag
 * with its manifest descriptor, so an up-to-date `copy --all-tags` between two serves costs one
 * request per side instead of one HEAD per tag and side. Other registries ignore the parameter
 * and the copy falls back to HEADs. Requests are counted by a proxy in front of each registry.
 */
const TAGS = Array.from({ length: 1200 }, (_, i) => `t${String(i).padStart(4, '0')}`);
const client = new RegistryClient();

function lines(p: CountingProxy): string[] {
  return p.requests.map((r) => `${r.method} ${r.path}${r.query ? `?${r.query}` : ''} ${r.status}`);
}

/** Four images, the 1,200 tags spread over them (tag i -> image i % 4). */
async function seedServe(s: ServeHandle): Promise<TestImage[]> {
  const repo = client.repository(s.registry, 'many');
  const imgs = Array.from({ length: 4 }, () => makeImage({ layers: [512, 256] }));
  for (const img of imgs) await pushImage(repo, img);
  for (let k = 0; k < 4; k++) await s.storage.putManifest('many', imgs[k]!.manifest, TAGS.filter((_, i) => i % 4 === k));
  return imgs;
}

describe('tag-digests between two regctl serve', () => {
  let a: ServeHandle;
  let b: ServeHandle;
  let pa: CountingProxy;
  let pb: CountingProxy;
  let imgs: TestImage[];
  beforeAll(async () => {
    a = await startServe();
    b = await startServe();
    imgs = await seedServe(a);
    pa = await startCountingProxy(a.url);
    pb = await startCountingProxy(b.url);
  });
  afterAll(async () => {
    await pa?.close();
    await pb?.close();
    await a?.close();
    await b?.close();
  });

  it('advertises the extension on /v2/ and answers tags with their descriptors (paged with n/last)', async () => {
    const base = await fetch(`${a.url}/v2/`);
    expect(base.headers.get('regctl-features')).toContain('tag-digests');
    const res = await fetch(`${a.url}/v2/many/tags/list?digests=1&n=2&last=t0000`);
    expect(res.headers.get('regctl-features')).toBe('tag-digests');
    expect(res.headers.get('link')).toBe('</v2/many/tags/list?digests=1&n=2&last=t0002>; rel="next"');
    const m = (i: number) => imgs[i]!.manifest;
    expect(await res.json()).toEqual({
      name: 'many',
      tags: ['t0001', 't0002'],
      digests: {
        t0001: { mediaType: m(1).mediaType, digest: m(1).digest, size: m(1).bytes.length },
        t0002: { mediaType: m(2).mediaType, digest: m(2).digest, size: m(2).bytes.length },
      },
    });
    // Without the parameter: the standard answer, nothing added.
    expect(await (await fetch(`${a.url}/v2/many/tags/list?n=1`)).json()).toEqual({ name: 'many', tags: ['t0000'] });
    expect((await fetch(`${a.url}/v2/nope/tags/list?digests=1`)).status).toBe(404);
  });

  it('cold copy of 1,200 tags, then up to date with exactly one request per side', async () => {
    const cold = await copyAllTags({ source: client.repository(pa.registry, 'many'), target: client.repository(pb.registry, 'many') });
    expect(cold.tags.filter((t) => t.outcome === 'pushed')).toHaveLength(1200);
    expect(await b.storage.listTags('many')).toEqual(TAGS);
    for (const k of [0, 1, 2, 3]) expect(await b.storage.resolveTag('many', TAGS[k]!)).toBe(imgs[k]!.manifest.digest);
    // The cold copy needed no manifest HEAD at either side for tags: both listings carried digests.
    expect(pa.count({ method: 'HEAD', path: /\/manifests\/t\d+$/ })).toBe(0);
    expect(pb.count({ method: 'HEAD', path: /\/manifests\/t\d+$/ })).toBe(0);

    pa.reset();
    pb.reset();
    const again = await copyAllTags({ source: client.repository(pa.registry, 'many'), target: client.repository(pb.registry, 'many') });
    expect(again.upToDate).toBe(true);
    expect(again.tags).toHaveLength(1200);
    expect(lines(pa)).toEqual(['GET /v2/many/tags/list?digests=1 200']);
    expect(lines(pb)).toEqual(['GET /v2/many/tags/list?digests=1 200']);
  });

  it('a tag moved at the source is seen from the listing and copied', async () => {
    await a.storage.putManifest('many', imgs[3]!.manifest, ['t0000']);
    pa.reset();
    pb.reset();
    const r = await copyAllTags({ source: client.repository(pa.registry, 'many'), target: client.repository(pb.registry, 'many') });
    expect(r.upToDate).toBe(false);
    expect(await b.storage.resolveTag('many', 't0000')).toBe(imgs[3]!.manifest.digest);
    expect(pb.count({ method: 'PUT', path: '/v2/many/manifests/t0000' })).toBe(1);
    expect(pb.count({ method: 'HEAD', path: /\/manifests\/t\d+$/ })).toBe(0);
  });
});

describe('tag-digests falls back against docker-registry', () => {
  let d1: Distribution;
  let d2: Distribution;
  let p1: CountingProxy;
  let p2: CountingProxy;
  const N = 40;
  const tags = TAGS.slice(0, N);
  beforeAll(async () => {
    d1 = await startDistribution();
    d2 = await startDistribution();
    const img = makeImage({ layers: [300] });
    await pushImage(client.repository(d1.registry, 'many'), img, tags[0]);
    await seedTags(d1, 'many', img.manifest.digest, tags.slice(1));
    p1 = await startCountingProxy(d1.url);
    p2 = await startCountingProxy(d2.url);
  });
  afterAll(async () => {
    await p1?.close();
    await p2?.close();
    await d1?.close();
    await d2?.close();
  });

  it('ignores the parameter; an up-to-date copy HEADs each tag at each side', async () => {
    const res = await fetch(`${d1.url}/v2/`);
    expect(res.headers.get('regctl-features')).toBeNull();
    await copyAllTags({ source: client.repository(p1.registry, 'many'), target: client.repository(p2.registry, 'many') });
    expect((await client.repository(d2.registry, 'many').listTags()).length).toBe(N);
    p1.reset();
    p2.reset();
    const again = await copyAllTags({ source: client.repository(p1.registry, 'many'), target: client.repository(p2.registry, 'many') });
    expect(again.upToDate).toBe(true);
    expect(p1.count({ method: 'GET', path: '/v2/many/tags/list' })).toBe(1);
    expect(p2.count({ method: 'GET', path: '/v2/many/tags/list' })).toBe(1);
    expect(p1.count({ method: 'HEAD', path: /\/manifests\/t\d+$/ })).toBe(N);
    expect(p2.count({ method: 'HEAD', path: /\/manifests\/t\d+$/ })).toBe(N);
    expect(p1.requests.length + p2.requests.length).toBe(2 + 2 * N);
  });
});
