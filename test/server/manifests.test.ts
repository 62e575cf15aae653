import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { makeImage, makeMultiArch, makeReferrer, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';
import { http, pushBlob, pushManifest, rawGet } from './client.js';

async function pushImageBlobs(url: string, repo: string, img: TestImage): Promise<void> {
  for (const b of [img.config, ...img.layers]) await pushBlob(url, repo, b.bytes);
}

describe.each([['filesystem', false], ['memory', true]] as const)('manifests, tags, referrers (%s)', (_label, memory) => {
  let s: ServeHandle;
  beforeAll(async () => {
    s = await startServe({ memory });
  });
  afterAll(async () => {
    await s.close();
  });

  test('missing blobs and missing index children are MANIFEST_BLOB_UNKNOWN', async () => {
    const img = makeImage();
    await pushBlob(s.url, 'mbu', img.config.bytes);
    const r = await pushManifest(s.url, 'mbu', 'v1', img.manifest.bytes, img.manifest.mediaType);
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(r.json().errors[0].detail).toEqual({ digest: img.layers[0]!.desc.digest });
    const idx = makeMultiArch();
    const ri = await pushManifest(s.url, 'mbu', 'multi', idx.manifest.bytes, idx.manifest.mediaType);
    expect(ri.status).toBe(400);
    expect(ri.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await http(s.url, 'GET', '/v2/mbu/manifests/v1')).status).toBe(404);
  });

  test('push by digest verifies the body; ?tag= adds tags; wrong digest is DIGEST_INVALID', async () => {
    const img = makeImage();
    await pushImageBlobs(s.url, 'bydigest', img);
    const bad = await pushManifest(s.url, 'bydigest', digestOf(Buffer.from('x')), img.manifest.bytes, img.manifest.mediaType);
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBe('DIGEST_INVALID');
    const junk = await pushManifest(s.url, 'bydigest', 'sha256:totallywrong', img.manifest.bytes, img.manifest.mediaType);
    expect(junk.status).toBe(400);
    expect(junk.json().errors[0].code).toBe('DIGEST_INVALID');
    const ok = await http(s.url, 'PUT', `/v2/bydigest/manifests/${img.manifest.digest}?tag=a&tag=b`, {
      body: img.manifest.bytes,
      headers: { 'content-type': img.manifest.mediaType },
    });
    expect(ok.status).toBe(201);
    // One OCI-Tag line per accepted tag parameter (the test client joins repeated headers).
    expect(ok.headers['oci-tag']).toBe('a, b');
    expect((await http(s.url, 'GET', '/v2/bydigest/tags/list')).json().tags).toEqual(['a', 'b']);
    const badTag = await http(s.url, 'PUT', `/v2/bydigest/manifests/${img.manifest.digest}?tag=-no`, {
      body: img.manifest.bytes,
      headers: { 'content-type': img.manifest.mediaType },
    });
    expect(badTag.status).toBe(400);
  });

  test('schema 1, invalid JSON, mismatched Content-Type are MANIFEST_INVALID; > 4 MiB is 413', async () => {
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [] }));
    for (const [body, ct] of [
      [schema1, MediaType.dockerSchema1Signed],
      [schema1, 'application/json'],
      [Buffer.from('{not json'), MediaType.ociManifest],
      [Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })), MediaType.ociManifest],
    ] as const) {
      const r = await pushManifest(s.url, 'invalid', 'v1', body, ct);
      expect(r.status).toBe(400);
      expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
    }
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const r = await pushManifest(s.url, 'invalid', 'v1', huge, MediaType.ociManifest);
    expect(r.status).toBe(413);
    expect(r.json().errors[0].code).toBe('SIZE_INVALID');
  });

  test('Content-Type generic: the body mediaType is stored and served', async () => {
    const img = makeImage();
    await pushImageBlobs(s.url, 'generic', img);
    expect((await pushManifest(s.url, 'generic', 'v1', img.manifest.bytes, 'application/json')).status).toBe(201);
    const get = await http(s.url, 'GET', '/v2/generic/manifests/v1');
    expect(get.headers['content-type']).toBe(MediaType.ociManifest);
  });

  test('tag moves, tag DELETE keeps the manifest by digest, digest DELETE removes all its tags', async () => {
    const a = makeImage();
    const b = makeImage();
    await pushImageBlobs(s.url, 'tagmove', a);
    await pushImageBlobs(s.url, 'tagmove', b);
    await pushManifest(s.url, 'tagmove', 'latest', a.manifest.bytes, a.manifest.mediaType);
    await pushManifest(s.url, 'tagmove', 'stable', a.manifest.bytes, a.manifest.mediaType);
    await pushManifest(s.url, 'tagmove', 'latest', b.manifest.bytes, b.manifest.mediaType);
    expect((await http(s.url, 'GET', '/v2/tagmove/manifests/latest')).headers['docker-content-digest']).toBe(b.manifest.digest);
    expect((await http(s.url, 'DELETE', '/v2/tagmove/manifests/latest')).status).toBe(202);
    expect((await http(s.url, 'GET', '/v2/tagmove/manifests/latest')).status).toBe(404);
    expect((await http(s.url, 'GET', `/v2/tagmove/manifests/${b.manifest.digest}`)).status).toBe(200);
    expect((await http(s.url, 'DELETE', `/v2/tagmove/manifests/${a.manifest.digest}`)).status).toBe(202);
    expect((await http(s.url, 'GET', '/v2/tagmove/tags/list')).json().tags).toEqual([]);
    const gone = await http(s.url, 'GET', `/v2/tagmove/manifests/${a.manifest.digest}`);
    expect(gone.status).toBe(404);
    expect(gone.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    const again = await http(s.url, 'DELETE', '/v2/tagmove/manifests/nosuchtag');
    expect(again.status).toBe(404);
    expect(again.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
  });

  test('referrers: subject need not exist, OCI-Subject header, artifactType filter with OCI-Filters-Applied', async () => {
    const subject = makeImage();
    const sig = makeReferrer(subject.manifest, 'application/vnd.example.sig');
    const sbom = makeReferrer(subject.manifest, 'application/vnd.example.sbom');
    for (const r of [sig, sbom]) {
      await pushImageBlobs(s.url, 'refs', r);
      const put = await pushManifest(s.url, 'refs', r.manifest.digest, r.manifest.bytes, r.manifest.mediaType);
      expect(put.status).toBe(201);
      expect(put.headers['oci-subject']).toBe(subject.manifest.digest);
    }
    const all = await http(s.url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe(MediaType.ociIndex);
    expect(all.headers['oci-filters-applied']).toBeUndefined();
    const body = all.json();
    expect(body.schemaVersion).toBe(2);
    expect(body.mediaType).toBe(MediaType.ociIndex);
    const expected = [sig, sbom]
      .map((r) => ({ mediaType: MediaType.ociManifest, digest: r.manifest.digest, size: r.manifest.bytes.length, artifactType: JSON.parse(r.manifest.bytes.toString()).artifactType }))
      .sort((x, y) => (x.digest < y.digest ? -1 : 1));
    expect(body.manifests).toEqual(expected);
    const filtered = await http(s.url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(filtered.json().manifests.map((d: { digest: string }) => d.digest)).toEqual([sbom.manifest.digest]);
    const none = await http(s.url, 'GET', `/v2/refs/referrers/${digestOf(Buffer.from('nothing'))}`);
    expect(none.status).toBe(200);
    expect(none.json().manifests).toEqual([]);
    const bad = await http(s.url, 'GET', '/v2/refs/referrers/sha256:nope');
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBe('DIGEST_INVALID');
    // Deleting a referrer removes it from the list.
    expect((await http(s.url, 'DELETE', `/v2/refs/manifests/${sig.manifest.digest}`)).status).toBe(202);
    const after = await http(s.url, 'GET', `/v2/refs/referrers/${subject.manifest.digest}`);
    expect(after.json().manifests.map((d: { digest: string }) => d.digest)).toEqual([sbom.manifest.digest]);
  });

  test('artifactType falls back to the config media type; annotations are reported', async () => {
    const subject = makeImage();
    const cfg = Buffer.from('{"kind":"attestation"}');
    await pushBlob(s.url, 'refs2', cfg);
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: 'application/vnd.example.config+json', digest: digestOf(cfg), size: cfg.length },
        layers: [],
        subject: { mediaType: MediaType.ociManifest, digest: subject.manifest.digest, size: subject.manifest.bytes.length },
        annotations: { 'org.example.k': 'v' },
      }),
    );
    expect((await pushManifest(s.url, 'refs2', digestOf(body), body, MediaType.ociManifest)).status).toBe(201);
    const list = (await http(s.url, 'GET', `/v2/refs2/referrers/${subject.manifest.digest}`)).json().manifests;
    expect(list).toEqual([
      { mediaType: MediaType.ociManifest, digest: digestOf(body), size: body.length, artifactType: 'application/vnd.example.config+json', annotations: { 'org.example.k': 'v' } },
    ]);
  });

  test('nested index with artifactType and subject: accepted, listed as a referrer with its artifactType', async () => {
    const child = makeImage();
    await pushImageBlobs(s.url, 'nested', child);
    await pushManifest(s.url, 'nested', child.manifest.digest, child.manifest.bytes, child.manifest.mediaType);
    const inner = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        artifactType: 'application/vnd.example.bundle',
        manifests: [{ mediaType: child.manifest.mediaType, digest: child.manifest.digest, size: child.manifest.bytes.length }],
        subject: { mediaType: child.manifest.mediaType, digest: child.manifest.digest, size: child.manifest.bytes.length },
      }),
    );
    const put = await pushManifest(s.url, 'nested', digestOf(inner), inner, MediaType.ociIndex);
    expect(put.status).toBe(201);
    expect(put.headers['oci-subject']).toBe(child.manifest.digest);
    const outer = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociIndex, digest: digestOf(inner), size: inner.length }] }),
    );
    expect((await pushManifest(s.url, 'nested', 'outer', outer, MediaType.ociIndex)).status).toBe(201);
    const refs = (await http(s.url, 'GET', `/v2/nested/referrers/${child.manifest.digest}`)).json().manifests;
    expect(refs).toEqual([{ mediaType: MediaType.ociIndex, digest: digestOf(inner), size: inner.length, artifactType: 'application/vnd.example.bundle' }]);
  });

  test('bad names never reach storage: NAME_INVALID', async () => {
    for (const path of ['/v2/UPPER/tags/list', '/v2/a/../b/tags/list', '/v2/a//b/tags/list', '/v2/a%2fb/tags/list', '/v2/repo/blobs/tags/list', '/v2/-x/manifests/latest']) {
      const r = await http(s.url, 'GET', path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
      expect(r.json().errors[0].code).toBeTypeOf('string');
    }
    const r = await http(s.url, 'GET', '/v2/UPPER/tags/list');
    expect(r.json().errors[0].code).toBe('NAME_INVALID');
    // Dot segments are judged as sent, not resolved away.
    for (const path of ['/v2/a/../b/tags/list', '/v2/a/%2e%2e/b/tags/list', '/v2/../../etc/tags/list', '/v2//etc/tags/list']) {
      const raw = await rawGet(s.url, path);
      expect(raw.status, path).toBe(400);
      expect(JSON.parse(raw.body).errors[0].code, path).toBe('NAME_INVALID');
    }
    const un = await http(s.url, 'GET', '/v2/nosuch/thing');
    expect(un.status).toBe(404);
    expect(un.json().errors[0].code).toBeTypeOf('string');
    const method = await http(s.url, 'POST', '/v2/x/tags/list');
    expect(method.status).toBe(405);
    expect(method.json().errors[0].code).toBe('UNSUPPORTED');
  });
});

