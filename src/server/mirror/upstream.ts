import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { UpstreamError, UsageError } from '../../errors.js';
import type { MirrorUpstream } from './namespaces.js';

/**
 * A small registry client for pull-through, on the global fetch (the server does not use the
 * CLI's transport): GET/HEAD with the registry auth dance (Basic, or Bearer tokens from the
 * realm in WWW-Authenticate, as Docker Hub does), redirects followed by hand so credentials
 * never go to another host, and timeouts. Credentials never appear in errors or logs.
 */

export interface UpstreamCredentials {
  username?: string;
  password?: string;
  /** An identity/refresh token (docker config `identitytoken`). */
  token?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** The body as a Node stream (undefined for HEAD); must be consumed or destroyed. */
  body: Readable | undefined;
  /** Abort the request (and its body). */
  abort(): void;
}

export interface UpstreamClientOptions {
  credentials?: UpstreamCredentials;
  /** Time to response headers (default 30 s). */
  headersTimeoutMs?: number;
  /** The body may be silent this long (default 60 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
}

const MAX_REDIRECTS = 5;

export class UpstreamClient {
  private readonly tokens = new Map<string, { value: string; expires: number }>();
  /** What the upstream asked for last time: skip the 401 round trip after the first. */
  private challenge: Challenge | undefined;

  constructor(
    readonly upstream: MirrorUpstream,
    private readonly options: UpstreamClientOptions = {},
  ) {}

  /** GET or HEAD `path` (under /v2/), for repository `remoteName` (the token scope). */
  async request(method: 'GET' | 'HEAD', path: string, remoteName: string, accept?: string): Promise<UpstreamResponse> {
    const scope = `repository:${remoteName}:pull`;
    let auth = await this.authorization(scope, false);
    let res = await this.send(method, `${this.upstream.url}${path}`, auth, accept);
    if (res.status === 401) {
      const header = res.headers.get('www-authenticate');
      res.abort();
      const challenge = header ? parseChallenge(header) : undefined;
      if (!challenge) throw this.error('auth', `upstream ${this.upstream.prefix} refused access (401) without a usable challenge`, 401);
      this.challenge = challenge;
      auth = await this.authorization(scope, true);
      res = await this.send(method, `${this.upstream.url}${path}`, auth, accept);
      if (res.status === 401) {
        res.abort();
        throw this.error('auth', `upstream ${this.upstream.prefix} refused the credentials for ${remoteName} (401)`, 401);
      }
    }
    return res;
  }

  error(kind: UpstreamError['kind'], message: string, status?: number, cause?: unknown): UpstreamError {
    return new UpstreamError(kind, message, { upstream: this.upstream.prefix, ...(status !== undefined ? { status } : {}), ...(cause !== undefined ? { cause } : {}) });
  }

  private async authorization(scope: string, fresh: boolean): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const creds = this.options.credentials;
    if (c.scheme === 'basic') {
      return creds?.username !== undefined ? `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}` : undefined;
    }
    const key = scope;
    const cached = this.tokens.get(key);
    if (!fresh && cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
    const token = await this.fetchToken(c, scope);
    this.tokens.set(key, token);
    if (this.tokens.size > 1000) this.tokens.delete(this.tokens.keys().next().value!);
    return `Bearer ${token.value}`;
  }

  private async fetchToken(c: Challenge, scope: string): Promise<{ value: string; expires: number }> {
    let realm: URL;
    try {
      realm = new URL(c.params.realm ?? '');
    } catch {
      throw this.error('auth', `upstream ${this.upstream.prefix} sent a Bearer challenge without a valid realm`, 401);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw this.error('auth', `upstream ${this.upstream.prefix}: token realm must be http(s)`, 401);
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    realm.searchParams.set('scope', scope);
    const creds = this.options.credentials;
    const headers: Record<string, string> = { 'User-Agent': this.options.userAgent ?? 'regctl-mirror' };
    if (creds?.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    let res: Response;
    try {
      res = await fetch(realm, { headers, signal: AbortSignal.timeout(this.options.headersTimeoutMs ?? 30_000), redirect: 'follow' });
    } catch (e) {
      throw this.error('unavailable', `upstream ${this.upstream.prefix}: token service unreachable (${describe(e)})`, undefined, e);
    }
    if (res.status === 429) throw this.error('ratelimit', `upstream ${this.upstream.prefix}: token service rate-limited (429)`, 429);
    if (res.status >= 500) throw this.error('unavailable', `upstream ${this.upstream.prefix}: token service answered ${res.status}`, res.status);
    if (res.status !== 200) throw this.error('auth', `upstream ${this.upstream.prefix}: token service refused (${res.status})`, res.status);
    const text = await res.text();
    if (text.length > 1024 * 1024) throw this.error('auth', `upstream ${this.upstream.prefix}: token response too large`, 502);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw this.error('auth', `upstream ${this.upstream.prefix}: token response is not JSON`, 502);
    }
    const value = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!value || /[\r\n]/.test(value)) throw this.error('auth', `upstream ${this.upstream.prefix}: token response has no token`, 502);
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    // Renew a little early: a token that expires mid-pull costs a 401 and a retry.
    return { value, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 };
  }

