import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../../oci/manifest.js';
import { MediaType } from '../../oci/mediatypes.js';
import { checkTagCondition, type TagCondition } from '../protocol/errors.js';
import { KeyedMutex } from './mutex.js';
import { checkTagCap } from './tag-cap.js';
import { acquireLockFile, isErrno, writeFileAtomic } from './fs-file-ops.js';

/** The annotation OCI image layouts use to name a manifest (our tags). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

/** index.json parsed once and looked up many times. */
export interface LayoutState {
  /** Identity of the file this was read from (inode, size, mtime): changes on every replace. */
  key: string;
  index: IndexJson;
  tags: Map<string, Descriptor>;
  /** Every entry, tagged or not, by digest. */
  byDigest: Map<string, Descriptor[]>;
  /** Computed on first use: writes happen far more often than full tag listings. */
  readonly sortedTags: string[];
}

const EMPTY_INDEX = (): IndexJson => ({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });

/**
 * One repository = one OCI image layout directory. Tags live in index.json as ref.name
 * annotations; the parsed file is cached and re-read only when its inode/size/mtime change
 * (so edits by other tools are seen, and a 10,000-tag list costs a stat, not a parse).
 */
export class LayoutIndexes {
  private readonly cache = new Map<string, LayoutState>();
  private readonly locks = new KeyedMutex();
  private readonly batches = new Map<string, PendingChange[]>();
  private readonly ensured = new Set<string>();

  constructor(private readonly root: string) {}

  dir(repo: string): string {
    return join(this.root, ...repo.split('/'));
  }

  blobPath(repo: string, digest: string): string {
    const colon = digest.indexOf(':');
    return join(this.dir(repo), 'blobs', digest.slice(0, colon), digest.slice(colon + 1));
  }

  /** Create oci-layout, index.json and blobs/ALG if missing (checked once per process). */
  async ensure(repo: string, algorithm = 'sha256'): Promise<void> {
    const key = `${repo}\0${algorithm}`;
    if (this.ensured.has(key)) return;
    await this.create(repo, algorithm);
    this.ensured.add(key);
  }

  /** Forget what ensure() saw (the directory was removed behind our back). */
  forget(repo: string): void {
    for (const k of this.ensured) if (k.startsWith(`${repo}\0`)) this.ensured.delete(k);
  }

