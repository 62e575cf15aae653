import { RegctlError } from '../errors.js';

/**
 * Docker Hub's pull limits, as its responses report them:
 *   RateLimit-Limit: 100;w=21600
 *   RateLimit-Remaining: 98;w=21600
 *   Docker-RateLimit-Source: 203.0.113.7
 * (w = the window in seconds). Other registries send nothing, and nothing is limited.
 */
export interface RateLimit {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  /** Who is counted: an IP address or an account id. */
  source?: string;
}

/** What a response gave us, through the transport's onResponse hook. */
export interface ResponseInfo {
  registry: string;
  status: number;
  header(name: string): string | undefined;
}

/** `98;w=21600` -> { value: 98, window: 21600 }; undefined when unreadable. */
export function parseRateLimitHeader(value: string | undefined): { value: number; window?: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(value);
  if (!m) return undefined;
  return m[2] === undefined ? { value: Number(m[1]) } : { value: Number(m[1]), window: Number(m[2]) };
}

/** The rate limit a response reports; undefined when it reports none. */
export function rateLimitOf(res: Pick<ResponseInfo, 'header'>): RateLimit | undefined {
  const limit = parseRateLimitHeader(res.header('ratelimit-limit'));
  const remaining = parseRateLimitHeader(res.header('ratelimit-remaining'));
  if (!limit && !remaining) return undefined;
  const source = res.header('docker-ratelimit-source');
  const windowSeconds = remaining?.window ?? limit?.window;
  return {
    ...(limit ? { limit: limit.value } : {}),
    ...(remaining ? { remaining: remaining.value } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
    ...(source ? { source } : {}),
  };
}

export class RateLimitError extends RegctlError {
  constructor(message: string) {
    super('RATE_LIMITED', message);
  }
}

export interface RateLimitPolicy {
  /** Do not start more work on a registry reporting fewer pulls left than this. */
  minRemaining: number;
  onLow: 'stop' | 'wait';
  /** How long one pause lasts with onLow 'wait'. */
  waitMs: number;
}

/**
 * The pulls left per registry, as last reported. Work asks `before(registry)` before it starts
 * on an image: below the threshold it fails (stop) or pauses once for `waitMs`, then goes on
 * (the next response says whether the window has moved on). 429 + Retry-After is the
 * transport's business: it waits (capped) and retries.
 */
export class RateLimits {
  private readonly seen = new Map<string, RateLimit>();
  private readonly pauses = new Map<string, Promise<void>>();
  /** Pauses taken, for the report. */
  paused = 0;

  constructor(
    private readonly policy: RateLimitPolicy,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep,
  ) {}

  /** Give it every response (the transport's onResponse). */
  readonly observe = (res: ResponseInfo): void => {
    const limit = rateLimitOf(res);
    if (limit) this.seen.set(res.registry, limit);
  };

  current(registry: string): RateLimit | undefined {
    return this.seen.get(registry);
  }

  async before(registry: string, signal?: AbortSignal): Promise<void> {
    const pending = this.pauses.get(registry);
    if (pending) return pending;
    const left = this.seen.get(registry)?.remaining;
    if (left === undefined || left >= this.policy.minRemaining) return;
    if (this.policy.onLow === 'stop') {
      throw new RateLimitError(`${registry} reports ${left} pulls left (below rate-limit.min-remaining ${this.policy.minRemaining}): not started`);
    }
    const pause = (async () => {
      this.paused++;
      await this.sleep(this.policy.waitMs, signal);
      this.seen.delete(registry);
    })().finally(() => this.pauses.delete(registry));
    this.pauses.set(registry, pause);
    return pause;
  }
}

async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  const { setTimeout: wait } = await import('node:timers/promises');
  await wait(ms, undefined, signal ? { signal } : undefined);
}

export interface RateLimitCheck {
  registry: string;
  reference: string;
  /** What the registry reported; undefined when it reports no limit. */
  rateLimit?: RateLimit;
  /** The manifest was found (a HEAD, which Docker Hub does not count as a pull). */
  found: boolean;
}

/**
 * `regctl ratelimit IMAGE`: one HEAD of the manifest (not counted as a pull), and the limit the
 * registry's response reports.
 */
export async function checkRateLimit(o: {
  registry: string;
  reference: string;
  ref: string;
  open: (onResponse: (res: ResponseInfo) => void) => { headManifest(ref: string): Promise<unknown> };
}): Promise<RateLimitCheck> {
  let seen: RateLimit | undefined;
  const repo = o.open((res) => {
    if (res.registry !== o.registry) return;
    seen = rateLimitOf(res) ?? seen;
  });
  const found = (await repo.headManifest(o.ref)) !== undefined;
  return { registry: o.registry, reference: o.reference, found, ...(seen ? { rateLimit: seen } : {}) };
}
