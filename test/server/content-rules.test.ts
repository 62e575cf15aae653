import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { jsonDepth } from '../../src/oci/json-depth.js';
import { isValidMediaType, MediaType } from '../../src/oci/mediatypes.js';
import { makeImage, makeReferrer, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { http, pushBlob, pushManifest } from './client.js';

/** What a registry accepts as manifest content (issue 13, items 5, 6, 7, 9, 10). */

async function pushImage(url: string, repo: string, img: TestImage, ref = img.manifest.digest): Promise<void> {
  for (const b of [img.config, ...img.layers]) await pushBlob(url, repo, b.bytes);
  const r = await pushManifest(url, repo, ref, img.manifest.bytes, img.manifest.mediaType);
  if (r.status !== 201) throw new Error(`push ${repo}:${ref}: ${r.status} ${r.body.toString()}`);
}

/** `{"k":{"k":...{"k":"v"}...}}`, `levels` objects deep, built as text (no recursion). */
function nestedText(levels: number): string {
  return '{"k":'.repeat(levels - 1) + '{"k":"v"}' + '}'.repeat(levels - 1);
}

/** A referrer of `subject` whose annotations are `annotationsJson` (raw JSON text). */
function referrerWith(subject: TestImage, annotationsJson: string, empty: Buffer): Buffer {
  const sub = JSON.stringify({ mediaType: subject.manifest.mediaType, digest: subject.manifest.digest, size: subject.manifest.bytes.length });
  const cfg = JSON.stringify({ mediaType: MediaType.ociEmpty, digest: digestOf(empty), size: empty.length });
  return Buffer.from(`{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","artifactType":"application/vnd.example.deep","config":${cfg},"layers":[],"subject":${sub},"annotations":${annotationsJson}}`);
}

const json = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('pure checks', () => {
  test('jsonDepth counts brackets outside strings only, and stops past the limit', () => {
    expect(jsonDepth(Buffer.from('{}'))).toBe(1);
    expect(jsonDepth(Buffer.from('"[[[["'))).toBe(0);
    expect(jsonDepth(Buffer.from('{"a":"\\"[[[","b":[[1]]}'))).toBe(3);
    expect(jsonDepth(Buffer.from(nestedText(500)))).toBe(500);
    expect(jsonDepth(Buffer.from(nestedText(500)), 64)).toBe(65);
    expect(jsonDepth(Buffer.from('{"é[":["ü{"]}'))).toBe(2);
  });

  test('isValidMediaType is RFC 6838 syntax, strictly', () => {
    for (const ok of ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.example.sig', 'text/plain', 'a/b', 'x-1/y_2.z+w', 'application/vnd.a$b&c^d#e!f']) {
      expect(isValidMediaType(ok), ok).toBe(true);
    }
    const bad = ['', 'garbage', 'a/b/c', '/x', 'x/', 'text/html; charset=utf-8', 'app lication/x', 'application/vnd.é', 'application/x\r\nSet-Cookie: a=b', 'application/x\n', '.a/b', 'a/-b', `${'a'.repeat(128)}/b`, 'a/✓', 'a/b\u0000'];
    for (const b of bad) expect(isValidMediaType(b), JSON.stringify(b)).toBe(false);
    expect(isValidMediaType(`${'a'.repeat(127)}/${'b'.repeat(127)}`)).toBe(true);
    expect(isValidMediaType(42)).toBe(false);
  });
});

describe.each([['filesystem', false], ['memory', true]] as const)('manifest content rules (%s)', (_label, memory) => {
  let s: ServeHandle;
  const empty = Buffer.from('{}');
  beforeAll(async () => {
    s = await startServe({ memory, maxTagsPerRepository: 5 });
  });
  afterAll(async () => {
    await s.close();
  });

  test('item 5: JSON nested deeper than 64 levels is MANIFEST_INVALID, however deep; the referrers list stays 200', async () => {
    const subject = makeImage();
    await pushImage(s.url, 'deep', subject);
    await pushBlob(s.url, 'deep', empty);
    for (const levels of [64, 4117, 200_000]) {
      const body = referrerWith(subject, nestedText(levels), empty);
      const r = await pushManifest(s.url, 'deep', digestOf(body), body, MediaType.ociManifest);
      expect(r.status, `${levels} levels`).toBe(400);
      expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
      expect(r.json().errors[0].message).toMatch(/nests deeper than 64 levels/);
    }
    // Flat annotations are fine; nested ones are not string maps.
    const flat = referrerWith(subject, '{"org.example.k":"v"}', empty);
    expect((await pushManifest(s.url, 'deep', digestOf(flat), flat, MediaType.ociManifest)).status).toBe(201);
    const shallow = referrerWith(subject, nestedText(3), empty);
    const rs = await pushManifest(s.url, 'deep', digestOf(shallow), shallow, MediaType.ociManifest);
    expect(rs.status).toBe(400);
    expect(rs.json().errors[0].message).toBe('annotations must map strings to strings');
    const list = await http(s.url, 'GET', `/v2/deep/referrers/${subject.manifest.digest}`);
    expect(list.status).toBe(200);
    expect(list.json().manifests).toEqual([
      { mediaType: MediaType.ociManifest, digest: digestOf(flat), size: flat.length, artifactType: 'application/vnd.example.deep', annotations: { 'org.example.k': 'v' } },
    ]);
  });

  test('item 5: a bad referrer record already in storage is left out of the list (200, never 500), also after a restart', async () => {
    const root = memory ? undefined : await mkdtemp(join(tmpdir(), 'regctl-badref-'));
    let t = await startServe(root ? { root } : { memory: true });
    try {
      const subject = makeImage();
      await pushImage(t.url, 'badref', subject);
      const good = makeReferrer(subject.manifest);
      await pushImage(t.url, 'badref', good);
      await pushBlob(t.url, 'badref', empty);
      // Stored the way an older version stored it, below the HTTP checks.
      const bad = referrerWith(subject, '{"a":"b"}', empty);
      const deep: Record<string, unknown> = {};
      let cur = deep;
      for (let i = 0; i < 100_000; i++) cur = (cur.k = {}) as Record<string, unknown>;
      await t.storage.putManifest('badref', {
        digest: digestOf(bad),
        mediaType: MediaType.ociManifest,
        bytes: bad,
        subject: subject.manifest.digest,
        annotations: memory ? (deep as Record<string, string>) : { a: 'b' },
      }, []);
      if (root) {
        // The record on disk, as an older version wrote it: annotations nested 100,000 deep.
        const dir = join(root, 'badref', '_referrers', 'sha256', subject.manifest.digest.slice(7));
        const file = (await readdir(dir)).find((n) => n.startsWith(digestOf(bad).replace(':', '-')))!;
        await writeFile(join(dir, file), `{"mediaType":"${MediaType.ociManifest}","digest":"${digestOf(bad)}","size":${bad.length},"annotations":${nestedText(100_000)}}`);
      }
      const expected = [{ mediaType: MediaType.ociManifest, digest: good.manifest.digest, size: good.manifest.bytes.length, artifactType: 'application/vnd.example.signature.v1' }];
      const warned = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      try {
        const list = await http(t.url, 'GET', `/v2/badref/referrers/${subject.manifest.digest}`);
        expect(list.status).toBe(200);
        expect(list.json().manifests).toEqual(expected);
        expect(warned).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`^referrer ${digestOf(bad)} in badref is not listable`)), { code: 'REGCTL_BAD_REFERRER' });
        if (root) {
          await t.close();
          t = await startServe({ root });
          const again = await http(t.url, 'GET', `/v2/badref/referrers/${subject.manifest.digest}`);
          expect(again.status).toBe(200);
          expect(again.json().manifests).toEqual(expected);
        }
      } finally {
        warned.mockRestore();
      }
    } finally {
      await t.close();
      if (root) await rm(root, { recursive: true, force: true });
    }
  });

  test('item 6: a Content-Type outside the registry types is MANIFEST_INVALID and nothing is stored or echoed', async () => {
    const img = makeImage();
    for (const b of [img.config, ...img.layers]) await pushBlob(s.url, 'ctype', b.bytes);
    for (const ct of ['text/html', 'application/vnd.example.whatever+json', 'image/svg+xml']) {
      const r = await pushManifest(s.url, 'ctype', 'v1', img.manifest.bytes, ct);
      expect(r.status, ct).toBe(400);
      expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
      expect(r.json().errors[0].message).toMatch(/^unsupported manifest Content-Type/);
    }
    expect((await http(s.url, 'GET', '/v2/ctype/manifests/v1')).status).toBe(404);
    // Generic Content-Type: the body's mediaType must be a registry type.
    const withType = (mediaType: unknown) => json({ ...JSON.parse(img.manifest.bytes.toString()), mediaType });
    for (const mt of ['text/html', 'application/vnd.oci.image.manifest.v1+json\r\nX-Evil: 1', 'application/vnd.oci.image.manifest.v1+jsoné', 7]) {
      const r = await pushManifest(s.url, 'ctype', 'v2', withType(mt), 'application/json');
      expect(r.status, String(mt)).toBe(400);
      expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
      expect(r.json().errors[0].message).toMatch(/^unsupported manifest media ?type/i);
    }
    expect((await http(s.url, 'GET', '/v2/ctype/manifests/v2')).status).toBe(404);
    // The four registry types go through and come back as sent.
    expect((await pushManifest(s.url, 'ctype', 'ok', img.manifest.bytes, MediaType.ociManifest)).status).toBe(201);
    const get = await http(s.url, 'GET', '/v2/ctype/manifests/ok');
    expect(get.headers['content-type']).toBe(MediaType.ociManifest);
    const docker = makeImage({ docker: true });
    await pushImage(s.url, 'ctype', docker, 'docker');
    expect((await http(s.url, 'GET', '/v2/ctype/manifests/docker')).headers['content-type']).toBe(MediaType.dockerManifest);
  });

  test('item 6: a manifest stored with a non-registry type (older versions took any) is served as its registry type, never echoed, never 500', async () => {
    const img = makeImage();
    const bare = json({ ...JSON.parse(img.manifest.bytes.toString()), mediaType: undefined });
    const index = json({ schemaVersion: 2, manifests: [] });
    // Stored below the HTTP checks, as an older version stored them.
    await s.storage.putManifest('oldtype', { digest: digestOf(img.manifest.bytes), mediaType: 'text/html', bytes: img.manifest.bytes }, ['html']);
    await s.storage.putManifest('oldtype', { digest: digestOf(bare), mediaType: 'application/x\r\nX-Evil: 1', bytes: bare }, ['crlf']);
    await s.storage.putManifest('oldtype', { digest: digestOf(index), mediaType: 'application/vnd.é', bytes: index }, ['latin1']);
    for (const [tag, type] of [['html', MediaType.ociManifest], ['crlf', MediaType.ociManifest], ['latin1', MediaType.ociIndex]] as const) {
      for (const method of ['GET', 'HEAD']) {
        const r = await http(s.url, method, `/v2/oldtype/manifests/${tag}`);
        expect(r.status, `${method} ${tag}`).toBe(200);
        expect(r.headers['content-type'], `${method} ${tag}`).toBe(type);
        expect(r.headers['x-evil']).toBeUndefined();
      }
    }
  });

  test('item 6: an index body is refused as an image manifest, an image body as an index; Content-Type and mediaType must agree', async () => {
    const img = makeImage();
    await pushImage(s.url, 'kinds', img);
    const child = { mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.bytes.length };
    const bareIndex = json({ schemaVersion: 2, manifests: [child] });
    for (const ct of [MediaType.ociManifest, MediaType.dockerManifest]) {
      const r = await pushManifest(s.url, 'kinds', 'idx', bareIndex, ct);
      expect(r.status, ct).toBe(400);
      expect(r.json().errors[0]).toMatchObject({ code: 'MANIFEST_INVALID', message: `an index (it has manifests) cannot be stored as ${ct}` });
    }
    // An index body may not carry an image type, nor any other type, in its own mediaType.
    for (const mt of [MediaType.dockerManifest, MediaType.ociManifest, 'application/vnd.example.index+json']) {
      const r = await pushManifest(s.url, 'kinds', 'idx', json({ schemaVersion: 2, mediaType: mt, manifests: [child] }), 'application/json');
      expect(r.status, mt).toBe(400);
      expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
    }
    const imageAsIndex = await pushManifest(s.url, 'kinds', 'img', json({ ...JSON.parse(img.manifest.bytes.toString()), mediaType: undefined }), MediaType.ociIndex);
    expect(imageAsIndex.status).toBe(400);
    expect(imageAsIndex.json().errors[0].code).toBe('MANIFEST_INVALID');
    const mismatch = await pushManifest(s.url, 'kinds', 'mm', json({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [child] }), MediaType.ociIndex);
    expect(mismatch.status).toBe(400);
    expect(mismatch.json().errors[0].message).toMatch(/does not match the manifest's mediaType/);
    expect((await http(s.url, 'GET', '/v2/kinds/manifests/idx')).status).toBe(404);
    // The same bare index under an index type is fine, and served as that type.
    expect((await pushManifest(s.url, 'kinds', 'list', bareIndex, MediaType.dockerManifestList)).status).toBe(201);
    expect((await http(s.url, 'GET', '/v2/kinds/manifests/list')).headers['content-type']).toBe(MediaType.dockerManifestList);
    const other = json({ schemaVersion: 2, manifests: [child], annotations: { 'org.example.k': 'generic' } });
    expect((await pushManifest(s.url, 'kinds', 'generic', other, 'application/json')).status).toBe(201);
    expect((await http(s.url, 'GET', '/v2/kinds/manifests/generic')).headers['content-type']).toBe(MediaType.ociIndex);
  });

  test('item 6: artifactType and descriptor media types must be RFC 6838; any valid one is accepted and listed', async () => {
    const subject = makeImage();
    await pushImage(s.url, 'atype', subject);
    await pushBlob(s.url, 'atype', empty);
    const base = JSON.parse(referrerWith(subject, '{"a":"b"}', empty).toString()) as Record<string, any>;
    const put = (body: Record<string, unknown>) => {
      const bytes = json(body);
      return pushManifest(s.url, 'atype', digestOf(bytes), bytes, MediaType.ociManifest);
    };
    for (const bad of ['garbage', 'application/vnd.é', 'application/x\r\nSet-Cookie: a=b', 'text/html; charset=utf-8', '', 'a/b/c']) {
      for (const body of [
        { ...base, artifactType: bad },
        { ...base, config: { ...base.config, mediaType: bad } },
        { ...base, layers: [{ ...base.config, mediaType: bad }] },
        { ...base, subject: { ...base.subject, mediaType: bad } },
      ]) {
        const r = await put(body);
        expect(r.status, JSON.stringify(bad)).toBe(400);
        expect(r.json().errors[0].code).toBe('MANIFEST_INVALID');
        expect(r.json().errors[0].message).toMatch(/is not a media type \(RFC 6838\)$/);
      }
    }
    const odd = { ...base, artifactType: 'application/vnd.example.x_y$z+json' };
    expect((await put(odd)).status).toBe(201);
    const list = (await http(s.url, 'GET', `/v2/atype/referrers/${subject.manifest.digest}`)).json().manifests;
    expect(list.map((d: { artifactType: string }) => d.artifactType)).toEqual(['application/vnd.example.x_y$z+json']);
  });

  test('item 6: every response says X-Content-Type-Options: nosniff', async () => {
    const img = makeImage();
    await pushImage(s.url, 'sniff', img, 'v1');
    const responses = [
      await http(s.url, 'GET', '/v2/'),
      await http(s.url, 'GET', '/v2/sniff/manifests/v1'),
      await http(s.url, 'HEAD', '/v2/sniff/manifests/v1'),
      await http(s.url, 'GET', `/v2/sniff/blobs/${img.config.desc.digest}`),
      await http(s.url, 'GET', '/v2/sniff/tags/list'),
      await http(s.url, 'GET', `/v2/sniff/referrers/${img.manifest.digest}`),
      await http(s.url, 'GET', '/v2/sniff/manifests/nope'),
      await http(s.url, 'GET', '/v2/_catalog'),
      await pushManifest(s.url, 'sniff', 'v2', img.manifest.bytes, 'text/html'),
    ];
    expect(responses.map((r) => r.headers['x-content-type-options'])).toEqual(responses.map(() => 'nosniff'));
  });

  test('item 7: DELETE of a blob that is a manifest of the repository is 405 UNSUPPORTED; the manifest stays', async () => {
    const img = makeImage();
    await pushImage(s.url, 'blobdel', img, 'v1');
    const untagged = makeImage();
    await pushImage(s.url, 'blobdel', untagged);
    for (const digest of [img.manifest.digest, untagged.manifest.digest]) {
      const r = await http(s.url, 'DELETE', `/v2/blobdel/blobs/${digest}`);
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(r.json().errors[0]).toEqual({
        code: 'UNSUPPORTED',
        message: `${digest} is a manifest in blobdel: delete it with DELETE /v2/blobdel/manifests/${digest}`,
        detail: { digest },
      });
    }
    const byTag = await http(s.url, 'GET', '/v2/blobdel/manifests/v1');
    expect(byTag.status).toBe(200);
    expect(byTag.body.equals(img.manifest.bytes)).toBe(true);
    expect((await http(s.url, 'GET', `/v2/blobdel/blobs/${img.manifest.digest}`)).status).toBe(200);
    expect((await http(s.url, 'GET', `/v2/blobdel/manifests/${untagged.manifest.digest}`)).status).toBe(200);
    // Layers and configs are still deleted as blobs; the manifest endpoint deletes manifests.
    expect((await http(s.url, 'DELETE', `/v2/blobdel/blobs/${img.layers[0]!.desc.digest}`)).status).toBe(202);
    expect((await http(s.url, 'DELETE', `/v2/blobdel/manifests/${untagged.manifest.digest}`)).status).toBe(202);
    // Once it is no manifest there, the digest is an unknown blob like any other.
    expect((await http(s.url, 'DELETE', `/v2/blobdel/blobs/${untagged.manifest.digest}`)).status).toBe(404);
  });

  test('item 9: more than 100 ?tag= parameters is 400 DENIED and applies none; 100 is fine', async () => {
    const t = await startServe({ memory });
    try {
      const img = makeImage();
      await pushImage(t.url, 'many', img);
      const q = (n: number) => Array.from({ length: n }, (_, i) => `tag=t${i}`).join('&');
      const over = await http(t.url, 'PUT', `/v2/many/manifests/${img.manifest.digest}?${q(101)}`, { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } });
      expect(over.status).toBe(400);
      expect(over.json().errors[0]).toEqual({ code: 'DENIED', message: 'at most 100 tag parameters per manifest PUT (got 101)', detail: { limit: 100 } });
      expect((await http(t.url, 'GET', '/v2/many/tags/list')).json().tags).toEqual([]);
      const ok = await http(t.url, 'PUT', `/v2/many/manifests/${img.manifest.digest}?${q(100)}`, { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } });
      expect(ok.status).toBe(201);
      expect((await http(t.url, 'GET', '/v2/many/tags/list')).json().tags).toHaveLength(100);
    } finally {
      await t.close();
    }
  });

  test('item 9: --max-tags-per-repository: a new tag past the cap is 400 DENIED; moving and deleting tags still work', async () => {
    const a = makeImage();
    const b = makeImage();
    await pushImage(s.url, 'cap', a);
    await pushImage(s.url, 'cap', b);
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) expect((await pushManifest(s.url, 'cap', tag, a.manifest.bytes, a.manifest.mediaType)).status).toBe(201);
    const over = await pushManifest(s.url, 'cap', 't6', a.manifest.bytes, a.manifest.mediaType);
    expect(over.status).toBe(400);
    expect(over.json().errors[0]).toEqual({ code: 'DENIED', message: 'repository cap would have more than 5 tags (--max-tags-per-repository): delete tags first', detail: { limit: 5 } });
    // Moving an existing tag adds none.
    expect((await pushManifest(s.url, 'cap', 't1', b.manifest.bytes, b.manifest.mediaType)).status).toBe(201);
    expect((await http(s.url, 'GET', '/v2/cap/manifests/t1')).headers['docker-content-digest']).toBe(b.manifest.digest);
    expect((await http(s.url, 'DELETE', '/v2/cap/manifests/t2')).status).toBe(202);
    // One slot free: two new tags in one PUT do not fit, and neither is applied.
    const two = await http(s.url, 'PUT', `/v2/cap/manifests/t6?tag=t7`, { body: a.manifest.bytes, headers: { 'content-type': a.manifest.mediaType } });
    expect(two.status).toBe(400);
    expect(two.json().errors[0].code).toBe('DENIED');
    expect((await pushManifest(s.url, 'cap', 't6', a.manifest.bytes, a.manifest.mediaType)).status).toBe(201);
    expect((await http(s.url, 'GET', '/v2/cap/tags/list')).json().tags).toEqual(['t1', 't3', 't4', 't5', 't6']);
  });

  test('item 9: concurrent pushes of new tags never overshoot the cap', async () => {
    const a = makeImage();
    await pushImage(s.url, 'race', a);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pushManifest(s.url, 'race', `r${i}`, a.manifest.bytes, a.manifest.mediaType)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((x) => x === 201)).toHaveLength(5);
    expect(statuses.filter((x) => x === 400)).toHaveLength(15);
    expect((await http(s.url, 'GET', '/v2/race/tags/list')).json().tags).toHaveLength(5);
  });

  test('item 10: index children are looked up once per distinct digest', async () => {
    const child = makeImage();
    await pushImage(s.url, 'dedup', child);
    const desc = { mediaType: child.manifest.mediaType, digest: child.manifest.digest, size: child.manifest.bytes.length };
    const index = json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: Array.from({ length: 2000 }, () => desc) });
    const spy = vi.spyOn(s.storage, 'getManifest');
    try {
      const r = await pushManifest(s.url, 'dedup', 'all', index, MediaType.ociIndex);
      expect(r.status).toBe(201);
      expect(spy.mock.calls.filter(([repo, d]) => repo === 'dedup' && d === child.manifest.digest)).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
    // Same for an image manifest naming one layer many times.
    const layer = child.layers[0]!.desc;
    const img = json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: child.config.desc, layers: Array.from({ length: 500 }, () => layer) });
    const stat = vi.spyOn(s.storage, s.storage.touchBlob ? 'touchBlob' : 'statBlob');
    try {
      expect((await pushManifest(s.url, 'dedup', 'layers', img, MediaType.ociManifest)).status).toBe(201);
      expect(stat.mock.calls.filter(([repo, d]) => repo === 'dedup' && d === layer.digest)).toHaveLength(1);
    } finally {
      stat.mockRestore();
    }
  });
});
