import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestContext } from '../handlers/context.js';
import { OciError } from '../protocol/errors.js';
import type { Route } from '../protocol/router.js';
import type { RegistryStorage } from '../storage/types.js';
import { BlobFetcher } from './blob-fetch.js';
import { CacheIndex, type Evicted } from './cache-index.js';
import { serveMirroredBlob, serveMirroredManifest, serveMirroredTags, type CacheDeps, type MirrorStats } from './cache.js';
import { MirrorNamespaces, type MirrorTarget, type MirrorUpstream } from './namespaces.js';
import { UpstreamClient, type UpstreamCredentials } from './upstream.js';

export { parseMirrorSpec, MirrorNamespaces, type MirrorUpstream } from './namespaces.js';
export { loadMirrorAuth } from './upstream.js';
export type { MirrorStats } from './cache.js';

/**
 * `regctl serve --mirror`: a pull-through cache in front of other registries, beside the
 * registry's own repositories. The server asks `handle` before its manifest and blob handlers;
 * it answers (true) for names in a mirror namespace, and in default-mirror mode for names no
 * local repository has. Pushes into a mirror namespace are refused: they never go upstream and
 * never mix with cached content (which eviction may delete).
 */

export interface PullThroughOptions {
  upstreams: MirrorUpstream[];
  /** `--mirror-default PREFIX`: names matching no local repository pull through this upstream. */
  defaultPrefix?: string;
  credentials?: Map<string, UpstreamCredentials>;
  /** How long a cached tag is trusted before a HEAD re-checks it (default 5 min). */
  tagTtlMs?: number;
  /** Cached bytes kept at most (least recently pulled evicted first); undefined: no limit. */
  maxBytes?: number;
  /** Where the cache index and in-flight downloads live (the fs root's _mirror; else a temp dir, index in memory). */
  stateDir?: string;
  log?: (message: string) => void;
  now?: () => number;
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export class PullThroughMirror {
  readonly stats: MirrorStats = { hits: 0, misses: 0, upstreamBytes: 0, staleServes: 0, upstreamErrors: 0 };
  readonly namespaces: MirrorNamespaces;
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly deps: CacheDeps;
  private evicting: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly storage: RegistryStorage,
    readonly index: CacheIndex,
    private readonly fetcher: BlobFetcher,
    private readonly options: PullThroughOptions,
  ) {
    this.namespaces = new MirrorNamespaces(options.upstreams, options.defaultPrefix);
    const log = options.log ?? (() => undefined);
    this.deps = {
      index,
      fetcher,
      client: (t) => this.client(t),
      tagTtlMs: options.tagTtlMs ?? 5 * 60_000,
      stats: this.stats,
      log,
      added: () => this.scheduleEviction(),
      now: options.now ?? Date.now,
    };
  }

  /** The configured upstreams (prefix and URL; credentials live apart, in --mirror-auth). */
  get upstreams(): ReadonlyArray<{ prefix: string; url: string }> {
    return this.options.upstreams.map((u) => ({ prefix: u.prefix, url: u.url }));
  }

  get defaultPrefix(): string | undefined {
    return this.options.defaultPrefix;
  }

  static async create(storage: RegistryStorage, options: PullThroughOptions): Promise<PullThroughMirror> {
    const index = await CacheIndex.open(options.stateDir ? join(options.stateDir, 'index.json') : undefined, options.now);
    const tmp = join(options.stateDir ?? join(tmpdir(), `regctl-mirror-${process.pid}`), 'tmp');
    const log = options.log ?? (() => undefined);
    let self: PullThroughMirror | undefined;
    const fetcher = new BlobFetcher(storage, tmp, {
      onBytes: (n) => {
        if (self) self.stats.upstreamBytes += n;
      },
      onStored: (repo, digest, size) => {
        index.record(repo, digest, 'blob', size);
        self?.scheduleEviction();
      },
      onError: (e, repo, digest) => {
        if (self) self.stats.upstreamErrors++;
        log(`mirror: ${repo}@${digest}: ${(e as Error)?.message ?? String(e)}`);
      },
    });
    self = new PullThroughMirror(storage, index, fetcher, options);
    return self;
  }

