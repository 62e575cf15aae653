import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/** Compare-and-swap on a manifest PUT by tag (If-Match / If-None-Match), on both storage backends. */
describe.each([
  { name: 'filesystem', memory: false },
  { name: 'memory', memory: true },
])('tag compare-and-swap ($name)', ({ memory }) => {
  let serve: ServeHandle;
  const a = makeImage();
  const b = makeImage();

  beforeAll(async () => {
    serve = await startServe({ memory });
    const repo = createRegistryClient().repository(serve.registry, 'cas/app');
    await pushImage(repo, a);
    await pushImage(repo, b);
  });
  afterAll(async () => {
    await serve?.close();
  });

  const put = (tag: string, body: Buffer, headers: Record<string, string>) =>
    fetch(`${serve.url}/v2/cas/app/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', ...headers },
      body: new Uint8Array(body),
    });
  const where = async (tag: string) => (await fetch(`${serve.url}/v2/cas/app/manifests/${tag}`, { method: 'HEAD' })).headers.get('docker-content-digest');

  it('/v2/ advertises the features', async () => {
    const res = await fetch(`${serve.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('regctl-features')).toBe('tag-cas, tag-delete, repo-delete, tag-digests');
  });

  it('If-None-Match: * creates a tag once, then answers 412 TAG_MOVED', async () => {
    let res = await put('v1', a.manifest.bytes, { 'if-none-match': '*' });
    expect(res.status).toBe(201);
    res = await put('v1', b.manifest.bytes, { 'if-none-match': '*' });
    expect(res.status).toBe(412);
    const body = (await res.json()) as { errors: Array<{ code: string; detail: unknown }> };
    expect(body.errors[0]!.code).toBe('TAG_MOVED');
    expect(body.errors[0]!.detail).toEqual({ tag: 'v1', current: a.manifest.digest, expected: null });
    expect(await where('v1')).toBe(a.manifest.digest);
  });

  it('If-Match moves the tag only from the digest named', async () => {
    await put('m', a.manifest.bytes, {});
    let res = await put('m', b.manifest.bytes, { 'if-match': `"${b.manifest.digest}"` });
    expect(res.status).toBe(412);
    expect(await where('m')).toBe(a.manifest.digest);
    res = await put('m', b.manifest.bytes, { 'if-match': `"${a.manifest.digest}"` });
    expect(res.status).toBe(201);
    expect(await where('m')).toBe(b.manifest.digest);
    // A tag that does not exist matches no digest.
    res = await put('absent', a.manifest.bytes, { 'if-match': `"${a.manifest.digest}"` });
    expect(res.status).toBe(412);
    expect(await where('absent')).toBeNull();
  });

  it('malformed conditions are 400, not a silent unconditional write', async () => {
    const bad: Array<Record<string, string>> = [{ 'if-match': 'sha256:abc' }, { 'if-match': '*' }, { 'if-none-match': '"x"' }, { 'if-match': `"${a.manifest.digest}"`, 'if-none-match': '*' }];
    for (const headers of bad) {
      const res = await put('bad', a.manifest.bytes, headers);
      expect(res.status).toBe(400);
    }
    expect(await where('bad')).toBeNull();
  });

  it('of 8 concurrent conditional moves from the same digest exactly one wins', async () => {
    await put('race', a.manifest.bytes, {});
    const images = Array.from({ length: 8 }, () => makeImage());
    const repo = createRegistryClient().repository(serve.registry, 'cas/app');
    for (const img of images) await pushImage(repo, img);
    const statuses = await Promise.all(images.map((img) => put('race', img.manifest.bytes, { 'if-match': `"${a.manifest.digest}"` }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(7);
    const winner = images[statuses.indexOf(201)]!;
    expect(await where('race')).toBe(winner.manifest.digest);
  });

  it('the client: putManifestIf and features()', async () => {
    const repo = createRegistryClient().repository(serve.registry, 'cas/app');
    expect([...(await repo.features())]).toEqual(['tag-cas', 'tag-delete', 'repo-delete', 'tag-digests']);
    expect(await repo.putManifestIf('client', a.manifest, undefined)).toBe(true);
    expect(await repo.putManifestIf('client', b.manifest, undefined)).toBe(false);
    expect(await repo.putManifestIf('client', b.manifest, a.manifest.digest)).toBe(true);
    expect(await where('client')).toBe(b.manifest.digest);
  });
});
