import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryServer, type RegistryServerOptions } from '../../src/server/server.js';
import type { RegistryStorage } from '../../src/server/storage/types.js';

export interface StartServeOptions extends Omit<RegistryServerOptions, 'root' | 'storage' | 'onRequest'> {
  /** Use this directory (kept on close). Default: a fresh temp directory, removed on close. */
  root?: string;
  /** In-memory storage instead of a directory. */
  memory?: boolean;
}

export interface ServeHandle {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  registry: string;
  port: number;
  /** The storage directory (undefined with memory: true). */
  root?: string;
  storage: RegistryStorage;
  /** Every request answered so far, in order (path without query string). */
  requests: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

/** Start the project's own registry in-process on 127.0.0.1, port 0. */
export async function startServe(options: StartServeOptions = {}): Promise<ServeHandle> {
  const { root: givenRoot, memory, ...rest } = options;
  const root = memory ? undefined : (givenRoot ?? (await mkdtemp(join(tmpdir(), 'regctl-serve-'))));
  const requests: ServeHandle['requests'] = [];
  const reg = await createRegistryServer({
    ...rest,
    // Open unless the test brings its own front door.
    ...(rest.guard ? {} : { open: true as const }),
    ...(root !== undefined ? { root } : {}),
    onRequest: (e) => requests.push({ method: e.method, path: e.path, status: e.status }),
  });
  const { port, url } = await reg.listen(0, '127.0.0.1');
  return {
    url,
    registry: `127.0.0.1:${port}`,
    port,
    root,
    storage: reg.storage,
    requests,
    async close() {
      await reg.close();
      if (root !== undefined && givenRoot === undefined) await rm(root, { recursive: true, force: true });
    },
  };
}
