/**
 * Failed-login limiting per client address: a token bucket per address. Each failed login
 * takes a token; tokens come back at `refillPerMinute`; with none left, logins from that
 * address are refused (429) until one is back. Memory is bounded: a bucket that has refilled
 * completely carries no information and is dropped, and beyond `maxEntries` the least recently
 * touched addresses are forgotten first.
 *
 * IPv6 clients are keyed by their /64, since one host usually owns a whole /64; IPv4-mapped
 * IPv6 addresses (`::ffff:1.2.3.4`) are keyed as the IPv4 address.
 */

export interface LoginLimiterOptions {
  /** Failures allowed in a burst before the address is blocked. Default 10. */
  burst?: number;
  /** Failures forgiven per minute once blocked. Default 10 (so a sustained 10 guesses/minute). */
  refillPerMinute?: number;
  /** Addresses remembered at most. Default 10000. */
  maxEntries?: number;
  now?: () => number;
}

export type LimitCheck = { limited: false } | { limited: true; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updated: number;
}

export class LoginRateLimiter {
  private readonly burst: number;
  private readonly perMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: LoginLimiterOptions = {}) {
    this.burst = options.burst ?? 10;
    this.perMs = (options.refillPerMinute ?? 10) / 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
    if (!(this.burst >= 1) || !(this.perMs > 0) || !(this.maxEntries >= 1)) throw new RangeError('invalid login rate limit settings');
  }

  /** Is this address blocked right now? Check before spending a bcrypt compare. */
  check(address: string | undefined): LimitCheck {
    const key = clientKey(address);
    const b = this.buckets.get(key);
    if (!b) return { limited: false };
    const tokens = this.refilled(b);
    if (tokens >= 1) return { limited: false };
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000)) };
  }

  /** Record a failed login. */
  fail(address: string | undefined): void {
    const key = clientKey(address);
    const now = this.now();
    const b = this.buckets.get(key);
    const tokens = (b ? this.refilled(b) : this.burst) - 1;
    // Re-insert so Map order is least-recently-touched first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: Math.max(tokens, -this.burst), updated: now });
    if (this.buckets.size > this.maxEntries) this.evict();
  }

  /** Addresses currently remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(b: Bucket): number {
    return Math.min(this.burst, b.tokens + (this.now() - b.updated) * this.perMs);
  }

  /** Drop full buckets, then the oldest, down to 90% of the bound so eviction is amortised. */
  private evict(): void {
    const target = Math.floor(this.maxEntries * 0.9);
    for (const [k, b] of this.buckets) {
      if (this.refilled(b) >= this.burst) this.buckets.delete(k);
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(k);
    }
  }
}

/** The key an address is limited under (IPv4 as is, IPv6 by /64). */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.trim().toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const groups = expandIPv6(a);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : a;
}

function expandIPv6(a: string): string[] | undefined {
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  // An embedded IPv4 tail counts as two groups; it never affects the first four.
  const tailLen = tail.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const missing = 8 - head.length - tailLen;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g) || g.includes('.'))) return undefined;
  return all.map((g) => (g.includes('.') ? g : g.replace(/^0+(?=.)/, '')));
}
