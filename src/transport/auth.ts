import { AuthError } from '../errors.js';
import { parseWwwAuthenticate, type Challenge } from './challenge.js';
import { mergeScopes } from './scope.js';
import type { Credential, CredentialProvider } from './types.js';

/** What the authenticator needs from the HTTP layer to talk to a token realm. */
export type TokenFetch = (request: {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}) => Promise<{ status: number; json: unknown }>;

interface CachedToken {
  token: string;
  expiresAt: number;
}

interface KnownChallenge {
  scheme: 'bearer' | 'basic';
  realm?: string;
  service?: string;
}

/** Registries often omit expires_in; the spec's default lifetime is 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew a little early so a token does not expire between check and use. */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * Per-registry authentication state: which scheme the registry asked for (learnt from the first
 * 401, then sent up front), and bearer tokens cached per (registry, service, scopes).
 */
export class Authenticator {
  private readonly challenges = new Map<string, KnownChallenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly credentialCache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly credentials: CredentialProvider | undefined,
    private readonly fetchToken: TokenFetch,
  ) {}

  /** Number of tokens fetched so far (tests check reuse). */
  tokenFetches = 0;

  /** The scheme a registry asked for, once a 401 told us; undefined while it never asked. */
  scheme(registry: string): 'basic' | 'bearer' | undefined {
    return this.challenges.get(registry)?.scheme;
  }

  private creds(registry: string): Promise<Credential | undefined> {
    let p = this.credentialCache.get(registry);
    if (!p) {
      p = this.credentials ? this.credentials(registry) : Promise.resolve(undefined);
      this.credentialCache.set(registry, p);
    }
    return p;
  }

  /** Are there credentials for this registry (so it is worth learning its scheme up front)? */
  async hasCredentials(registry: string): Promise<boolean> {
    const c = await this.creds(registry);
    return Boolean((c?.username && c.password !== undefined) || c?.identityToken || c?.registryToken);
  }

  /**
   * Remember the scheme a 401 asked for without answering it yet (the probe of /v2/ that a
   * logged-in client makes first, as docker does); later requests send credentials up front.
   */
  learn(registry: string, wwwAuthenticate: string | string[] | undefined): void {
    const all = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = all.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) this.challenges.set(registry, { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service });
    else if (all.some((c) => c.scheme === 'basic')) this.challenges.set(registry, { scheme: 'basic' });
  }

  /** The Authorization header to send up front, when the registry's scheme is already known. */
  async authorization(registry: string, scopes: string[] | undefined): Promise<string | undefined> {
    const ch = this.challenges.get(registry);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return basicHeader(await this.creds(registry));
    return `Bearer ${(await this.token(registry, ch, mergeScopes(scopes), false)).token}`;
  }

  /**
   * After a 401: learn the challenge and return the header to retry with. Throws AuthError when
   * there is nothing better to send (no credentials for Basic, unknown scheme).
   */
  async onUnauthorized(registry: string, scopes: string[] | undefined, wwwAuthenticate: string | string[] | undefined): Promise<string> {
    const all = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = all.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = all.find((c) => c.scheme === 'basic');
    if (bearer) {
      const known: KnownChallenge = { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
      this.challenges.set(registry, known);
      const wanted = mergeScopes(scopes, challengeScopes(bearer));
      return `Bearer ${(await this.token(registry, known, wanted, true)).token}`;
    }
    if (basic) {
      this.challenges.set(registry, { scheme: 'basic' });
      const header = basicHeader(await this.creds(registry));
      if (!header) throw new AuthError(`${registry}: authentication required; run: regctl login ${registry}`);
      return header;
    }
    throw new AuthError(`${registry}: authentication required (unsupported or missing WWW-Authenticate challenge)`);
  }

  private async token(registry: string, ch: KnownChallenge, scopes: string[], force: boolean): Promise<CachedToken> {
    const key = `${registry}\n${ch.service ?? ''}\n${scopes.join(' ')}`;
    const cached = this.tokens.get(key);
    if (!force && cached && cached.expiresAt > Date.now()) return cached;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const p = this.requestToken(registry, ch, scopes).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    const t = await p;
    this.tokens.set(key, t);
    return t;
  }

  private async requestToken(registry: string, ch: KnownChallenge, scopes: string[]): Promise<CachedToken> {
    const cred = await this.creds(registry);
    if (cred?.registryToken) return { token: cred.registryToken, expiresAt: Number.MAX_SAFE_INTEGER };
    const realm = new URL(ch.realm!);
    this.tokenFetches++;
    let res: { status: number; json: unknown };
    if (cred?.identityToken) {
      // OAuth2 refresh-token grant, as Docker does with an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'regctl' });
      if (ch.service) form.set('service', ch.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.fetchToken({
        method: 'POST',
        url: realm.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } else {
      if (ch.service) realm.searchParams.set('service', ch.service);
      for (const s of scopes) realm.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      const basic = basicHeader(cred);
      if (basic) headers.authorization = basic;
      res = await this.fetchToken({ method: 'GET', url: realm.toString(), headers });
    }
    if (res.status === 401 || res.status === 403) {
      throw new AuthError(
        cred?.username || cred?.identityToken
          ? `${registry}: authentication failed: the registry rejected the credentials`
          : `${registry}: anonymous access denied; run: regctl login ${registry}`,
      );
    }
    if (res.status !== 200) throw new AuthError(`${registry}: token server answered HTTP ${res.status}`, 'TOKEN_FAILED');
    const body = (res.json ?? {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new AuthError(`${registry}: token server returned no token`, 'TOKEN_FAILED');
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    return { token, expiresAt: Date.now() + seconds * 1000 - EXPIRY_MARGIN_MS };
  }
}

function challengeScopes(ch: Challenge): string[] {
  return ch.params.scope ? ch.params.scope.split(' ') : [];
}

function basicHeader(cred: Credential | undefined): string | undefined {
  if (!cred?.username || cred.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
}
