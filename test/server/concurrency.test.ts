import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { createRegistryServer } from '../../src/server/server.js';
import { MemoryStorage } from '../../src/server/storage/memory.js';
import { makeImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';
import { http, pushBlob, pushManifest } from './client.js';

describe('concurrency on the filesystem backend', () => {
  let s: ServeHandle;
  beforeAll(async () => {
    s = await startServe();
  });
  afterAll(async () => {
    await s.close();
  });

  test('300 tags pushed 32 at a time all land in index.json', async () => {
    const img = makeImage();
    for (const b of [img.config, ...img.layers]) await pushBlob(s.url, 'many', b.bytes);
    const tags = Array.from({ length: 300 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < tags.length) {
          const t = tags[next++]!;
          expect((await pushManifest(s.url, 'many', t, img.manifest.bytes, img.manifest.mediaType)).status).toBe(201);
        }
      }),
    );
    expect((await http(s.url, 'GET', '/v2/many/tags/list')).json().tags).toEqual(tags);
  });

  test('the same blob pushed by 8 clients at once, and the same tag by 8 clients: one consistent result', async () => {
    const data = randomBytes(200_000);
    const results = await Promise.all(Array.from({ length: 8 }, () => pushBlob(s.url, 'race', data)));
    expect(new Set(results).size).toBe(1);
    expect((await http(s.url, 'GET', `/v2/race/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
    const imgs = Array.from({ length: 8 }, () => makeImage({ layers: [100] }));
    for (const img of imgs) for (const b of [img.config, ...img.layers]) await pushBlob(s.url, 'race', b.bytes);
    await Promise.all(imgs.map((img) => pushManifest(s.url, 'race', 'same', img.manifest.bytes, img.manifest.mediaType)));
    const winner = (await http(s.url, 'GET', '/v2/race/manifests/same')).headers['docker-content-digest'];
    expect(imgs.map((i) => i.manifest.digest)).toContain(winner);
    // Every loser stays reachable by digest.
    for (const img of imgs) expect((await http(s.url, 'HEAD', `/v2/race/manifests/${img.manifest.digest}`)).status).toBe(200);
    expect((await http(s.url, 'GET', '/v2/race/tags/list')).json().tags).toEqual(['same']);
  });
});

describe('interrupted uploads', () => {
  test('a client that drops mid-PATCH leaves a session that resumes from what reached the disk', async () => {
    const s = await startServe();
    try {
      const data = randomBytes(6 << 20);
      const loc = (await http(s.url, 'POST', '/v2/drop/blobs/uploads/')).headers.location!;
      const { request: rawRequest } = await import('node:http');
      const dataFile = join(s.root!, '_uploads', new URL(loc, s.url).pathname.split('/').pop()!, 'data');
      const onDisk = async () => (await stat(dataFile).catch(() => undefined))?.size;
      const req = rawRequest(`${s.url}${loc}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
      req.on('error', () => undefined);
      await new Promise<void>((resolve) => req.write(data.subarray(0, 3 << 20), () => resolve()));
      // Drop the connection once some of it has reached the server's disk (polled).
      await waitFor(onDisk, { what: 'upload bytes in the session file' });
      req.destroy();
      // The server notices the abort and finishes the session write.
      const size = await waitFor(async () => {
        const st = await http(s.url, 'GET', loc);
        return st.status === 204 ? Number(st.headers.range!.split('-')[1]) + 1 : undefined;
      }, { what: 'the session to answer 204 with its range' });
      expect(size).toBeGreaterThan(0);
      expect(size).toBeLessThanOrEqual(3 << 20);
      const rest = await http(s.url, 'PATCH', loc, { body: data.subarray(size), headers: { 'content-range': `${size}-${data.length - 1}` } });
      expect(rest.status).toBe(202);
      const put = await http(s.url, 'PUT', `${loc}?digest=${digestOf(data)}`);
      expect(put.status).toBe(201);
      expect((await http(s.url, 'GET', `/v2/drop/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('server lifecycle', () => {
  test('no request timeout: a slow upload is never cut off; keep-alive and header timeouts are set', async () => {
    const reg = await createRegistryServer({ open: true });
    expect(reg.server.requestTimeout).toBe(0);
    expect(reg.server.headersTimeout).toBeGreaterThan(0);
    expect(reg.server.keepAliveTimeout).toBeGreaterThan(0);
    await reg.close();
  });

  test('a request Node cannot parse gets a 400 with the OCI envelope', async () => {
    const reg = await createRegistryServer({ open: true });
    const { port } = await reg.listen(0, '127.0.0.1');
    try {
      const { connect } = await import('node:net');
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.write('GARBAGE\r\n\r\n'));
        let data = '';
        sock.on('data', (c) => (data += c.toString()));
        sock.on('end', () => resolve(data));
        sock.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body.errors[0].code).toBe('UNSUPPORTED');
    } finally {
      await reg.close();
    }
  });

  test('a storage failure is a 500 UNKNOWN envelope, reported through onError', async () => {
    const storage = new MemoryStorage();
    storage.statBlob = async () => {
      throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
    };
    const seen: string[] = [];
    const reg = await createRegistryServer({ open: true, storage, onError: (e, r) => seen.push(`${r.method} ${r.path} ${(e as Error).message}`) });
    const { url } = await reg.listen(0, '127.0.0.1');
    try {
      const digest = digestOf(Buffer.from('x'));
      const r = await http(url, 'GET', `/v2/a/blobs/${digest}?secret=1`);
      expect(r.status).toBe(500);
      expect(r.json()).toEqual({ errors: [{ code: 'UNKNOWN', message: 'internal error (EIO)' }] });
      expect(seen).toEqual([`GET /v2/a/blobs/${digest} disk on fire`]);
    } finally {
      await reg.close();
    }
  });

  test('close() lets an in-flight upload finish, then stops', async () => {
    const storage = new MemoryStorage();
    const reg = await createRegistryServer({ open: true, storage });
    const { url } = await reg.listen(0, '127.0.0.1');
    const loc = (await http(url, 'POST', '/v2/slow/blobs/uploads/')).headers.location!;
    const part = randomBytes(64 * 1024);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const body = Readable.from(
      (async function* () {
        yield part;
        await gate;
        yield part;
      })(),
    );
    const patch = request(url + loc, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } });
    // The request is in flight once the storage holds its first part.
    const id = loc.split('?')[0]!.split('/').pop()!;
    await waitFor(async () => (await storage.statUpload('slow', id))?.size === part.length, { what: 'the first part stored' });
    let closed = false;
    const closing = reg.close().then(() => (closed = true));
    // Kept: a window in which close() must NOT finish while the upload is held open.
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    release();
    const res = await patch;
    expect(res.statusCode).toBe(202);
    expect(res.headers.range).toBe(`0-${2 * part.length - 1}`);
    await res.body.dump();
    await closing;
    expect(closed).toBe(true);
    await expect(http(url, 'GET', '/v2/')).rejects.toThrow();
  });
});
