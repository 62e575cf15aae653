import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveServeSettings, type ServeSettings } from '../../src/server/ops/config.js';
import { createServeRuntime, type ServeRuntime, type ServeRuntimeOptions } from '../../src/server/runtime.js';

export type ServeFlags = Partial<Record<keyof ServeSettings, unknown>>;

/** `regctl serve` as the CLI assembles it (server/runtime.ts from resolved settings), in-process on 127.0.0.1:0. */
export interface RuntimeServe {
  url: string;
  registry: string;
  root: string;
  runtime: ServeRuntime;
  /** Closes the runtime; removes the root unless the caller gave it. */
  close(): Promise<void>;
}

/**
 * Resolve `flags` (no environment), start the runtime with `hooks` (log sinks, storage) in `root`
 * or a new temporary folder named `prefix`.
 */
export async function startServeRuntime(
  flags: ServeFlags,
  options: { root?: string; prefix: string; hooks: Omit<ServeRuntimeOptions, 'settings' | 'root'> },
): Promise<RuntimeServe> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), options.prefix)));
  const { settings } = resolveServeSettings({ flags, env: {} });
  const runtime = await createServeRuntime({ settings, root, ...options.hooks });
  const bound = await runtime.listen(0, '127.0.0.1');
  return {
    url: bound.url,
    registry: `127.0.0.1:${bound.port}`,
    root,
    runtime,
    async close() {
      await runtime.close();
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}
