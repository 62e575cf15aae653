import { isValidDigest } from '../../oci/digest.js';
import { isValidRepository } from '../../ref/reference.js';
import { authenticatedOnly, openAccess, type AccessControl, type Action } from './access.js';
import { basicChallenge, hasBasicScheme, parseBasicAuth } from './basic-auth.js';
import { BcryptBusyError } from './bcrypt-pool.js';
import { clientKey, type LoginRateLimiter } from './rate-limit.js';
import { parseRegistryRoute, type RegistryRoute } from './routes.js';

/**
 * One decision per request, made before routing: who is calling (Basic credentials checked
 * against the htpasswd file, failed logins rate-limited per address) and whether the route's
 * action is allowed for them on that repository.
 */

export interface CredentialVerifier {
  /** `client` (the caller's address key) lets the verifier bound each client's share of the work. */
  verify(username: string, password: string, client?: string): Promise<boolean>;
}

export interface AuthorizerOptions {
  /** Users; without it there is no authentication and `access` defaults to everyone-may-do-all. */
  users?: CredentialVerifier;
  /** Per-repository rules; defaults to "any authenticated user may do anything" when users are set. */
  access?: AccessControl;
  limiter?: LoginRateLimiter;
  /** Realm in the WWW-Authenticate challenge. Default "regctl". */
  realm?: string;
  /**
   * Web UI sessions: on paths outside the registry API (kind 'other', i.e. the UI) a request
   * without Basic credentials is the user of its session cookie. Never on /v2/ or /v1/, so a
   * cross-site form can never act on the API with a browser's cookie.
   */
  sessions?: { userFor(cookieHeader: string | undefined): string | undefined };
}

export interface AuthRequest {
  method: string;
  /** The raw request target, `req.url` (path and query, not decoded). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress?: string;
}

export interface Allowed {
  ok: true;
  /** The authenticated user; undefined for anonymous (or when there are no users). */
  user?: string;
  route: RegistryRoute;
  /** The action checked on route.repository, if any (for access logs). */
  action?: Action;
  /**
   * Present on POST .../blobs/uploads/?mount=DIGEST only when the server may try the mount.
   * `from` set: mount from that repository (read on it was checked). `from` absent: mount from
   * any repository r with canRead(r) (when `unrestricted`, from anywhere). When a mount was asked
   * for but is absent here, the caller lacks read on the source: start a normal upload (202),
   * exactly as if the blob did not exist, so nothing leaks.
   */
  mount?: { digest: string; from?: string };
  /** True when the caller may read every repository (no per-repository check needed). */
  unrestricted: boolean;
  canRead(repository: string): boolean;
  /** Whether the caller may do `action` on `repository` (the web UI asks before it offers a button). */
  can(action: Action, repository: string): boolean;
  /** For /v2/_catalog: keep only the repositories the caller may read. */
  filterCatalog(repositories: readonly string[]): string[];
}

export interface Refused {
  ok: false;
  status: 401 | 403 | 429 | 503;
  code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE';
  message: string;
  /** WWW-Authenticate on 401, Retry-After on 429 and 503. */
  headers: Record<string, string>;
}

export type AuthDecision = Allowed | Refused;
export type Authorize = (req: AuthRequest) => Promise<AuthDecision>;

/** The action a method needs on a route's repository; 'login' = any authenticated caller. */
export function requiredAction(method: string, route: RegistryRoute): Action | 'login' | 'catalog' | 'none' {
  const m = method.toUpperCase();
  const reading = m === 'GET' || m === 'HEAD';
  switch (route.kind) {
    case 'other':
    // Search answers everyone; the handler keeps only what the caller may read (podman and
    // docker never send credentials to /v1/search, so anonymous rules apply to them).
    case 'search':
      return 'none';
    case 'base':
    case 'unknown':
      return 'login';
    case 'catalog':
      return 'catalog';
    case 'tags':
    case 'referrers':
      return 'read';
    case 'manifest':
    case 'blob':
      return reading ? 'read' : m === 'DELETE' ? 'delete' : 'write';
    case 'uploads':
    case 'upload':
      // Reading an upload's status and cancelling it are part of pushing.
      return 'write';
  }
}

