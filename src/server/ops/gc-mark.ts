import { isValidDigest } from '../../oci/digest.js';
import type { GcObject, GcStore } from '../storage/gc-store.js';

/** The mark phase of gc (ops/gc.ts) for one repository. */

interface Parsed {
  children: string[];
  blobs: string[];
  subject?: string;
}

/** What a manifest points at, read leniently (OCI and Docker, images, indexes and artifacts). */
function references(bytes: Uint8Array): Parsed | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const m = doc as Record<string, unknown>;
  const digests = (list: unknown): string[] =>
    Array.isArray(list) ? list.flatMap((d) => (typeof d === 'object' && d !== null && isValidDigest((d as { digest?: unknown }).digest as string) ? [(d as { digest: string }).digest] : [])) : [];
  const one = (d: unknown): string[] => digests(d === undefined ? [] : [d]);
  const parsed: Parsed = {
    children: digests(m.manifests),
    // `blobs` is the withdrawn OCI artifact manifest; keeping its blobs costs nothing.
    blobs: [...one(m.config), ...digests(m.layers), ...digests(m.blobs)],
  };
  const subject = one(m.subject)[0];
  if (subject !== undefined) parsed.subject = subject;
  return parsed;
}

export class UnreadableManifest extends Error {
  constructor(readonly digest: string) {
    super(`unreadable manifest ${digest}`);
  }
}

/**
 * Everything reachable in one repository: from its tags, from every manifest unless
 * `untagged` (then only young ones), and referrers of whatever is reached.
 */
export class RepositoryMark {
  readonly keptManifests = new Set<string>();
  readonly keptBlobs = new Set<string>();
  private readonly parsed = new Map<string, Parsed | null>();
  private readonly referrersOf = new Map<string, string[]>();

  constructor(
    private readonly store: GcStore,
    private readonly repo: string,
    private readonly options: { untagged: boolean; cutoff: number },
  ) {}

  /** Mark, list blobs, mark again (whatever was pushed meanwhile is protected as well). */
  async run(): Promise<{ manifests: GcObject[]; blobs: GcObject[] }> {
    const manifests = await this.markAll();
    const blobs = await this.store.listBlobs(this.repo);
    const again = await this.markAll();
    const seen = new Set(manifests.map((m) => m.digest));
    for (const m of again) if (!seen.has(m.digest)) manifests.push(m);
    return { manifests, blobs };
  }

  /** Throws UnreadableManifest for bytes that are not a manifest: gc leaves that repository alone. */
  private async read(digest: string): Promise<Parsed | null> {
    let p = this.parsed.get(digest);
    if (p === undefined) {
      const bytes = await this.store.readManifest(this.repo, digest);
      p = bytes === undefined ? null : (references(bytes) ?? null);
      if (bytes !== undefined && p === null) throw new UnreadableManifest(digest);
      this.parsed.set(digest, p);
    }
    return p;
  }

  private async mark(roots: Iterable<string>): Promise<void> {
    const queue = [...roots];
    while (queue.length > 0) {
      const d = queue.pop()!;
      if (this.keptManifests.has(d)) continue;
      this.keptManifests.add(d);
      this.keptBlobs.add(d);
      const p = await this.read(d);
      if (p) {
        queue.push(...p.children);
        for (const b of p.blobs) this.keptBlobs.add(b);
      }
      queue.push(...(this.referrersOf.get(d) ?? []));
    }
  }

  /** List tags and manifests and mark from them. */
  private async markAll(): Promise<GcObject[]> {
    const [tags, manifests] = await Promise.all([this.store.listTags(this.repo), this.store.listManifests(this.repo)]);
    for (const m of manifests) {
      const p = await this.read(m.digest);
      if (p?.subject !== undefined) {
        const list = this.referrersOf.get(p.subject) ?? [];
        if (!list.includes(m.digest)) list.push(m.digest);
        this.referrersOf.set(p.subject, list);
        // A referrer that arrives after its subject was marked.
        if (this.keptManifests.has(p.subject)) await this.mark([m.digest]);
      }
    }
    const roots = tags.map((t) => t.digest);
    for (const m of manifests) if (!this.options.untagged || m.modified >= this.options.cutoff) roots.push(m.digest);
    await this.mark(roots);
    return manifests;
  }
}
