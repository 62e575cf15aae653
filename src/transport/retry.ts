import type { RetryPolicy } from './types.js';

/** Statuses worth another try: rate limits and gateway/availability failures. */
export const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** Network error codes after which the request can be repeated. */
const RETRY_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export function isRetryableNetworkError(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && RETRY_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Retry-After as delta-seconds or an HTTP date, in ms; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** Delay before retry number `attempt` (1-based): Retry-After if given (capped), else jittered exponential backoff. */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // Full jitter on the upper half spreads many clients hitting the same registry.
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/**
 * Wait before a retry; an abort (Ctrl-C) ends the wait at once with the signal's reason: a
 * registry's Retry-After may ask for up to 30 s.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const { setTimeout: wait } = await import('node:timers/promises');
  try {
    await wait(ms, undefined, signal ? { signal } : undefined);
  } catch (e) {
    throw signal?.aborted ? (signal.reason ?? e) : e;
  }
}
