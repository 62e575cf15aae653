/** --s3-redirect: blob GETs are a 307 to a presigned URL; regctl's own client follows and verifies. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DigestMismatchError } from '../../src/errors.js';
import { digestOf, VerifyingStream } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { RegistryClient } from '../../src/registry/client.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/server.js';
import type { S3Storage } from '../../src/server/storage/s3/s3.js';
import { runCli } from '../helpers/cli.js';
import { makeImage } from '../helpers/images.js';
import { startServe } from '../helpers/serve.js';
import { http, pushBlob, pushManifest } from '../server/client.js';
import { startS3, type LocalS3 } from './s3rver.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

describe('--s3-redirect', () => {
  let s3: LocalS3;
  let storage: S3Storage;
  let reg: RegistryServer;
  let url: string;
  let registry: string;

  beforeAll(async () => {
    s3 = await startS3();
    storage = s3.storage({ redirect: true, redirectTtlSeconds: 60 });
    reg = await createRegistryServer({ open: true, storage });
    const bound = await reg.listen(0, '127.0.0.1');
    url = bound.url;
    registry = `127.0.0.1:${bound.port}`;
  });
  afterAll(async () => {
    await reg?.close();
    await s3?.close();
  });

  test('GET answers 307 to a presigned URL on the object store; HEAD and unknown blobs are answered directly', async () => {
    const data = randomBytes(50_000);
    const repo = new RegistryClient().repository(registry, 'redir/app');
    const desc = { mediaType: MediaType.ociLayerGzip, digest: digestOf(data), size: data.length };
    await repo.putBlob(desc, Readable.from([data]));
    const r = await http(url, 'GET', `/v2/redir/app/blobs/${desc.digest}`);
    expect(r.status).toBe(307);
    expect(r.headers['docker-content-digest']).toBe(desc.digest);
    const location = new URL(r.headers.location!);
    expect(location.origin).toBe(s3.endpoint);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(Buffer.from(await direct.arrayBuffer()).equals(data)).toBe(true);
    const head = await http(url, 'HEAD', `/v2/redir/app/blobs/${desc.digest}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
    // Not in this repository: 404, no redirect that would leak another repository's blob.
    expect((await http(url, 'GET', `/v2/other/repo/blobs/${desc.digest}`)).status).toBe(404);

    // regctl's client follows the redirect to the store and gets the exact bytes.
    const got = await collect((await repo.getBlob(desc)).pipe(new VerifyingStream({ digest: desc.digest, size: desc.size })));
    expect(got.equals(data)).toBe(true);
  });

  test('bytes changed behind the registry fail verification in the client', async () => {
    const data = randomBytes(10_000);
    const repo = new RegistryClient().repository(registry, 'redir/tampered');
    const desc = { mediaType: MediaType.ociLayerGzip, digest: digestOf(data), size: data.length };
    await repo.putBlob(desc, Readable.from([data]));
    const evil = Buffer.from(data);
    evil[0] = evil[0]! ^ 0xff;
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: storage.keys.content(desc.digest), Body: evil }));
    const stream = (await repo.getBlob(desc)).pipe(new VerifyingStream({ digest: desc.digest, size: desc.size }));
    await expect(collect(stream)).rejects.toBeInstanceOf(DigestMismatchError);
  });

  test('regctl copy pulls through the redirects and refuses a tampered layer (exit 5, nothing tagged)', async () => {
    const dest = await startServe({ memory: true });
    const env = { REGCTL_CONFIG_DIR: '/nonexistent-regctl-config', DOCKER_CONFIG: '/nonexistent-docker-config' };
    try {
      const img = makeImage({ layers: [20_000, 30_000] });
      for (const b of [img.config, ...img.layers]) await pushBlob(url, 'redir/img', b.bytes);
      expect((await pushManifest(url, 'redir/img', 'v1', img.manifest.bytes, img.manifest.mediaType)).status).toBe(201);
      const ok = await runCli(['copy', '--progress', 'none', `${registry}/redir/img:v1`, `${dest.registry}/copied:v1`], { env });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      const got = await http(dest.url, 'GET', '/v2/copied/manifests/v1', { headers: { accept: img.manifest.mediaType } });
      expect(got.body.equals(img.manifest.bytes)).toBe(true);
      for (const l of img.layers) expect((await http(dest.url, 'GET', `/v2/copied/blobs/${l.desc.digest}`)).body.equals(l.bytes)).toBe(true);

      const layer = img.layers[1]!;
      const evil = Buffer.from(layer.bytes);
      evil[100] = evil[100]! ^ 0xff;
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: storage.keys.content(layer.desc.digest), Body: evil }));
      const bad = await runCli(['copy', '--progress', 'none', `${registry}/redir/img:v1`, `${dest.registry}/tampered:v1`], { env });
      expect(bad.code).toBe(5);
      expect(bad.stderr).toContain(layer.desc.digest);
      expect((await http(dest.url, 'GET', '/v2/tampered/manifests/v1')).status).toBe(404);
    } finally {
      await dest.close();
    }
  });
});
