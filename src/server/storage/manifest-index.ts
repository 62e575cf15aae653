import { isIndex, parseManifest, type Manifest } from '../../oci/manifest.js';
import { MediaType } from '../../oci/mediatypes.js';
import { formatPlatform } from '../../oci/platform.js';
import type { RegistryStorage } from './types.js';

/**
 * What list pages need about tags and manifests, kept beside the storage so that drawing a
 * repository of 10,000 tags never reads 10,000 manifests per request (docs/scale-out.md):
 *  - per manifest digest (content-addressed, so never stale): media type, total size, platforms,
 *    created time; an LRU of `maxSummaries`;
 *  - per repository: tag -> digest, and when each manifest was pushed (from the storage where it
 *    records that: fs file mtimes, memory; else when this process saw the push); rebuilt
 *    lazily from storage on first use and again once older than `ttlMs` (other instances on S3,
 *    `regctl serve gc` run elsewhere), updated in place by this process's puts and deletes, and
 *    dropped by `invalidate()` after its own gc.
 */

export interface ManifestSummary {
  digest: string;
  mediaType: string;
  /** Manifest bytes + config + layers; for an index, its bytes + each child's total. */
  size: number;
  /** os/arch[/variant] of an image, or of each index entry. */
  platforms: string[];
  /** The config's `created` (ms), when it has one. */
  created?: number;
  artifactType?: string;
}

export interface TagRow {
  tag: string;
  digest: string;
  summary?: ManifestSummary;
  /**
   * When the manifest was pushed: the storage's record (fs, memory: survives restarts), else when
   * this process saw it pushed (s3), else the image's created time.
   */
  pushed?: number;
}

export interface RepositorySummary {
  name: string;
  tags: number;
  /** Sum of the tagged manifests' totals (shared layers counted once per manifest). */
  size: number;
  lastPush?: number;
}

interface RepoState {
  loadedAt: number;
  tags: Map<string, string>;
  /** digest -> push time read from the storage (backends with manifestPushedAt). */
  times: Map<string, number>;
  /** The rows and totals computed from `tags`; dropped whenever `tags` changes. */
  rows?: TagRow[];
  summary?: RepositorySummary;
  /** Bumped by every change to `tags`: rows computed across a change are not kept. */
  gen: number;
}

export interface ManifestIndexOptions {
  /** Rebuild a repository's tag map when older than this (default 30 s). */
  ttlMs?: number;
  maxSummaries?: number;
  maxRepositories?: number;
  now?: () => number;
}

const CONFIG_LIMIT = 1024 * 1024;

export class ManifestIndex {
  private readonly summaries = new Map<string, ManifestSummary>();
  private readonly repos = new Map<string, RepoState>();
  /** `repo\0digest` -> push time seen by this process. */
  private readonly pushed = new Map<string, number>();
  private readonly ttl: number;
  private readonly maxSummaries: number;
  private readonly maxRepos: number;
  private readonly now: () => number;

