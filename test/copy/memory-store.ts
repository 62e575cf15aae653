import { Readable } from 'node:stream';
import type { ImageSource, ImageTarget, ManifestHead } from '../../src/content/types.js';
import { NotFoundError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Descriptor, ManifestData } from '../../src/oci/manifest.js';
import { isIndex, parseManifest } from '../../src/oci/manifest.js';

/**
 * A small in-memory repository implementing ImageSource and ImageTarget, as a backend would:
 * putBlob reads the whole stream and checks the digest before storing. It records every call
 * (for order assertions) and can be slowed down or made to misbehave.
 */
export interface StoreCall {
  op: string;
  ref: string;
}

export interface MemoryStoreOptions {
  description?: string;
  /** ms each putBlob waits before reading (to observe concurrency). */
  putDelay?: number;
  /** Serve this digest's blob with one byte flipped. */
  corrupt?: string;
  /** Support cross-repository mount: the store that holds `fromRepository`'s blobs. */
  mountFrom?: Map<string, MemoryStore>;
  /** Refuse every mount (caller must upload). */
  refuseMount?: boolean;
  /** Blob chunk size served by getBlob. */
  chunk?: number;
}

export class MemoryStore implements ImageSource, ImageTarget {
  readonly description: string;
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, ManifestData>();
  readonly tags = new Map<string, string>();
  readonly calls: StoreCall[] = [];
  committed = 0;
  aborted = 0;
  activePuts = 0;
  peakPuts = 0;
  /** Bytes putBlob received, even for blobs it then refused. */
  received = 0;
  private readonly opts: MemoryStoreOptions;

  constructor(opts: MemoryStoreOptions = {}) {
    this.opts = opts;
    this.description = opts.description ?? 'memory';
  }

  private log(op: string, ref: string): void {
    this.calls.push({ op, ref });
  }

  ops(...names: string[]): StoreCall[] {
    return this.calls.filter((c) => names.includes(c.op));
  }

  private resolve(ref: string): ManifestData | undefined {
    const digest = ref.includes(':') ? ref : this.tags.get(ref);
    return digest ? this.manifests.get(digest) : undefined;
  }

  async headManifest(ref: string): Promise<ManifestHead | undefined> {
    this.log('headManifest', ref);
    const m = this.resolve(ref);
    return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  async getManifest(ref: string): Promise<ManifestData> {
    this.log('getManifest', ref);
    const m = this.resolve(ref);
    if (!m) throw new NotFoundError(`manifest ${ref} not found in ${this.description}`, 'MANIFEST_UNKNOWN');
    return { bytes: Buffer.from(m.bytes), mediaType: m.mediaType, digest: m.digest };
  }

  async getBlob(desc: Descriptor): Promise<Readable> {
    this.log('getBlob', desc.digest);
    const b = this.blobs.get(desc.digest);
    if (!b) throw new NotFoundError(`blob ${desc.digest} not found in ${this.description}`, 'BLOB_UNKNOWN');
    let bytes = b;
    if (this.opts.corrupt === desc.digest) {
      bytes = Buffer.from(b);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const chunk = this.opts.chunk ?? 1024;
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
    return Readable.from(parts);
  }

  async listTags(): Promise<string[]> {
    this.log('listTags', '');
    return [...this.tags.keys()].sort();
  }

  async referrers(digest: string): Promise<Descriptor[]> {
    this.log('referrers', digest);
    const out: Descriptor[] = [];
    for (const m of this.manifests.values()) {
      const parsed = parseManifest(m.bytes, m.mediaType);
      if (parsed.subject?.digest === digest) out.push({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}) });
    }
    return out;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    this.log('hasBlob', desc.digest);
    return this.blobs.has(desc.digest);
  }

  async putBlob(desc: Descriptor, body: Readable): Promise<void> {
    this.log('putBlob', desc.digest);
    this.activePuts++;
    this.peakPuts = Math.max(this.peakPuts, this.activePuts);
    try {
      if (this.opts.putDelay) await new Promise((r) => setTimeout(r, this.opts.putDelay));
      const parts: Buffer[] = [];
      for await (const c of body) {
        parts.push(c as Buffer);
        this.received += (c as Buffer).length;
      }
      const bytes = Buffer.concat(parts);
      if (digestOf(bytes) !== desc.digest || bytes.length !== desc.size) throw new Error(`memory store: bad blob ${desc.digest}`);
      this.blobs.set(desc.digest, bytes);
    } finally {
      this.activePuts--;
    }
  }

  async mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    this.log('mountBlob', desc.digest);
    if (this.opts.refuseMount) return false;
    const from = this.opts.mountFrom?.get(fromRepository);
    const b = from?.blobs.get(desc.digest);
    if (!b) return false;
    this.blobs.set(desc.digest, b);
    return true;
  }

  async putManifest(ref: string, data: ManifestData): Promise<void> {
    this.log('putManifest', ref);
    const parsed = parseManifest(data.bytes, data.mediaType);
    // Like a registry: everything a manifest references must be present first.
    const needs = isIndex(parsed)
      ? parsed.manifests.map((d) => ['m', d.digest] as const)
      : [['b', parsed.config.digest] as const, ...parsed.layers.map((l) => ['b', l.digest] as const)];
    for (const [kind, d] of needs) {
      if (kind === 'm' && !this.manifests.has(d)) throw new Error(`memory store: ${ref} references missing manifest ${d}`);
      if (kind === 'b' && !this.blobs.has(d)) throw new Error(`memory store: ${ref} references missing blob ${d}`);
    }
    const digest = digestOf(data.bytes);
    this.manifests.set(digest, { bytes: Buffer.from(data.bytes), mediaType: data.mediaType, digest });
    if (!ref.includes(':')) this.tags.set(ref, digest);
  }

  async commit(): Promise<void> {
    this.committed++;
  }

  async abort(): Promise<void> {
    this.aborted++;
  }
}

/** Put test images into a store directly (bypassing call logging). */
export function seed(store: MemoryStore, manifests: ManifestData[], blobs: { desc: Descriptor; bytes: Buffer }[], tags: Record<string, string> = {}): void {
  for (const b of blobs) store.blobs.set(b.desc.digest, b.bytes);
  for (const m of manifests) store.manifests.set(m.digest, m);
  for (const [t, d] of Object.entries(tags)) store.tags.set(t, d);
}
