import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Web UI sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie maps to a user.
 * Bounded in count (least recently used dropped first) and in age; kept in memory, so a restart
 * (or another instance) asks the browser to sign in again. The API never accepts the cookie:
 * authorize.ts consults sessions on UI paths only, so a cross-site request cannot reach /v2/.
 */

export const SESSION_COOKIE = 'regctl_session';
/** An anonymous browser's CSRF key (no session): a random value the form token is derived from. */
export const CSRF_COOKIE = 'regctl_csrf';

interface Session {
  user: string;
  expires: number;
}

export interface SessionStoreOptions {
  max?: number;
  ttlMs?: number;
  now?: () => number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly secret = randomBytes(32);
  readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.max = options.max ?? 10_000;
    this.ttlMs = options.ttlMs ?? 12 * 60 * 60 * 1000;
    this.now = options.now ?? Date.now;
  }

  create(user: string): string {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { user, expires: this.now() + this.ttlMs });
    while (this.sessions.size > this.max) this.sessions.delete(this.sessions.keys().next().value!);
    return id;
  }

  /** The signed-in user of a cookie header, if its session is live. */
  userFor(cookieHeader: string | undefined): string | undefined {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s.user;
  }

  end(cookieHeader: string | undefined): void {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (id !== undefined) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The form token for this browser: bound to its session, else to its CSRF cookie. */
  csrfToken(key: string): string {
    return createHmac('sha256', this.secret).update(key).digest('base64url');
  }

  checkCsrf(key: string, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.csrfToken(key));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** One cookie's value from a Cookie header (first occurrence); only URL-safe values are accepted. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{16,128}$/.test(v) ? v : undefined;
  }
  return undefined;
}
