import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage, makeMultiArch } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { http, pushBlob, pushManifest } from './client.js';

describe.each([['filesystem', false], ['memory', true]] as const)('core API (%s)', (_label, memory) => {
  let s: ServeHandle;
  beforeAll(async () => {
    s = await startServe({ memory });
  });
  afterAll(async () => {
    await s.close();
  });

  test('GET /v2/ answers 200 with the API version header', async () => {
    const r = await http(s.url, 'GET', '/v2/');
    expect(r.status).toBe(200);
    expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(r.json()).toEqual({});
  });

  test('monolithic POST ?digest= then HEAD/GET give exact bytes and headers', async () => {
    const data = randomBytes(3000);
    const digest = await pushBlob(s.url, 'mono/repo', data);
    const head = await http(s.url, 'HEAD', `/v2/mono/repo/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('3000');
    expect(head.headers['docker-content-digest']).toBe(digest);
    expect(head.body.length).toBe(0);
    const get = await http(s.url, 'GET', `/v2/mono/repo/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(data)).toBe(true);
    // Other repositories do not see it.
    expect((await http(s.url, 'HEAD', `/v2/other/blobs/${digest}`)).status).toBe(404);
  });

  test('POST, streamed PATCH, PUT ?digest= commits the blob', async () => {
    const data = randomBytes(100_000);
    const digest = digestOf(data);
    const post = await http(s.url, 'POST', '/v2/stream/blobs/uploads/');
    expect(post.status).toBe(202);
    const loc = post.headers.location!;
    expect(loc).toMatch(/^\/v2\/stream\/blobs\/uploads\/[0-9a-f]{32}$/);
    expect(post.headers.range).toBe('0-0');
    const patch = await http(s.url, 'PATCH', loc, { body: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(patch.status).toBe(202);
    expect(patch.headers.range).toBe(`0-${data.length - 1}`);
    const put = await http(s.url, 'PUT', `${patch.headers.location}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect(put.headers.location).toBe(`/v2/stream/blobs/${digest}`);
    expect(put.headers['docker-content-digest']).toBe(digest);
    expect((await http(s.url, 'GET', `/v2/stream/blobs/${digest}`)).body.equals(data)).toBe(true);
    // The session is gone.
    expect((await http(s.url, 'GET', loc)).status).toBe(404);
  });

  test('manifests by tag and digest: exact bytes and Content-Type; tags list and catalog', async () => {
    const img = makeImage({ docker: true });
    for (const b of [img.config, ...img.layers]) await pushBlob(s.url, 'app/web', b.bytes);
    const put = await pushManifest(s.url, 'app/web', 'v1', img.manifest.bytes, img.manifest.mediaType);
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(img.manifest.digest);
    expect(put.headers.location).toBe(`/v2/app/web/manifests/${img.manifest.digest}`);
    for (const ref of ['v1', img.manifest.digest]) {
      const get = await http(s.url, 'GET', `/v2/app/web/manifests/${ref}`);
      expect(get.status).toBe(200);
      expect(get.headers['content-type']).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(get.headers['docker-content-digest']).toBe(img.manifest.digest);
      expect(get.body.equals(img.manifest.bytes)).toBe(true);
      const head = await http(s.url, 'HEAD', `/v2/app/web/manifests/${ref}`);
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(img.manifest.bytes.length));
    }
    const idx = makeMultiArch();
    for (const child of idx.images) {
      for (const b of [child.config, ...child.layers]) await pushBlob(s.url, 'app/web', b.bytes);
      expect((await pushManifest(s.url, 'app/web', child.manifest.digest, child.manifest.bytes, child.manifest.mediaType)).status).toBe(201);
    }
    expect((await pushManifest(s.url, 'app/web', 'multi', idx.manifest.bytes, idx.manifest.mediaType)).status).toBe(201);
    const tags = await http(s.url, 'GET', '/v2/app/web/tags/list');
    expect(tags.status).toBe(200);
    expect(tags.json()).toEqual({ name: 'app/web', tags: ['multi', 'v1'] });
    const cat = await http(s.url, 'GET', '/v2/_catalog');
    expect(cat.json().repositories).toContain('app/web');
  });

  test('pagination of tags: n, last, Link; n=0 and last past the end are empty', async () => {
    const img = makeImage();
    for (const b of [img.config, ...img.layers]) await pushBlob(s.url, 'paged', b.bytes);
    for (const t of ['e', 'a', 'd', 'c', 'b']) {
      expect((await pushManifest(s.url, 'paged', t, img.manifest.bytes, img.manifest.mediaType)).status).toBe(201);
    }
    const p1 = await http(s.url, 'GET', '/v2/paged/tags/list?n=2');
    expect(p1.json().tags).toEqual(['a', 'b']);
    expect(p1.headers.link).toBe('</v2/paged/tags/list?n=2&last=b>; rel="next"');
    const p3 = await http(s.url, 'GET', '/v2/paged/tags/list?n=2&last=d');
    expect(p3.json().tags).toEqual(['e']);
    expect(p3.headers.link).toBeUndefined();
    const exact = await http(s.url, 'GET', '/v2/paged/tags/list?n=5');
    expect(exact.json().tags).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(exact.headers.link).toBeUndefined();
    const zero = await http(s.url, 'GET', '/v2/paged/tags/list?n=0');
    expect(zero.status).toBe(200);
    expect(zero.json().tags).toEqual([]);
    const past = await http(s.url, 'GET', '/v2/paged/tags/list?last=zzz');
    expect(past.json().tags).toEqual([]);
    const bad = await http(s.url, 'GET', '/v2/paged/tags/list?n=-1');
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBeTypeOf('string');
    expect((await http(s.url, 'GET', '/v2/nothing/here/tags/list')).json().errors[0].code).toBe('NAME_UNKNOWN');
  });

  test('catalog pagination', async () => {
    const all = (await http(s.url, 'GET', '/v2/_catalog')).json().repositories as string[];
    expect(all).toEqual([...all].sort());
    const first = await http(s.url, 'GET', '/v2/_catalog?n=1');
    expect(first.json().repositories).toEqual([all[0]]);
    expect(first.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(all[0]!)}>; rel="next"`);
    const rest = await http(s.url, 'GET', `/v2/_catalog?last=${encodeURIComponent(all[0]!)}`);
    expect(rest.json().repositories).toEqual(all.slice(1));
  });
});