describe('policies and the on-disk layout', () => {
  test('--read-only and --no-delete refuse with 405 UNSUPPORTED', async () => {
    const ro = await startServe({ memory: true, readOnly: true });
    try {
      const r = await http(ro.url, 'POST', '/v2/x/blobs/uploads/');
      expect(r.status).toBe(405);
      expect(r.json().errors[0].code).toBe('UNSUPPORTED');
      expect((await http(ro.url, 'GET', '/v2/')).status).toBe(200);
    } finally {
      await ro.close();
    }
    const nd = await startServe({ memory: true, deleteEnabled: false });
    try {
      const digest = await pushBlob(nd.url, 'x', Buffer.from('keep'));
      const r = await http(nd.url, 'DELETE', `/v2/x/blobs/${digest}`);
      expect(r.status).toBe(405);
      expect(r.json().errors[0].code).toBe('UNSUPPORTED');
      expect((await http(nd.url, 'HEAD', `/v2/x/blobs/${digest}`)).status).toBe(200);
    } finally {
      await nd.close();
    }
  });

  test('--read-only on a directory it cannot write serves what is there and creates nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-ro-'));
    try {
      const rw = await startServe({ root });
      const img = makeImage();
      await pushImageBlobs(rw.url, 'ro/app', img);
      await pushManifest(rw.url, 'ro/app', 'v1', img.manifest.bytes, img.manifest.mediaType);
      await rw.close();
      await rm(join(root, '_tmp'), { recursive: true });
      await rm(join(root, '_uploads'), { recursive: true });
      const ro = await startServe({ root, readOnly: true, uploadTtlMs: 10 });
      try {
        const get = await http(ro.url, 'GET', '/v2/ro/app/manifests/v1');
        expect(get.body.equals(img.manifest.bytes)).toBe(true);
        expect((await http(ro.url, 'PUT', '/v2/ro/app/manifests/v2', { body: img.manifest.bytes })).status).toBe(405);
        // A window of five purge intervals (10 ms): the read-only server's timer must create nothing.
        await new Promise((r) => setTimeout(r, 50));
        expect((await readdir(root)).sort()).toEqual(['_blobs', 'ro']);
      } finally {
        await ro.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('each repository is an OCI layout; identical blobs are one inode; index.json carries ref.name tags', async () => {
    const s = await startServe();
    try {
      const img = makeImage();
      for (const repo of ['lay/one', 'lay/two']) {
        await pushImageBlobs(s.url, repo, img);
        await pushManifest(s.url, repo, '1.0', img.manifest.bytes, img.manifest.mediaType);
      }
      const root = s.root!;
      const layout = JSON.parse(await readFile(join(root, 'lay/one/oci-layout'), 'utf8'));
      expect(layout).toEqual({ imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(await readFile(join(root, 'lay/one/index.json'), 'utf8'));
      expect(index.manifests).toEqual([
        { mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.bytes.length, annotations: { 'org.opencontainers.image.ref.name': '1.0' } },
      ]);
      const hex = img.layers[0]!.desc.digest.slice(7);
      const a = await stat(join(root, 'lay/one/blobs/sha256', hex));
      const b = await stat(join(root, 'lay/two/blobs/sha256', hex));
      expect(a.ino).toBe(b.ino);
      expect(await readFile(join(root, 'lay/one/blobs/sha256', img.manifest.digest.slice(7)))).toEqual(img.manifest.bytes);
      // No temp files left behind.
      expect((await readdir(join(root, '_uploads'))).length).toBe(0);
      expect((await readdir(join(root, 'lay/one'))).filter((n) => n.includes('.tmp'))).toEqual([]);
    } finally {
      await s.close();
    }
  });

  test('data survives a restart on the same root; catalog lists nested repositories', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-persist-'));
    const first = await startServe({ root });
    const img = makeImage();
    await pushImageBlobs(first.url, 'persist/app', img);
    await pushManifest(first.url, 'persist/app', 'v1', img.manifest.bytes, img.manifest.mediaType);
    await pushImageBlobs(first.url, 'persist', img);
    await pushManifest(first.url, 'persist', 'v1', img.manifest.bytes, img.manifest.mediaType);
    const loc = (await http(first.url, 'POST', '/v2/persist/app/blobs/uploads/')).headers.location!;
    await http(first.url, 'PATCH', loc, { body: Buffer.from('hello ') });
    await first.close();
    const second = await startServe({ root });
    try {
      const get = await http(second.url, 'GET', '/v2/persist/app/manifests/v1');
      expect(get.body.equals(img.manifest.bytes)).toBe(true);
      expect((await http(second.url, 'GET', '/v2/_catalog')).json().repositories).toEqual(['persist', 'persist/app']);
      const status = await http(second.url, 'GET', loc);
      expect(status.status).toBe(204);
      expect(status.headers.range).toBe('0-5');
      await http(second.url, 'PATCH', loc, { body: Buffer.from('world'), headers: { 'content-range': '6-10', 'content-length': '5' } });
      const done = await http(second.url, 'PUT', `${loc}?digest=${digestOf(Buffer.from('hello world'))}`);
      expect(done.status).toBe(201);
    } finally {
      await second.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  test('abandoned uploads are purged after the TTL', async () => {
    const s = await startServe({ memory: true, uploadTtlMs: 50 });
    try {
      const loc = (await http(s.url, 'POST', '/v2/ttl/blobs/uploads/')).headers.location!;
      expect((await http(s.url, 'GET', loc)).status).toBe(204);
      // The server's own timer purges (it runs every min(ttl, 1h)).
      await waitFor(async () => (await http(s.url, 'GET', loc)).status === 404, { what: 'the upload to be purged' });
      expect(await s.storage.purgeUploads(50)).toBe(0);
    } finally {
      await s.close();
    }
  });
});