export function createAuthorizer(options: AuthorizerOptions = {}): Authorize {
  const users = options.users;
  const access = options.access ?? (users ? authenticatedOnly : openAccess);
  const realm = options.realm ?? 'regctl';
  const challenge = { 'WWW-Authenticate': basicChallenge(realm) };

  const unauthorized = (message: string): Refused => ({ ok: false, status: 401, code: 'UNAUTHORIZED', message, headers: { ...challenge } });

  return async (req) => {
    await access.refresh?.();
    const route = parseRegistryRoute(req.path);
    const need = requiredAction(req.method, route);
    const header = req.headers.authorization;

    let user: string | undefined;
    if (users && hasBasicScheme(header)) {
      const limited = options.limiter?.check(req.remoteAddress);
      if (limited?.limited) {
        return {
          ok: false,
          status: 429,
          code: 'TOOMANYREQUESTS',
          message: 'too many failed logins from this address; try again later',
          headers: { 'Retry-After': String(limited.retryAfterSeconds) },
        };
      }
      const creds = parseBasicAuth(header);
      let ok = false;
      try {
        ok = creds !== undefined && (await users.verify(creds.username, creds.password, clientKey(req.remoteAddress)));
      } catch (e) {
        // Password checks are queued off the main thread; a full queue is answered at once.
        if (!(e instanceof BcryptBusyError)) throw e;
        return { ok: false, status: 503, code: 'UNAVAILABLE', message: e.message, headers: { 'Retry-After': '1' } };
      }
      if (!creds || !ok) {
        options.limiter?.fail(req.remoteAddress);
        return unauthorized(creds ? 'invalid username or password' : 'malformed Basic credentials');
      }
      user = creds.username;
    } else if (users && options.sessions && route.kind === 'other') {
      const cookie = req.headers.cookie;
      user = options.sessions.userFor(Array.isArray(cookie) ? cookie.join('; ') : cookie);
    }

    const allowed = (extra: Partial<Allowed> = {}): Allowed => ({
      ok: true,
      ...(user !== undefined ? { user } : {}),
      route,
      unrestricted: access.unrestricted && (user !== undefined || !users),
      canRead: (r) => access.can(user, 'read', r),
      can: (a, r) => access.can(user, a, r),
      filterCatalog: (repos) => access.filterCatalog(user, repos),
      ...extra,
    });
    // Anonymous callers are asked to log in; a logged-in caller without the right is denied.
    const refuse = (what: string): Refused =>
      user === undefined && users
        ? unauthorized(`authentication required to ${what}`)
        : { ok: false, status: 403, code: 'DENIED', message: `access to ${what} denied`, headers: {} };

    if (need === 'none') return allowed();
    if (need === 'login') return user !== undefined || !users ? allowed() : unauthorized('authentication required');
    if (need === 'catalog') {
      return user !== undefined || !users || access.anonymousReads ? allowed() : unauthorized('authentication required');
    }

    const repo = route.repository!;
    // Without an access file, whoever may use the registry may use every valid name: an
    // invalid one is not a permission matter but bad input, refused by the router with 400
    // NAME_INVALID before any storage is touched.
    if (route.nameValid === false && !options.access && (user !== undefined || !users)) return allowed({ action: need });
    if (!access.can(user, need, repo)) return refuse(`${need} repository "${clip(repo)}"`);
    const extra: Partial<Allowed> = { action: need };

    if (route.kind === 'uploads' && req.method.toUpperCase() === 'POST' && route.query.mount !== undefined) {
      const digest = route.query.mount;
      const from = route.query.from;
      if (isValidDigest(digest)) {
        if (from === undefined) extra.mount = { digest };
        else if (isValidRepository(from) && access.can(user, 'read', from)) extra.mount = { digest, from };
      }
    }
    return allowed(extra);
  };
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