  constructor(
    private readonly storage: RegistryStorage,
    options: ManifestIndexOptions = {},
  ) {
    this.ttl = options.ttlMs ?? 30_000;
    this.maxSummaries = options.maxSummaries ?? 100_000;
    this.maxRepos = options.maxRepositories ?? 20_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Keep the index current with this storage's writes: puts, manifest and tag deletes update it
   * in place. (The storage object is patched, not wrapped: backends keep state on `this`.)
   */
  attach(): void {
    const s = this.storage;
    const put = s.putManifest.bind(s);
    const delManifest = s.deleteManifest.bind(s);
    const delTag = s.deleteTag.bind(s);
    s.putManifest = async (repo, m, tags, options) => {
      await put(repo, m, tags, options);
      // The storage's own time when it keeps one, so the page shows the same time after a restart.
      const at = (await s.manifestPushedAt?.(repo, m.digest).catch(() => undefined)) ?? this.now();
      this.pushed.set(`${repo}\0${m.digest}`, at);
      while (this.pushed.size > this.maxSummaries) this.pushed.delete(this.pushed.keys().next().value!);
      if (this.repoList && !this.repoList.set.has(repo)) this.dropRepositoryList();
      const state = this.repos.get(repo);
      if (state) {
        state.times.set(m.digest, at);
        for (const t of tags) state.tags.set(t, m.digest);
        dropRows(state);
      }
    };
    if (s.deleteRepository) {
      const delRepo = s.deleteRepository.bind(s);
      s.deleteRepository = async (repo) => {
        const ok = await delRepo(repo);
        this.dropRepositoryList();
        this.repos.delete(repo);
        return ok;
      };
    }
    s.deleteManifest = async (repo, digest) => {
      const ok = await delManifest(repo, digest);
      const state = this.repos.get(repo);
      if (state) {
        for (const [t, d] of state.tags) if (d === digest) state.tags.delete(t);
        state.times.delete(digest);
        dropRows(state);
      }
      return ok;
    };
    s.deleteTag = async (repo, tag) => {
      const ok = await delTag(repo, tag);
      const state = this.repos.get(repo);
      if (state) {
        state.tags.delete(tag);
        dropRows(state);
      }
      return ok;
    };
  }

  private warming: Promise<void> | undefined;
  private stopped = false;

  /**
   * Fill the index in the background (at start-up): every repository's totals, two at a time,
   * so the first views of the list find them computed. Stops at `stop()`, at `maxRepositories`,
   * and on the first storage error (pages then compute what they show on demand). Called again:
   * the same run.
   */
  warmUp(): Promise<void> {
    return (this.warming ??= (async () => {
      try {
        const names = (await this.repositories()).slice(0, this.maxRepos);
        let next = 0;
        const worker = async () => {
          while (!this.stopped && next < names.length) {
            const name = names[next++]!;
            await this.repository(name);
            // Requests go first (a memory backend never yields on its own).
            await new Promise((resolve) => setImmediate(resolve));
          }
        };
        await Promise.all([worker(), worker()]);
      } catch {
        // on demand instead
      }
    })());
  }

  /** End a warm-up in progress (server close). */
  stop(): void {
    this.stopped = true;
  }

  private repoList: { at: number; names: string[]; set: Set<string> } | undefined;
  private listGen = 0;

  /**
   * Every repository, sorted: the storage's list, kept for `ttlMs` (a file system walk of
   * 10,000 repositories costs more than the page), dropped when this process creates or deletes
   * a repository; other writers' new repositories appear within `ttlMs`.
   */
  async repositories(): Promise<string[]> {
    const c = this.repoList;
    if (c && this.now() - c.at < this.ttl) return c.names;
    const gen = this.listGen;
    const names = await this.storage.listRepositories();
    if (gen === this.listGen) this.repoList = { at: this.now(), names, set: new Set(names) };
    return names;
  }

  private dropRepositoryList(): void {
    this.listGen++;
    this.repoList = undefined;
  }

  /** Forget every repository's tag map (after gc); summaries stay (content-addressed). */
  invalidate(repo?: string): void {
    this.dropRepositoryList();
    if (repo === undefined) this.repos.clear();
    else this.repos.delete(repo);
  }

  private async state(repo: string): Promise<RepoState | undefined> {
    const state = this.repos.get(repo);
    if (state && this.now() - state.loadedAt < this.ttl) {
      // Most recently used last: the first entry is the one to drop.
      this.repos.delete(repo);
      this.repos.set(repo, state);
      return state;
    }
    const names = await this.storage.listTags(repo);
    if (!names) {
      this.repos.delete(repo);
      return undefined;
    }
    const tags = new Map<string, string>();
    for (let i = 0; i < names.length; i += 256) {
      const chunk = names.slice(i, i + 256);
      const digests = await Promise.all(chunk.map((t) => this.storage.resolveTag(repo, t)));
      chunk.forEach((t, j) => {
        if (digests[j] !== undefined) tags.set(t, digests[j]!);
      });
    }
    // A refresh that finds the same tags keeps the rows computed from them.
    const fresh: RepoState = state && sameTags(state.tags, tags) ? { ...state, loadedAt: this.now() } : { loadedAt: this.now(), tags, times: new Map(), gen: 0 };
    this.repos.delete(repo);
    this.repos.set(repo, fresh);
    while (this.repos.size > this.maxRepos) this.repos.delete(this.repos.keys().next().value!);
    return fresh;
  }

  /** Every tag of a repository with its summary; undefined when the repository does not exist. */
  async tags(repo: string): Promise<TagRow[] | undefined> {
    const state = await this.state(repo);
    if (!state) return undefined;
    if (state.rows) return state.rows;
    const tags = state.tags;
    const gen = state.gen;
    const sums = new Map<string, ManifestSummary | undefined>();
    const missing: string[] = [];
    for (const d of new Set(tags.values())) {
      const hit = this.summaries.get(d);
      if (hit) sums.set(d, hit);
      else missing.push(d);
    }
    for (let i = 0; i < missing.length; i += 32) {
      const chunk = missing.slice(i, i + 32);
      const got = await Promise.all(chunk.map((d) => this.summary(repo, d).catch(() => undefined)));
      chunk.forEach((d, j) => sums.set(d, got[j]));
      // Let other requests in between chunks of a large repository (memory never yields).
      if (missing.length > 256) await new Promise((resolve) => setImmediate(resolve));
    }
    const stored = this.storage.manifestPushedAt?.bind(this.storage);
    if (stored) {
      const unknown = [...sums.keys()].filter((d) => !state.times.has(d));
      for (let i = 0; i < unknown.length; i += 64) {
        const chunk = unknown.slice(i, i + 64);
        const got = await Promise.all(chunk.map((d) => stored(repo, d).catch(() => undefined)));
        chunk.forEach((d, j) => {
          if (got[j] !== undefined) state.times.set(d, got[j]!);
        });
      }
    }
    const rows: TagRow[] = [];
    for (const [tag, digest] of tags) {
      const summary = sums.get(digest);
      const pushed = state.times.get(digest) ?? this.pushed.get(`${repo}\0${digest}`) ?? summary?.created;
      rows.push({ tag, digest, ...(summary ? { summary } : {}), ...(pushed !== undefined ? { pushed } : {}) });
    }
    // Kept only if nothing changed the tags meanwhile.
    if (state.gen === gen && this.repos.get(repo) === state) state.rows = rows;
    return rows;
  }

  async repository(repo: string): Promise<RepositorySummary | undefined> {
    const state = await this.state(repo);
    if (state?.summary && state.rows) return state.summary;
    const rows = await this.tags(repo);
    if (!rows) return undefined;
    const seen = new Set<string>();
    let size = 0;
    let lastPush: number | undefined;
    for (const r of rows) {
      if (r.pushed !== undefined && (lastPush === undefined || r.pushed > lastPush)) lastPush = r.pushed;
      if (seen.has(r.digest)) continue;
      seen.add(r.digest);
      size += r.summary?.size ?? 0;
    }
    const summary: RepositorySummary = { name: repo, tags: rows.length, size, ...(lastPush !== undefined ? { lastPush } : {}) };
    const now = this.repos.get(repo);
    if (now?.rows === rows) now.summary = summary;
    return summary;
  }

  /** When this process saw `digest` pushed to `repo` (the storage's time where it keeps one). */
  pushedAt(repo: string, digest: string): number | undefined {
    return this.pushed.get(`${repo}\0${digest}`);
  }

  /** Summary of one manifest (cached by digest). Undefined when missing or unreadable. */
  async summary(repo: string, digest: string, depth = 0): Promise<ManifestSummary | undefined> {
    const hit = this.summaries.get(digest);
    if (hit) return hit;
    const stored = await this.storage.getManifest(repo, digest);
    if (!stored) return undefined;
    let m: Manifest;
    try {
      m = parseManifest(stored.bytes, stored.mediaType);
    } catch {
      return undefined;
    }
    const mediaType = m.mediaType ?? stored.mediaType;
    let out: ManifestSummary;
    if (isIndex(m)) {
      let size = stored.bytes.length;
      for (const d of m.manifests) {
        const child = depth < 2 ? await this.summary(repo, d.digest, depth + 1) : undefined;
        size += child?.size ?? d.size;
      }
      const platforms = m.manifests.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform));
      out = { digest, mediaType, size, platforms, ...(m.artifactType ? { artifactType: m.artifactType } : {}) };
    } else {
      const size = stored.bytes.length + m.config.size + m.layers.reduce((a, l) => a + l.size, 0);
      const config = await this.readConfig(repo, m.config.mediaType, m.config.digest, m.config.size);
      const platforms = config && typeof config.os === 'string' && typeof config.architecture === 'string'
        ? [formatPlatform({ os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) })]
        : [];
      const created = typeof config?.created === 'string' ? Date.parse(config.created) : NaN;
      const artifactType = m.artifactType ?? (isImageConfig(m.config.mediaType) ? undefined : m.config.mediaType);
      out = { digest, mediaType, size, platforms, ...(Number.isFinite(created) ? { created } : {}), ...(artifactType ? { artifactType } : {}) };
    }
    this.summaries.set(digest, out);
    while (this.summaries.size > this.maxSummaries) this.summaries.delete(this.summaries.keys().next().value!);
    return out;
  }

  /** An image config as JSON (at most 1 MiB), or undefined for anything else. */
  async readConfig(repo: string, mediaType: string, digest: string, size: number): Promise<Record<string, unknown> | undefined> {
    if (!isImageConfig(mediaType) || size > CONFIG_LIMIT) return undefined;
    try {
      const stream = await this.storage.readBlob(repo, digest);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of stream) {
        n += (c as Buffer).length;
        if (n > CONFIG_LIMIT) {
          stream.destroy();
          return undefined;
        }
        chunks.push(c as Buffer);
      }
      const json: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
}

function dropRows(state: RepoState): void {
  state.gen++;
  delete state.rows;
  delete state.summary;
}

function sameTags(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [t, d] of a) if (b.get(t) !== d) return false;
  return true;
}

function isImageConfig(mt: string): boolean {
  return mt === MediaType.ociConfig || mt === MediaType.dockerConfig;
}
