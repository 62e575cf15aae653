import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import type { ServeSettings } from '../ops/config.js';
import type { GcStore } from '../storage/gc-store.js';
import type { RegistryStorage } from '../storage/types.js';
import { loadMirrorAuth, parseMirrorSpec, PullThroughMirror, type MirrorStats } from './index.js';

/** `regctl serve --mirror ...` from resolved settings (runtime.ts). */
export async function createMirror(
  settings: ServeSettings,
  storage: RegistryStorage,
  options: { root: string; storage?: RegistryStorage; info?: (m: string) => void; warn?: (m: string) => void },
): Promise<PullThroughMirror> {
  const upstreams = (settings.mirror ?? []).map(parseMirrorSpec);
  const credentials = settings.mirrorAuth ? await loadMirrorAuth(settings.mirrorAuth, upstreams) : undefined;
  // On the filesystem the index and in-flight downloads live beside the data (names starting
  // with "_" are never repositories); elsewhere (S3) in a temp dir, the index per instance.
  const stateDir = options.storage ? undefined : join(options.root, '_mirror');
  if (stateDir) await rm(join(stateDir, 'tmp'), { recursive: true, force: true });
  const log = options.info ?? options.warn ?? (() => undefined);
  return PullThroughMirror.create(storage, {
    upstreams,
    ...(settings.mirrorDefault !== undefined ? { defaultPrefix: settings.mirrorDefault } : {}),
    ...(credentials ? { credentials } : {}),
    tagTtlMs: settings.mirrorTagTtlMs,
    ...(settings.mirrorMaxSize !== undefined ? { maxBytes: settings.mirrorMaxSize } : {}),
    ...(stateDir ? { stateDir } : {}),
    log,
  });
}

/** hits, misses, upstream bytes, stale serves, upstream errors, cached bytes: read at scrape time. */
export function registerMirrorMetrics(registry: Registry, stats: MirrorStats, prefix = 'regctl_registry_mirror_'): void {
  const counter = (name: keyof MirrorStats, metric: string, help: string) =>
    new Counter({
      name: `${prefix}${metric}`,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(stats[name]);
      },
    });
  counter('hits', 'hits_total', 'Mirror requests answered from the cache');
  counter('misses', 'misses_total', 'Mirror requests that fetched from upstream');
  counter('upstreamBytes', 'upstream_bytes_total', 'Bytes received from upstream registries');
  counter('staleServes', 'stale_serves_total', 'Cached tags served stale because upstream was down or rate-limiting');
  counter('upstreamErrors', 'upstream_errors_total', 'Upstream failures (unreachable, 5xx, 429, corrupt bytes)');
}

/** The periodic gc evicts down to --mirror-max-size first, then collects what eviction unlinked. */
export function withEviction(store: GcStore, mirror: PullThroughMirror): GcStore {
  return {
    ...bind(store),
    async listRepositories() {
      await mirror.evict().catch(() => undefined);
      return store.listRepositories();
    },
  };
}

function bind(store: GcStore): GcStore {
  const out: Record<string, unknown> = {};
  for (const k of ['listRepositories', 'listTags', 'listManifests', 'readManifest', 'listBlobs', 'deleteManifest', 'deleteBlob', 'listUploads', 'deleteUpload', 'warnings'] as const) {
    const f = (store as unknown as Record<string, unknown>)[k];
    if (typeof f === 'function') out[k] = (f as (...a: unknown[]) => unknown).bind(store);
  }
  return out as unknown as GcStore;
}