  /** `holdingLock`: the caller already runs under this repository's lock. */
  private async create(repo: string, algorithm: string, holdingLock = false): Promise<void> {
    const dir = this.dir(repo);
    await mkdir(join(dir, 'blobs', algorithm), { recursive: true });
    try {
      await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}', { flag: 'wx' });
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
    const locked = <T>(fn: () => Promise<T>) => (holdingLock ? fn() : this.locks.run(repo, fn));
    await locked(async () => {
      try {
        await stat(join(dir, 'index.json'));
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(EMPTY_INDEX()));
      }
    });
  }

  async read(repo: string): Promise<LayoutState | undefined> {
    const path = join(this.dir(repo), 'index.json');
    let key: string;
    try {
      const s = await stat(path, { bigint: true });
      key = `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
    const cached = this.cache.get(repo);
    if (cached && cached.key === key) return cached;
    let index: IndexJson;
    try {
      index = JSON.parse(await readFile(path, 'utf8')) as IndexJson;
      if (!Array.isArray(index.manifests)) index.manifests = [];
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      // A corrupt index.json (edited by hand) must not take the server down: treat as empty.
      index = EMPTY_INDEX();
    }
    const state = buildState(key, index);
    this.cache.set(repo, state);
    return state;
  }

  /**
   * Apply one change to index.json under this repository's lock; the new file replaces the old
   * atomically (temp file, fsync, rename), so a crash leaves one or the other. Changes that
   * arrive while a write is in progress are applied together in the next write (group commit):
   * 32 clients tagging at once cost a few rewrites, not 32. Resolves to whether the change
   * found what it names (a tag or digest to remove; always true for a put).
   */
  async apply(repo: string, op: IndexOp): Promise<boolean> {
    await this.ensure(repo);
    return new Promise<boolean>((resolve, reject) => {
      const waiting = this.batches.get(repo);
      if (waiting) {
        waiting.push({ op, resolve, reject });
        return;
      }
      const batch: PendingChange[] = [{ op, resolve, reject }];
      this.batches.set(repo, batch);
      this.locks
        .run(repo, async () => {
          // From here on, new changes start the next batch (which waits for this lock).
          this.batches.delete(repo);
          await this.writeBatch(repo, batch);
        })
        .catch((e: unknown) => {
          for (const p of batch) p.reject(e);
        });
    });
  }

  /**
   * Hold REPO/.index.json.lock (created exclusively) around a read-modify-write of index.json.
   * The in-process mutex orders this server's writers; the lock file orders them against
   * `regctl serve gc` running in another process on the same root.
   */
  async withFileLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    const release = await acquireLockFile(join(this.dir(repo), '.index.json.lock'), {
      // The repository directory is gone: lay it out again, then lock.
      onMissingDirectory: async () => {
        this.forget(repo);
        await mkdir(this.dir(repo), { recursive: true });
      },
    });
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /**
   * gc: remove every entry of `digest` if no tag names it and `stillUnused()` agrees, deciding
   * under both locks on a fresh read of index.json.
   */
  async removeIfUntagged(repo: string, digest: string, stillUnused: () => Promise<boolean>): Promise<boolean> {
    return this.locks.run(repo, () =>
      this.withFileLock(repo, async () => {
        const current = await this.read(repo);
        if (!current?.byDigest.has(digest)) return false;
        for (const d of current.tags.values()) if (d.digest === digest) return false;
        if (!(await stillUnused())) return false;
        const model = new IndexModel(repo, current.index.manifests);
        model.apply({ op: 'remove', digest });
        await this.writeIndex(repo, { ...current.index, manifests: model.entries() });
        return true;
      }),
    );
  }

  private async writeIndex(repo: string, index: IndexJson): Promise<void> {
    const path = join(this.dir(repo), 'index.json');
    await writeFileAtomic(path, JSON.stringify(index));
    const s = await stat(path, { bigint: true });
    this.cache.set(repo, buildState(`${s.ino}:${s.size}:${s.mtimeNs}`, index));
  }

  private async writeBatch(repo: string, batch: PendingChange[]): Promise<void> {
    await this.withFileLock(repo, () => this.writeBatchLocked(repo, batch));
  }

  private async writeBatchLocked(repo: string, batch: PendingChange[]): Promise<void> {
    const current = (await this.read(repo)) ?? buildState('', EMPTY_INDEX());
    const model = new IndexModel(repo, current.index.manifests);
    // A change refused (tag cap) fails alone; the others in the batch still apply.
    const found = batch.map((p) => {
      try {
        return { ok: model.apply(p.op) };
      } catch (e) {
        return { error: e };
      }
    });
    if (model.changed) {
      const index: IndexJson = { ...current.index, manifests: model.entries() };
      const path = join(this.dir(repo), 'index.json');
      const data = JSON.stringify(index);
      try {
        await writeFileAtomic(path, data);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        // The repository directory was removed behind our back: lay it out again.
        this.forget(repo);
        await this.create(repo, 'sha256', true);
        await writeFileAtomic(path, data);
      }
      // Keep the parsed result: the next read costs a stat, not a parse.
      const s = await stat(path, { bigint: true });
      this.cache.set(repo, buildState(`${s.ino}:${s.size}:${s.mtimeNs}`, index));
    }
    batch.forEach((p, i) => {
      const r = found[i]!;
      if ('error' in r) p.reject(r.error);
      else p.resolve(r.ok);
    });
  }
}

/** What can happen to index.json. */
export type IndexOp =
  /** Store `desc` under each of `tags` (moving them), or untagged when `tags` is empty. */
  | { op: 'put'; desc: Descriptor; tags: string[]; maxTags?: number; ifTag?: TagCondition }
  /** Remove one tag; its manifest stays, untagged if no other tag names it. */
  | { op: 'untag'; tag: string }
  /** Remove every entry of a digest. */
  | { op: 'remove'; digest: string };

/**
 * index.json's entries keyed for O(1) changes: "t" + tag for tagged entries, "d" + digest for
 * untagged ones; insertion order is file order. Every digest keeps at least one entry while
 * it is stored, so a manifest that loses its last tag stays reachable by digest.
 */
class IndexModel {
  private readonly map = new Map<string, Descriptor>();
  private readonly refs = new Map<string, number>();
  changed = false;

  constructor(
    private readonly repo: string,
    entries: Descriptor[],
  ) {
    for (const d of entries) {
      if (typeof d?.digest !== 'string') continue;
      const tag = d.annotations?.[REF_NAME];
      const key = tag !== undefined ? `t${tag}` : `d${d.digest}`;
      const old = this.map.get(key);
      if (old) this.unref(old.digest);
      this.map.set(key, d);
      this.ref(d.digest);
    }
  }

  /** Counted when asked: only a put under a tag cap asks. */
  private get tagCount(): number {
    let n = 0;
    for (const k of this.map.keys()) if (k.startsWith('t')) n++;
    return n;
  }

  entries(): Descriptor[] {
    return [...this.map.values()];
  }

  apply(op: IndexOp): boolean {
    switch (op.op) {
      case 'put': {
        const { desc, tags } = op;
        // Both throw before changing anything; decided on the index.json read under the locks.
        if (op.ifTag) checkTagCondition(this.repo, op.ifTag, this.map.get(`t${op.ifTag.tag}`)?.digest);
        checkTagCap(this.repo, this.tagCount, (t) => this.map.has(`t${t}`), tags, op.maxTags);
        for (const tag of tags) {
          const old = this.map.get(`t${tag}`);
          if (old) {
            this.map.delete(`t${tag}`);
            this.unref(old.digest);
            if (old.digest !== desc.digest) this.keepUntagged(old);
          }
          this.map.set(`t${tag}`, { ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
          this.ref(desc.digest);
        }
        if (tags.length > 0) {
          if (this.map.delete(`d${desc.digest}`)) this.unref(desc.digest);
        } else if (!this.refs.has(desc.digest)) {
          this.map.set(`d${desc.digest}`, desc);
          this.ref(desc.digest);
        }
        this.changed = true;
        return true;
      }
      case 'untag': {
        const old = this.map.get(`t${op.tag}`);
        if (!old) return false;
        this.map.delete(`t${op.tag}`);
        this.unref(old.digest);
        this.keepUntagged(old);
        this.changed = true;
        return true;
      }
      case 'remove': {
        if (!this.refs.has(op.digest)) return false;
        for (const [k, d] of this.map) if (d.digest === op.digest) this.map.delete(k);
        this.refs.delete(op.digest);
        this.changed = true;
        return true;
      }
    }
  }

  /** After a tag left `old`: keep its manifest reachable by digest if nothing else names it. */
  private keepUntagged(old: Descriptor): void {
    if (this.refs.has(old.digest)) return;
    const { annotations, ...rest } = old;
    const others = Object.entries(annotations ?? {}).filter(([k]) => k !== REF_NAME);
    const untagged: Descriptor = others.length > 0 ? { ...rest, annotations: Object.fromEntries(others) } : rest;
    this.map.set(`d${old.digest}`, untagged);
    this.ref(old.digest);
  }

  private ref(digest: string): void {
    this.refs.set(digest, (this.refs.get(digest) ?? 0) + 1);
  }

  private unref(digest: string): void {
    const n = (this.refs.get(digest) ?? 0) - 1;
    if (n <= 0) this.refs.delete(digest);
    else this.refs.set(digest, n);
  }
}

interface PendingChange {
  op: IndexOp;
  resolve: (found: boolean) => void;
  reject: (e: unknown) => void;
}

function buildState(key: string, index: IndexJson): LayoutState {
  const tags = new Map<string, Descriptor>();
  const byDigest = new Map<string, Descriptor[]>();
  for (const d of index.manifests) {
    if (typeof d?.digest !== 'string') continue;
    const list = byDigest.get(d.digest);
    if (list) list.push(d);
    else byDigest.set(d.digest, [d]);
    const tag = d.annotations?.[REF_NAME];
    if (tag !== undefined) tags.set(tag, d);
  }
  let sorted: string[] | undefined;
  return {
    key,
    index,
    tags,
    byDigest,
    get sortedTags() {
      sorted ??= [...tags.keys()].sort(compareCodeUnits);
      return sorted;
    },
  };
}

/** Lexical order by code unit (what the spec's "lexical" means for ASCII tags), not locale order. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
