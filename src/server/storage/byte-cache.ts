/**
 * Least-recently-used bytes by key, bounded by total size. For content-addressed data only
 * (manifests by digest): an entry can never go stale, only become unreachable, which the caller
 * decides before asking.
 */
export class ByteCache {
  private readonly entries = new Map<string, Buffer>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert: Map order is the recency order.
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, bytes: Buffer): void {
    if (bytes.length > this.maxBytes / 4) return;
    const old = this.entries.get(key);
    if (old) {
      this.total -= old.length;
      this.entries.delete(key);
    }
    this.entries.set(key, bytes);
    this.total += bytes.length;
    for (const [k, v] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= v.length;
    }
  }
}