  /** Answer the request if it is the mirror's; false: the registry's own handlers go on. */
  async handle(ctx: RequestContext, r: Route): Promise<boolean> {
    if (r.kind === 'base' || r.kind === 'catalog' || r.kind === 'search') return false;
    const method = ctx.req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    const ns = this.namespaces.namespaced(r.name);
    let target: MirrorTarget | undefined;
    if (ns) {
      if (!read || r.kind === 'uploads' || r.kind === 'upload') {
        throw new OciError('DENIED', `${ns.upstream.prefix}/ is a pull-through mirror of ${ns.upstream.url}: push to a name outside it`, { status: 403 });
      }
      if (r.kind !== 'manifest' && r.kind !== 'blob' && r.kind !== 'tags') return false;
      target = ns;
    } else {
      if (r.kind === 'manifest' && method === 'PUT') await this.shadowedPush(ctx, r.name);
      if (!read || (r.kind !== 'manifest' && r.kind !== 'blob' && r.kind !== 'tags')) return false;
      target = this.namespaces.viaDefault(r.name);
      // Local repositories win.
      if (!target || (await ctx.storage.listTags(r.name)) !== undefined) return false;
      // A blob request is the mirror's only for a name pulled through (its manifest came first)
      // that the local name does not hold: a push in progress to a local name (HEAD before
      // upload) must hear the local repository's own answer, never the cache's.
      if (r.kind === 'blob' && ((await ctx.storage.statBlob(r.name, r.digest)) || (await ctx.storage.listTags(target.cacheName)) === undefined)) return false;
    }
    if (r.kind === 'tags') await serveMirroredTags(ctx, this.deps, target, r.name);
    else if (r.kind === 'manifest') await serveMirroredManifest(ctx, this.deps, target, r.reference);
    else await serveMirroredBlob(ctx, this.deps, target, r.digest);
    return true;
  }

  /**
   * The first push to a local name that is also a pulled-through name: while it had no local
   * tags, the client's blob HEADs under that name were answered from the cache (the name was the
   * mirror's), so the client uploaded only what the cache lacked. The manifest PUT then takes
   * exactly those blobs: ones of that name's own cache repository are linked into the local one.
   */
  private async shadowedPush(ctx: RequestContext, name: string): Promise<void> {
    const target = this.namespaces.viaDefault(name);
    if (!target) return;
    const storage = ctx.storage;
    if ((await storage.listTags(name)) !== undefined || (await storage.listTags(target.cacheName)) === undefined) return;
    const adopt = async (repo: string, digest: string): Promise<void> => {
      if (repo !== name || (await storage.statBlob(repo, digest)) || !(await storage.statBlob(target.cacheName, digest))) return;
      await storage.mountBlob(repo, digest, target.cacheName).catch(() => false);
    };
    ctx.storage = new Proxy(storage, {
      get(t, prop) {
        if (prop === 'statBlob') return async (repo: string, digest: string) => (await adopt(repo, digest), t.statBlob(repo, digest));
        if (prop === 'touchBlob' && t.touchBlob) return async (repo: string, digest: string) => (await adopt(repo, digest), t.touchBlob!(repo, digest));
        const v: unknown = Reflect.get(t, prop, t);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  }

  /** Start-up lines: each namespace and its upstream URL (never credentials: URLs carry none). */
  describe(): string[] {
    const d = this.namespaces.defaultUpstream;
    return this.namespaces.upstreams.map(
      (u) => `mirror: ${u.prefix}/ -> ${u.url}${u === d ? ' (also names no local repository has: --mirror-default)' : ''}${this.options.credentials?.has(u.prefix) ? ' (with --mirror-auth credentials)' : ''}`,
    );
  }

  /** Evict down to --mirror-max-size now (also what `serve gc` runs). */
  evict(): Promise<Evicted[]> {
    const max = this.options.maxBytes;
    if (max === undefined) return Promise.resolve([]);
    const run = this.evicting.then(async () => {
      const out = await this.index.evict(this.storage, max, (repo, digest) => this.fetcher.inFlight(repo, digest) !== undefined);
      if (out.length > 0) {
        const bytes = out.reduce((s, e) => s + e.size, 0);
        this.options.log?.(`mirror: evicted ${out.length} cached item(s), ${bytes} bytes (cache ${this.index.totalBytes} of ${max} bytes)`);
      }
      return out;
    });
    this.evicting = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    // Downloads finish and are stored (a stalled one ends by the upstream idle timeout).
    await this.fetcher.idle();
    await this.evicting;
    await this.index.flush();
  }

  private scheduleEviction(): void {
    if (this.options.maxBytes !== undefined && this.index.totalBytes > this.options.maxBytes) void this.evict().catch(() => undefined);
  }

  private client(t: MirrorTarget): UpstreamClient {
    let c = this.clients.get(t.upstream.prefix);
    if (!c) {
      const creds = this.options.credentials?.get(t.upstream.prefix);
      c = new UpstreamClient(t.upstream, {
        ...(creds ? { credentials: creds } : {}),
        ...(this.options.headersTimeoutMs !== undefined ? { headersTimeoutMs: this.options.headersTimeoutMs } : {}),
        ...(this.options.idleTimeoutMs !== undefined ? { idleTimeoutMs: this.options.idleTimeoutMs } : {}),
      });
      this.clients.set(t.upstream.prefix, c);
    }
    return c;
  }
}

/**
 * `regctl serve gc` with --mirror-max-size: evict the least recently pulled cached content of a
 * filesystem root down to `maxBytes` before collecting (the index file says what is cache).
 */
export async function evictMirrorCache(storage: RegistryStorage, root: string, maxBytes: number): Promise<{ items: number; bytes: number }> {
  const index = await CacheIndex.open(join(root, '_mirror', 'index.json'));
  const evicted = await index.evict(storage, maxBytes);
  await index.flush();
  return { items: evicted.length, bytes: evicted.reduce((s, e) => s + e.size, 0) };
}
