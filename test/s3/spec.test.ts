/**
 * The registry's own spec suites (test/server/{core,uploads,manifests}.test.ts), re-run with the
 * S3 backend: those suites run each case on the filesystem and on "memory" storage through
 * startServe({memory}); here startServe is replaced so that `memory: true` means a fresh
 * prefix in a bucket on a local s3rver. Same test code, other backend; the filesystem variant
 * runs again unchanged.
 */
import { afterAll, describe, vi } from 'vitest';
import { startS3, type LocalS3 } from './s3rver.js';

const local = vi.hoisted(() => ({ s3: undefined as LocalS3 | undefined, starting: undefined as Promise<LocalS3> | undefined }));

vi.mock('../helpers/serve.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../helpers/serve.js')>();
  const { createRegistryServer } = await import('../../src/server/server.js');
  return {
    ...real,
    async startServe(options: import('../helpers/serve.js').StartServeOptions = {}) {
      if (!options.memory) return real.startServe(options);
      local.starting ??= startS3();
      local.s3 = await local.starting;
      const { memory: _m, root: _r, ...rest } = options;
      const requests: Array<{ method: string; path: string; status: number }> = [];
      const reg = await createRegistryServer({
        open: true,
        ...rest,
        storage: local.s3.storage(),
        onRequest: (e) => requests.push({ method: e.method, path: e.path, status: e.status }),
      });
      const { port, url } = await reg.listen(0, '127.0.0.1');
      return { url, registry: `127.0.0.1:${port}`, port, storage: reg.storage, requests, close: () => reg.close() };
    },
  };
});

afterAll(async () => {
  await local.s3?.close();
});

describe('S3 backend (labelled "memory" below) and filesystem', async () => {
  await import('../server/core.test.js');
  await import('../server/uploads.test.js');
  await import('../server/manifests.test.js');
});
