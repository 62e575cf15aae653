import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { http, pushBlob } from './client.js';

describe.each([['filesystem', false], ['memory', true]] as const)('blob uploads and reads (%s)', (_label, memory) => {
  let s: ServeHandle;
  beforeAll(async () => {
    s = await startServe({ memory });
  });
  afterAll(async () => {
    await s.close();
  });

  async function start(repo = 'up/load'): Promise<string> {
    const r = await http(s.url, 'POST', `/v2/${repo}/blobs/uploads/`);
    expect(r.status).toBe(202);
    expect(r.headers['docker-upload-uuid']).toMatch(/^[0-9a-f]{32}$/);
    return r.headers.location!;
  }

  test('chunked PATCH with Content-Range in order, status GET, retry and out-of-order chunks get 416', async () => {
    const data = randomBytes(10_000);
    const digest = digestOf(data);
    const loc = await start();
    // Out of order: the first chunk must start at 0.
    const early = await http(s.url, 'PATCH', loc, { body: data.subarray(4000), headers: { 'content-range': `4000-9999`, 'content-length': '6000' } });
    expect(early.status).toBe(416);
    expect(early.json().errors[0].code).toBe('BLOB_UPLOAD_INVALID');
    expect(early.headers.location).toBe(loc);
    const c1 = await http(s.url, 'PATCH', loc, { body: data.subarray(0, 4000), headers: { 'content-range': '0-3999', 'content-length': '4000' } });
    expect(c1.status).toBe(202);
    expect(c1.headers.range).toBe('0-3999');
    // Sending the same chunk again is out of order now.
    const again = await http(s.url, 'PATCH', loc, { body: data.subarray(0, 4000), headers: { 'content-range': '0-3999', 'content-length': '4000' } });
    expect(again.status).toBe(416);
    expect(again.headers.range).toBe('0-3999');
    const status = await http(s.url, 'GET', loc);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-3999');
    expect(status.headers.location).toBe(loc);
    const c2 = await http(s.url, 'PATCH', loc, { body: data.subarray(4000, 9000), headers: { 'content-range': '4000-8999', 'content-length': '5000' } });
    expect(c2.headers.range).toBe('0-8999');
    // The last chunk rides on the PUT.
    const put = await http(s.url, 'PUT', `${loc}?digest=${digest}`, { body: data.subarray(9000), headers: { 'content-range': '9000-9999', 'content-length': '1000' } });
    expect(put.status).toBe(201);
    const get = await http(s.url, 'GET', `/v2/up/load/blobs/${digest}`);
    expect(get.body.equals(data)).toBe(true);
  });

  test('Content-Range that disagrees with Content-Length is refused', async () => {
    const loc = await start();
    const r = await http(s.url, 'PATCH', loc, { body: Buffer.alloc(10), headers: { 'content-range': '0-19', 'content-length': '10' } });
    expect(r.status).toBe(416);
    expect(r.json().errors[0].code).toBe('BLOB_UPLOAD_INVALID');
  });

  test('PUT with a wrong digest is DIGEST_INVALID and nothing becomes visible', async () => {
    const data = randomBytes(500);
    const wrong = digestOf(Buffer.from('something else'));
    const loc = await start();
    const put = await http(s.url, 'PUT', `${loc}?digest=${wrong}`, { body: data });
    expect(put.status).toBe(400);
    expect(put.json().errors[0].code).toBe('DIGEST_INVALID');
    expect((await http(s.url, 'HEAD', `/v2/up/load/blobs/${wrong}`)).status).toBe(404);
    expect((await http(s.url, 'HEAD', `/v2/up/load/blobs/${digestOf(data)}`)).status).toBe(404);
    const mono = await http(s.url, 'POST', `/v2/up/load/blobs/uploads/?digest=${wrong}`, { body: data });
    expect(mono.status).toBe(400);
    expect(mono.json().errors[0].code).toBe('DIGEST_INVALID');
    const noDigest = await http(s.url, 'PUT', (await start()));
    expect(noDigest.status).toBe(400);
    expect(noDigest.json().errors[0].code).toBe('DIGEST_INVALID');
    const badDigest = await http(s.url, 'PUT', `${await start()}?digest=sha256:xyz`);
    expect(badDigest.json().errors[0].code).toBe('DIGEST_INVALID');
  });

  test('sha512 digests are verified too', async () => {
    const data = randomBytes(777);
    const digest = digestOf(data, 'sha512');
    const r = await http(s.url, 'POST', `/v2/up/load/blobs/uploads/?digest=${digest}`, { body: data });
    expect(r.status).toBe(201);
    expect((await http(s.url, 'GET', `/v2/up/load/blobs/${digest}`)).body.equals(data)).toBe(true);
  });

  test('empty blob', async () => {
    const digest = digestOf(Buffer.alloc(0));
    const loc = await start();
    expect((await http(s.url, 'PUT', `${loc}?digest=${digest}`)).status).toBe(201);
    const head = await http(s.url, 'HEAD', `/v2/up/load/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('0');
  });

  test('DELETE cancels an upload; unknown or foreign sessions are BLOB_UPLOAD_UNKNOWN', async () => {
    const loc = await start();
    expect((await http(s.url, 'DELETE', loc)).status).toBe(204);
    const gone = await http(s.url, 'GET', loc);
    expect(gone.status).toBe(404);
    expect(gone.json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
    expect((await http(s.url, 'DELETE', loc)).status).toBe(404);
    // A session belongs to its repository.
    const other = await start('up/other');
    const id = other.split('/').pop()!;
    const cross = await http(s.url, 'PATCH', `/v2/up/load/blobs/uploads/${id}`, { body: 'x' });
    expect(cross.status).toBe(404);
    expect(cross.json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
    // Ids that are not ours never reach storage.
    for (const bad of ['..%2f..%2fetc', 'ABC', '0'.repeat(31)]) {
      expect((await http(s.url, 'GET', `/v2/up/load/blobs/uploads/${bad}`)).status).toBe(404);
    }
  });

  test('Range reads: 206 with Content-Range, suffix ranges, 416 past the end', async () => {
    const data = randomBytes(1000);
    const digest = await pushBlob(s.url, 'ranges', data);
    const mid = await http(s.url, 'GET', `/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
    expect(mid.status).toBe(206);
    expect(mid.headers['content-range']).toBe('bytes 100-199/1000');
    expect(mid.body.equals(data.subarray(100, 200))).toBe(true);
    const open = await http(s.url, 'GET', `/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=900-' } });
    expect(open.body.equals(data.subarray(900))).toBe(true);
    const suffix = await http(s.url, 'GET', `/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=-10' } });
    expect(suffix.body.equals(data.subarray(990))).toBe(true);
    const clipped = await http(s.url, 'GET', `/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=990-5000' } });
    expect(clipped.status).toBe(206);
    expect(clipped.body.equals(data.subarray(990))).toBe(true);
    const past = await http(s.url, 'GET', `/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=1000-1001' } });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe('bytes */1000');
    expect(past.json().errors[0].code).toBeTypeOf('string');
  });

  test('cross-repository mount: with from (201), unknown blob falls back to an upload (202), without from when the blob exists', async () => {
    const data = randomBytes(2048);
    const digest = await pushBlob(s.url, 'mount/src', data);
    const m = await http(s.url, 'POST', `/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`);
    expect(m.status).toBe(201);
    expect(m.headers.location).toBe(`/v2/mount/dst/blobs/${digest}`);
    expect(m.headers['docker-content-digest']).toBe(digest);
    expect((await http(s.url, 'GET', `/v2/mount/dst/blobs/${digest}`)).body.equals(data)).toBe(true);
    const unknown = digestOf(Buffer.from('not here'));
    const fb = await http(s.url, 'POST', `/v2/mount/dst/blobs/uploads/?mount=${unknown}&from=mount/src`);
    expect(fb.status).toBe(202);
    expect(fb.headers.location).toMatch(/^\/v2\/mount\/dst\/blobs\/uploads\/[0-9a-f]{32}$/);
    const wrongFrom = await http(s.url, 'POST', `/v2/mount/third/blobs/uploads/?mount=${digest}&from=nope`);
    expect(wrongFrom.status).toBe(202);
    const noFrom = await http(s.url, 'POST', `/v2/mount/fourth/blobs/uploads/?mount=${digest}`);
    expect(noFrom.status).toBe(201);
    expect((await http(s.url, 'HEAD', `/v2/mount/fourth/blobs/${digest}`)).status).toBe(200);
  });

  test('blob DELETE: 202, then 404 BLOB_UNKNOWN; other repositories keep their copy', async () => {
    const data = randomBytes(300);
    const digest = await pushBlob(s.url, 'del/a', data);
    await pushBlob(s.url, 'del/b', data);
    expect((await http(s.url, 'DELETE', `/v2/del/a/blobs/${digest}`)).status).toBe(202);
    const gone = await http(s.url, 'GET', `/v2/del/a/blobs/${digest}`);
    expect(gone.status).toBe(404);
    expect(gone.json().errors[0].code).toBe('BLOB_UNKNOWN');
    expect((await http(s.url, 'DELETE', `/v2/del/a/blobs/${digest}`)).status).toBe(404);
    expect((await http(s.url, 'GET', `/v2/del/b/blobs/${digest}`)).body.equals(data)).toBe(true);
  });
});
