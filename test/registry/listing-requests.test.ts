import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { seedTags, startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * How many requests listing costs (issue 19, item 6): tags are asked for without `n`, so a
 * registry that answers with the whole list takes one request; Link is followed only when the
 * registry paginates. Counted by a proxy in front of each registry.
 */
const TAGS = Array.from({ length: 10_000 }, (_, i) => `t${String(i).padStart(5, '0')}`);

function counts(p: CountingProxy): string[] {
  return p.requests.map((r) => `${r.method} ${r.path}${r.query ? `?${r.query}` : ''} ${r.status}`);
}

describe("listing 10,000 tags on Debian's docker-registry (v2.8)", () => {
  let d: Distribution;
  let proxy: CountingProxy;
  const client = new RegistryClient();
  beforeAll(async () => {
    d = await startDistribution();
    const img = makeImage();
    await pushImage(client.repository(d.registry, 'app'), img, TAGS[0]);
    await seedTags(d, 'app', img.manifest.digest, TAGS.slice(1));
    // 1,100 repositories: the catalog pages (docker-registry answers 100 names without n).
    const base = join(d.root, 'data', 'docker', 'registry', 'v2', 'repositories');
    const names = Array.from({ length: 1100 }, (_, i) => `r${String(i).padStart(4, '0')}`);
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < names.length) {
        const n = names[next++]!;
        await mkdir(join(base, n, '_layers'), { recursive: true });
        await mkdir(join(base, n, '_manifests', 'tags'), { recursive: true });
      }
    }));
    proxy = await startCountingProxy(d.url);
  }, 300_000);
  afterAll(async () => {
    await proxy?.close();
    await d?.close();
  });

  it('tags: one request without n (docker-registry ignores n and never pages tags)', async () => {
    proxy.reset();
    expect(await client.repository(proxy.registry, 'app').listTags()).toEqual(TAGS);
    expect(counts(proxy)).toEqual(['GET /v2/app/tags/list 200']);
  });

  it('tags with an explicit page size: n is sent; a full page without Link is asked again from its last tag', async () => {
    proxy.reset();
    expect(await client.repository(proxy.registry, 'app').listTags({ pageSize: 1000 })).toEqual(TAGS);
    // docker-registry 2.8 returns all 10,000 (in directory order) and ignores last: the second
    // answer adds nothing, so it stops.
    const seen = counts(proxy);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe('GET /v2/app/tags/list?n=1000 200');
    expect(seen[1]).toMatch(/^GET \/v2\/app\/tags\/list\?n=1000&last=t\d{5} 200$/);
  });

  it('catalog keeps n=1000: 2 requests for 1,101 repositories (without n it would be 12 pages of 100)', async () => {
    proxy.reset();
    const repos = await client.catalog(proxy.registry);
    expect(repos).toHaveLength(1101);
    expect(repos[0]).toBe('app');
    expect(counts(proxy)).toEqual(['GET /v2/_catalog?n=1000 200', 'GET /v2/_catalog?last=r0998&n=1000 200']);
    // The reference: what docker-registry does without n.
    const res = await fetch(`${proxy.url}/v2/_catalog`);
    expect(((await res.json()) as { repositories: string[] }).repositories).toHaveLength(100);
    expect(res.headers.get('link')).toBe('</v2/_catalog?last=r0098&n=100>; rel="next"');
  });
});

describe('listing 10,000 tags on regctl serve', () => {
  let s: ServeHandle;
  let proxy: CountingProxy;
  const client = new RegistryClient();
  beforeAll(async () => {
    s = await startServe();
    const img = makeImage();
    await pushImage(client.repository(s.registry, 'app'), img, TAGS[0]);
    await s.storage.putManifest('app', img.manifest, TAGS.slice(1));
    proxy = await startCountingProxy(s.url);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await s?.close();
  });

  it('tags: one request', async () => {
    proxy.reset();
    expect(await client.repository(proxy.registry, 'app').listTags()).toEqual(TAGS);
    expect(counts(proxy)).toEqual(['GET /v2/app/tags/list 200']);
  });

  it('tags with --page-size 1000: follows Link over 10 pages; the last page is full and has no Link, so one more (empty) request', async () => {
    proxy.reset();
    expect(await client.repository(proxy.registry, 'app').listTags({ pageSize: 1000 })).toEqual(TAGS);
    const seen = counts(proxy);
    expect(seen).toEqual([
      'GET /v2/app/tags/list?n=1000 200',
      ...Array.from({ length: 10 }, (_, i) => `GET /v2/app/tags/list?n=1000&last=t0${i}999 200`),
    ]);
  });

  it('catalog: one request', async () => {
    proxy.reset();
    expect(await client.catalog(proxy.registry)).toEqual(['app']);
    expect(counts(proxy)).toEqual(['GET /v2/_catalog?n=1000 200']);
  });
});
