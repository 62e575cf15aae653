import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { startS3, type LocalS3 } from '../s3/s3rver.js';
import { layoutContent, pull, pushHttp, startMirror, tempDir, type MirrorServe } from './harness.js';

/** Two mirror instances on one S3 prefix (s3rver): what one cached, the other serves. */
describe('mirror on S3 storage, two instances', () => {
  let s3: LocalS3;
  let upstream: ServeHandle;
  let proxy: UpstreamProxy;
  let a: MirrorServe;
  let b: MirrorServe;
  let work: string;

  beforeAll(async () => {
    s3 = await startS3();
    upstream = await startServe();
    proxy = await startUpstreamProxy(upstream.url);
    work = await tempDir();
    const prefix = 'shared-mirror';
    a = await startMirror({ mirror: [`docker.io=${proxy.url}`] }, { storage: s3.storage({ prefix }) });
    b = await startMirror({ mirror: [`docker.io=${proxy.url}`] }, { storage: s3.storage({ prefix }) });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await proxy?.close();
    await upstream?.close();
    await s3?.close();
    await rm(work, { recursive: true, force: true });
  });

  test('instance B pulls what instance A cached without any blob GET upstream (one HEAD to check the tag)', async () => {
    const image = makeImage({ layers: [150_000, 3000] });
    await pushHttp(upstream.url, 'team/s3', image, 'v1');
    await pull(`${a.registry}/docker.io/team/s3:v1`, join(work, 'a'));
    expect((await layoutContent(join(work, 'a'))).manifest).toBe(image.manifest.digest);
    for (const l of [image.config, ...image.layers]) expect(proxy.blobGets().get(l.desc.digest)).toBe(1);
    // A has stored everything once its flights end.
    await a.runtime.mirror!.index.flush();
    const before = proxy.requests.length;
    for (const l of [image.config, ...image.layers]) await waitFor(() => b.runtime.registry.storage.statBlob('docker.io/team/s3', l.desc.digest), { what: `${l.desc.digest} stored` });
    await pull(`${b.registry}/docker.io/team/s3:v1`, join(work, 'b'));
    const got = await layoutContent(join(work, 'b'));
    expect(got.manifest).toBe(image.manifest.digest);
    const after = proxy.requests.slice(before);
    expect(after.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    expect(after.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /v2/team/s3/manifests/v1']);
  });
});
