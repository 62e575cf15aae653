import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RegistryStorage } from '../storage/types.js';

/**
 * What the mirror has cached: for each (cache repository, digest) its size and when it was last
 * pulled, and for each cached tag the digest upstream gave and when that was last checked.
 * Only content the mirror fetched is ever listed here, so eviction can never touch a push.
 * Kept as one JSON file (written at most once a second) so a restart keeps the LRU order; on a
 * backend without a local directory (S3) it lives in memory, per instance.
 */

interface Entry {
  repo: string;
  digest: string;
  kind: 'blob' | 'manifest';
  size: number;
  lastPulled: number;
}

interface TagEntry {
  digest: string;
  checkedAt: number;
}

interface Saved {
  version: 1;
  entries: Entry[];
  tags: Array<{ repo: string; tag: string } & TagEntry>;
}

export interface Evicted {
  repo: string;
  digest: string;
  kind: 'blob' | 'manifest';
  size: number;
}

export class CacheIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly tags = new Map<string, TagEntry & { repo: string; tag: string }>();
  private bytes = 0;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string | undefined,
    private readonly now: () => number,
  ) {}

  static async open(path: string | undefined, now: () => number = Date.now): Promise<CacheIndex> {
    const index = new CacheIndex(path, now);
    if (path === undefined) return index;
    let saved: Saved | undefined;
    try {
      saved = JSON.parse(await readFile(path, 'utf8')) as Saved;
    } catch {
      // none yet (or unreadable: start over; content stays, it is just not evicted until pulled again)
    }
    if (saved?.version === 1) {
      for (const e of saved.entries ?? []) if (typeof e.size === 'number') index.put(e);
      for (const t of saved.tags ?? []) index.tags.set(`${t.repo}:${t.tag}`, t);
    }
    return index;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  tag(repo: string, tag: string): TagEntry | undefined {
    return this.tags.get(`${repo}:${tag}`);
  }

  setTag(repo: string, tag: string, digest: string): void {
    this.tags.set(`${repo}:${tag}`, { repo, tag, digest, checkedAt: this.now() });
    this.changed();
  }

  /** Content fetched into the cache (or pulled again): now the most recently used. */
  record(repo: string, digest: string, kind: Entry['kind'], size: number): void {
    this.put({ repo, digest, kind, size, lastPulled: this.now() });
    this.changed();
  }

  /** A pull of cached content; false when the index does not know it (not mirror content). */
  touch(repo: string, digest: string): boolean {
    const e = this.entries.get(`${repo}@${digest}`);
    if (!e) return false;
    // Re-insert: Map order is the LRU order.
    this.entries.delete(`${repo}@${digest}`);
    e.lastPulled = this.now();
    this.entries.set(`${repo}@${digest}`, e);
    this.changed();
    return true;
  }

  forget(repo: string, digest: string): void {
    const key = `${repo}@${digest}`;
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.size;
    for (const [k, t] of this.tags) if (t.repo === repo && t.digest === digest) this.tags.delete(k);
    this.changed();
  }

  /**
   * Delete least recently pulled cached content until the cache holds at most `maxBytes`.
   * `keep` protects content being served right now.
   */
  async evict(storage: RegistryStorage, maxBytes: number, keep: (repo: string, digest: string) => boolean = () => false): Promise<Evicted[]> {
    const out: Evicted[] = [];
    if (this.bytes <= maxBytes) return out;
    for (const e of [...this.entries.values()]) {
      if (this.bytes <= maxBytes) break;
      if (keep(e.repo, e.digest)) continue;
      try {
        if (e.kind === 'manifest') await storage.deleteManifest(e.repo, e.digest);
        else await storage.deleteBlob(e.repo, e.digest);
      } catch {
        continue;
      }
      this.forget(e.repo, e.digest);
      out.push({ repo: e.repo, digest: e.digest, kind: e.kind, size: e.size });
    }
    return out;
  }

  /** Write pending changes now (shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.save();
  }

  private put(e: Entry): void {
    const key = `${e.repo}@${e.digest}`;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.size;
      this.entries.delete(key);
    }
    this.entries.set(key, e);
    this.bytes += e.size;
  }

  private changed(): void {
    if (this.path === undefined || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, 1000);
    this.saveTimer.unref();
  }

  private save(): Promise<void> {
    const path = this.path;
    if (path === undefined) return Promise.resolve();
    const data: Saved = { version: 1, entries: [...this.entries.values()], tags: [...this.tags.values()] };
    this.saving = this.saving.then(async () => {
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(`${path}.tmp`, JSON.stringify(data));
        await rename(`${path}.tmp`, path);
      } catch {
        // best effort: the index is a cache of a cache
      }
    });
    return this.saving;
  }
}
