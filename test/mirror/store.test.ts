import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { pushHttp, startMirror } from './harness.js';

/**
 * On the file system a verified download becomes the cached blob by a hard link: its bytes are
 * written once (no copy through an upload session), and every read, whole or by Range, gets
 * exactly the upstream bytes.
 */

let upstream: ServeHandle;
let proxy: UpstreamProxy;

beforeAll(async () => {
  upstream = await startServe();
  proxy = await startUpstreamProxy(upstream.url);
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('mirror store', () => {
  test('a fetched blob is stored without an upload session; whole and Range reads return the upstream bytes', async () => {
    const image = makeImage({ layers: [600_000] });
    await pushHttp(upstream.url, 'team/store', image, 'v1');
    const m = await startMirror({ mirror: [`x=${proxy.url}`] });
    try {
      const storage = m.runtime.registry.storage;
      let sessions = 0;
      const create = storage.createUpload.bind(storage);
      storage.createUpload = (repo: string) => {
        sessions++;
        return create(repo);
      };
      const layer = image.layers[0]!;
      const url = `${m.url}/v2/x/team/store/blobs/${layer.desc.digest}`;
      const cold = Buffer.from(await (await fetch(url)).arrayBuffer());
      expect(digestOf(cold)).toBe(layer.desc.digest);
      await waitFor(async () => (await storage.statBlob('x/team/store', layer.desc.digest)) !== undefined, { what: 'the blob stored' });
      expect(sessions).toBe(0);
      // The temporary download is gone once stored and read.
      await waitFor(async () => (await readdir(join(m.root, '_mirror', 'tmp')).catch(() => [])).length === 0, { what: 'the temporary file removed' });

      const whole = await fetch(url);
      expect(whole.headers.get('regctl-mirror')).toBe('hit');
      expect(Buffer.from(await whole.arrayBuffer()).equals(layer.bytes)).toBe(true);
      for (const [start, end] of [[0, 0], [1, 65_536], [599_000, 599_999], [300_000, 599_999]] as const) {
        const r = await fetch(url, { headers: { Range: `bytes=${start}-${end}` } });
        expect(r.status).toBe(206);
        expect(r.headers.get('content-range')).toBe(`bytes ${start}-${end}/600000`);
        expect(Buffer.from(await r.arrayBuffer()).equals(layer.bytes.subarray(start, end + 1))).toBe(true);
      }
      expect(proxy.blobGets().get(layer.desc.digest)).toBe(1);
    } finally {
      await m.close();
    }
  });
});