  private async send(method: 'GET' | 'HEAD', url: string, auth: string | undefined, accept?: string): Promise<UpstreamResponse> {
    const origin = new URL(url).origin;
    let target = url;
    for (let hop = 0; ; hop++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('timed out waiting for response headers')), this.options.headersTimeoutMs ?? 30_000);
      const headers: Record<string, string> = { 'User-Agent': this.options.userAgent ?? 'regctl-mirror' };
      if (accept) headers.Accept = accept;
      // Credentials go to the upstream itself only, never to the host a redirect names (CDN).
      if (auth && new URL(target).origin === origin) headers.Authorization = auth;
      let res: Response;
      try {
        res = await fetch(target, { method, headers, redirect: 'manual', signal: controller.signal });
      } catch (e) {
        throw this.error('unavailable', `upstream ${this.upstream.prefix} unreachable: ${describe(e)}`, undefined, e);
      } finally {
        clearTimeout(timer);
      }
      const abort = () => controller.abort();
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw this.error('unavailable', `upstream ${this.upstream.prefix}: too many redirects`, 502);
        target = new URL(res.headers.get('location')!, target).toString();
        continue;
      }
      if (res.status === 429) {
        await res.body?.cancel().catch(() => undefined);
        throw this.error('ratelimit', `upstream ${this.upstream.prefix} is rate-limiting pulls (429)`, 429);
      }
      if (res.status >= 500) {
        await res.body?.cancel().catch(() => undefined);
        throw this.error('unavailable', `upstream ${this.upstream.prefix} answered ${res.status}`, res.status);
      }
      const body = method === 'HEAD' || !res.body ? undefined : idleGuard(Readable.fromWeb(res.body as never), this.options.idleTimeoutMs ?? 60_000, abort);
      if (method === 'HEAD') await res.body?.cancel().catch(() => undefined);
      return { status: res.status, headers: res.headers, body, abort: () => { abort(); body?.destroy(); } };
    }
  }
}

/** Destroy a body that stays silent for `ms` (a stalled upstream must not hold waiters forever). */
function idleGuard(body: Readable, ms: number, abort: () => void): Readable {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      abort();
      body.destroy(new Error(`upstream body silent for ${ms} ms`));
    }, ms);
    timer.unref();
  };
  arm();
  body.on('data', arm);
  body.once('close', () => clearTimeout(timer));
  return body;
}

function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : 'network error');
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` -> parts. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1]!.toLowerCase() as Challenge['scheme'], params };
}

/**
 * Credentials per upstream from a docker config.json (`auths` keyed by host or URL; `auth` is
 * base64 user:password). Keys tried: the prefix, the URL's host, and Docker Hub's legacy key.
 */
export async function loadMirrorAuth(path: string, upstreams: MirrorUpstream[]): Promise<Map<string, UpstreamCredentials>> {
  let data: { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }> };
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as typeof data;
  } catch (e) {
    throw new UsageError(`--mirror-auth ${path}: cannot read a docker config.json (${(e as NodeJS.ErrnoException).code ?? 'invalid JSON'})`);
  }
  const auths = data.auths ?? {};
  const norm = (k: string) => k.replace(/^https?:\/\//, '').replace(/\/.*$/, '').toLowerCase();
  const byHost = new Map(Object.entries(auths).map(([k, v]) => [norm(k), v] as const));
  const out = new Map<string, UpstreamCredentials>();
  for (const u of upstreams) {
    const host = new URL(u.url).host.toLowerCase();
    const e = byHost.get(u.prefix) ?? byHost.get(host) ?? (u.prefix === 'docker.io' ? byHost.get('index.docker.io') : undefined);
    if (!e) continue;
    if (typeof e.auth === 'string' && e.auth !== '') {
      const plain = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon < 0) throw new UsageError(`--mirror-auth ${path}: the entry for ${u.prefix} has a malformed "auth"`);
      out.set(u.prefix, { username: plain.slice(0, colon), password: plain.slice(colon + 1) });
    } else if (typeof e.username === 'string') {
      out.set(u.prefix, { username: e.username, password: typeof e.password === 'string' ? e.password : '' });
    }
  }
  return out;
}
