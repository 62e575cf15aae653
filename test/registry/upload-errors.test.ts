import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { digestOf, VerifyingStream } from '../../src/oci/digest.js';
import { DigestMismatchError } from '../../src/errors.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

describe('uploads whose body fails', () => {
  let serve: ServeHandle;
  beforeAll(async () => {
    serve = await startServe({ memory: true });
  });
  afterAll(async () => {
    await serve?.close();
  });

  it('putBlobComputed rejects (no hang) when the body fails while the session opens, and cancels it', async () => {
    const repo = new RegistryClient().repository(serve.registry, 'fails/early');
    const body = new Readable({ read() {} });
    // Fail as soon as the client has asked for an upload session, before it starts sending.
    setImmediate(() => body.destroy(new Error('source broke')));
    const started = Date.now();
    await expect(repo.putBlobComputed(body, MediaType.ociLayerGzip)).rejects.toThrow('source broke');
    expect(Date.now() - started).toBeLessThan(5_000);
    const opened = serve.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/blobs/uploads/'));
    const cancelled = serve.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/blobs/uploads/'));
    expect(opened).toHaveLength(1);
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]!.status).toBe(204);
  });

  it('putBlob rejects (no hang) when the body fails while the session opens, and cancels it', async () => {
    const repo = new RegistryClient().repository(serve.registry, 'fails/early-known');
    const body = new Readable({ read() {} });
    setImmediate(() => body.destroy(new Error('source broke too')));
    const desc = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${'0'.repeat(64)}`, size: 10 };
    const before = serve.requests.length;
    await expect(repo.putBlob(desc, body)).rejects.toThrow('source broke too');
    const mine = serve.requests.slice(before);
    expect(mine.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 202', 'DELETE 204']);
  });

  it('putBlob trusts a body that is already a verifier for the digest, and still refuses corrupt bytes', async () => {
    const repo = new RegistryClient().repository(serve.registry, 'verified/once');
    const good = Buffer.from('exactly these bytes');
    const desc = { mediaType: MediaType.ociLayerGzip, digest: digestOf(good), size: good.length };
    const corrupt = Buffer.from(good);
    corrupt[3] ^= 1;
    const bad = Readable.from([corrupt]).pipe(new VerifyingStream({ digest: desc.digest, size: desc.size }));
    await expect(repo.putBlob(desc, bad)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await repo.hasBlob(desc)).toBe(false);
    const ok = Readable.from([good]).pipe(new VerifyingStream({ digest: desc.digest, size: desc.size }));
    await repo.putBlob(desc, ok);
    expect(await repo.hasBlob(desc)).toBe(true);
  });
});
