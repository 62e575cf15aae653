import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { AuthError, HttpError, NetworkError, type OciErrorEntry } from '../errors.js';
import { apiHost, isLoopbackRegistry } from '../ref/reference.js';
import { explicitScheme } from '../ref/scheme.js';
import { applyAgent } from './agent.js';
import { Authenticator } from './auth.js';
import { redactUrl } from './redact.js';
import { isRetryableNetworkError, parseRetryAfter, RETRY_STATUSES, retryDelay, sleep } from './retry.js';
import { tlsDispatcher } from './tls.js';
import { DEFAULT_RETRY, type CredentialProvider, type HostSettings, type RetryPolicy, type SettingsProvider } from './types.js';

// Only the parts of undici a request needs: the package index also loads fetch, websockets,
// caches and mocks, ~60 ms more at start-up of every command. Same undici, same global dispatcher.
import apiRequestModule from 'undici/lib/api/api-request.js';
import undiciGlobal from 'undici/lib/global.js';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';

const apiRequest = apiRequestModule as (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export interface TransportOptions {
  /** Where requests go; default: undici's global dispatcher, looked up per request. */
  dispatcher?: Dispatcher;
  /** Request log (for --verbose). Lines never contain credentials. */
  log?: (line: string) => void;
  settings?: SettingsProvider;
  credentials?: CredentialProvider;
  retry?: Partial<RetryPolicy>;
  userAgent?: string;
  /** Extra socket options for per-host TLS pools (tests use `lookup`). */
  connect?: Record<string, unknown>;
  /** Sees every response's status and headers before the caller does (sync reads rate limits). */
  onResponse?: (res: ResponseObserved) => void;
}

/** What onResponse is shown of a response (never its body). */
export interface ResponseObserved {
  registry: string;
  method: string;
  status: number;
  header(name: string): string | undefined;
}

/** A request body: bytes (replayable), a factory (replayable), or a one-shot stream. */
export type Body = Buffer | string | (() => Readable) | Readable;

export interface HttpRequest {
  method: string;
  /** The registry the request belongs to (decides scheme, TLS, credentials). */
  registry: string;
  /** `/v2/...` path plus query, or an absolute URL the registry handed out (Location, Link). */
  path: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Token scopes this request needs, e.g. `repository:app:pull`. */
  scopes?: string[];
  /** Follow redirects (blob GETs): Authorization is dropped off-origin, https -> http refused. */
  redirect?: boolean;
  /** Statuses handed back to the caller; anything else becomes an HttpError. Default: 2xx. */
  ok?: number[];
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** Final URL (after redirects). */
  url: string;
  header(name: string): string | undefined;
}

const MAX_REDIRECTS = 5;
/** A path regctl built itself: nothing in it that URL parsing would change. */
const PLAIN_PATH = /^\/v2\/[A-Za-z0-9._/:@-]*(\?[A-Za-z0-9._:@&=%-]*)?$/;

/** Origin and path+query of an absolute http(s) URL, without a full URL parse when it is plain. */
function splitUrl(url: string): { origin: string; path: string } {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  if (slash > 0 && PLAIN_PATH.test(url.slice(slash)) && /^https?:\/\/[a-z0-9.\-:[\]]+$/.test(url.slice(0, slash))) {
    return { origin: url.slice(0, slash), path: url.slice(slash) };
  }
  const u = new URL(url);
  return { origin: u.origin, path: `${u.pathname}${u.search}` };
}
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Registry HTTP: scheme choice, auth (anonymous, Basic, Bearer tokens), retries with backoff,
 * redirects, and a request log without secrets. Holds no connection pool of its own.
 */
export class Transport {
  readonly auth: Authenticator;
  private readonly retry: RetryPolicy;
  private readonly tlsPools = new Map<string, Dispatcher>();
  private readonly origins = new Map<string, string>();
  private readonly probes = new Map<string, Promise<void>>();

  constructor(private readonly options: TransportOptions = {}) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.auth = new Authenticator(options.credentials, (r) => this.tokenRequest(r));
  }

  settings(registry: string): HostSettings {
    return this.options.settings?.(registry) ?? {};
  }

  /**
   * The scheme the user wrote (`http://`, `https://`) wins; then `insecure` means plain HTTP; a
   * loopback host is plain HTTP unless it has TLS settings (a CA file or skip-verify); every
   * other host is HTTPS.
   */
  baseUrl(registry: string): string {
    return `${this.scheme(registry)}://${apiHost(registry)}`;
  }

  private scheme(registry: string): 'http' | 'https' {
    const named = explicitScheme(registry);
    if (named) return named;
    const s = this.settings(registry);
    if (s.insecure) return 'http';
    if (isLoopbackRegistry(registry)) return s.caFile || s.skipVerify ? 'https' : 'http';
    return 'https';
  }

  url(registry: string, path: string): string {
    if (/^https?:\/\//i.test(path)) return path;
    // The paths regctl builds need no URL parsing (4 parses a request were ~6% of the CPU of
    // an all-tags check, 2,400 HEADs); anything else (Link, Location values) gets it.
    if (PLAIN_PATH.test(path)) return this.origin(registry) + path;
    return new URL(path, this.origin(registry)).toString();
  }

  /** scheme://host[:port] of a registry's API; settings do not change within a process. */
  private origin(registry: string): string {
    let o = this.origins.get(registry);
    if (o === undefined) {
      o = new URL(this.baseUrl(registry)).origin;
      this.origins.set(registry, o);
    }
    return o;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const origin = this.origin(req.registry);
    let url = this.url(req.registry, req.path);
    let method = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.startsWith(`${origin}/`) || new URL(url).origin === origin;
      const res = await this.attempt(req, method, url, body, sameOrigin);
      const location = res.header('location');
      if (req.redirect && location && [301, 302, 303, 307, 308].includes(res.status)) {
        await drain(res);
        if (hop >= MAX_REDIRECTS) throw new NetworkError(`${method} ${redactUrl(req.path)}: more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, url);
        if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
          throw new NetworkError(`refusing redirect from HTTPS to ${next.protocol.replace(':', '').toUpperCase()}: ${redactUrl(next)}`);
        }
        if (res.status === 303) {
          method = 'GET';
          body = undefined;
        }
        url = next.toString();
        continue;
      }
      const ok = req.ok ?? [];
      if (ok.includes(res.status) || (req.ok === undefined && res.status >= 200 && res.status < 300)) return res;
      throw await errorFrom(method, url, res);
    }
  }

  private dispatcherFor(registry: string, sameOrigin: boolean): Dispatcher {
    if (sameOrigin) {
      const s = this.settings(registry);
      if (s.caFile || s.skipVerify) {
        let d = this.tlsPools.get(registry);
        if (!d) {
          d = tlsDispatcher(registry, s, this.options.connect);
          this.tlsPools.set(registry, d);
        }
        return d;
      }
    }
    if (this.options.dispatcher) return this.options.dispatcher;
    applyAgent({ Agent: UndiciAgent, setGlobalDispatcher: undiciGlobal.setGlobalDispatcher });
    return undiciGlobal.getGlobalDispatcher();
  }

  /** One hop: retries on 429/5xx/resets and one re-send after a 401 (same-origin only). */
  private async attempt(req: HttpRequest, method: string, url: string, body: Body | undefined, sameOrigin: boolean): Promise<HttpResponse> {
    const replayable = body === undefined || typeof body === 'string' || Buffer.isBuffer(body) || typeof body === 'function';
    if (sameOrigin && this.auth.scheme(req.registry) === undefined && req.path !== '/v2/') await this.learnScheme(req.registry);
    let authorization = sameOrigin ? await this.auth.authorization(req.registry, req.scopes) : undefined;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.send(req, method, url, body, authorization, sameOrigin);
      } catch (e) {
        // Before any retry: a plain-HTTP request that a TLS server hung up on will not get better.
        const tls = attempt === 0 ? await this.tlsInstead(req.registry, url, e) : undefined;
        if (tls) throw tls;
        if (replayable && attempt < this.retry.retries && isRetryableNetworkError(e) && !req.signal?.aborted) {
          const wait = retryDelay(this.retry, attempt + 1);
          if (this.options.log) this.log(`${method} ${redactUrl(url)}: ${(e as Error).message}; retry in ${wait} ms`);
          await sleep(wait, req.signal);
          continue;
        }
        throw networkError(req.registry, method, url, e);
      }
      if (res.status === 401 && sameOrigin && !authRetried && replayable) {
        await drain(res);
        authRetried = true;
        authorization = await this.auth.onUnauthorized(req.registry, req.scopes, res.headers['www-authenticate']);
        attempt--; // the auth round trip is not a failure
        continue;
      }
      if (RETRY_STATUSES.has(res.status) && replayable && attempt < this.retry.retries) {
        const wait = retryDelay(this.retry, attempt + 1, parseRetryAfter(res.header('retry-after')));
        await drain(res);
        if (this.options.log) this.log(`${method} ${redactUrl(url)}: HTTP ${res.status}; retry in ${wait} ms`);
        await sleep(wait, req.signal);
        continue;
      }
      if (res.status === 401 && authRetried) {
        await drain(res);
        throw new AuthError(`${method} ${redactUrl(url)}: HTTP 401: access denied (check credentials and permissions: regctl login ${req.registry})`);
      }
      return res;
    }
  }

  private async send(
    req: HttpRequest,
    method: string,
    url: string,
    body: Body | undefined,
    authorization: string | undefined,
    sameOrigin: boolean,
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'regctl', ...req.headers };
    if (authorization) headers.authorization = authorization;
    // hrtime, not performance.now(): the `performance` global loads perf_hooks (~1.3 ms).
    const started = process.hrtime.bigint();
    const { origin, path } = splitUrl(url);
    const data = await apiRequest.call(this.dispatcherFor(req.registry, sameOrigin), {
      origin,
      path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: typeof body === 'function' ? body() : body,
      signal: req.signal,
      // undici closes the socket after every HEAD (for servers that wrongly send a body);
      // registries answer HEAD properly, and copy/retag make hundreds of them: keep the socket.
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    if (this.options.log) {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
      const scheme = authorization ? ` [${authorization.split(' ')[0]} ***]` : '';
      this.log(`${method} ${redactUrl(url)} -> ${data.statusCode} (${ms} ms)${scheme}`);
    }
    const res = wrap(data, url);
    this.options.onResponse?.({ registry: req.registry, method, status: res.status, header: res.header });
    return res;
  }

  private async tokenRequest(r: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; json: unknown }> {
    const registry = new URL(r.url).host;
    const res = await this.attempt(
      { method: r.method, registry, path: r.url, headers: r.headers },
      r.method,
      r.url,
      r.body,
      false,
    );
    const text = await readLimited(res, 1024 * 1024);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }

  /**
   * With credentials for a registry, ask /v2/ once which scheme it wants before the first real
   * request, as docker does: a registry that lets anonymous users read some repositories
   * answers them without a 401 (a catalog filtered to public repositories), so credentials
   * would otherwise never be sent. Without credentials nothing is asked. Failures are left to
   * the real request to report.
   */
  private learnScheme(registry: string): Promise<void> {
    let p = this.probes.get(registry);
    if (!p) {
      p = (async () => {
        if (!(await this.auth.hasCredentials(registry))) return;
        const res = await this.send({ method: 'GET', registry, path: '/v2/' }, 'GET', this.url(registry, '/v2/'), undefined, undefined, true);
        await drain(res);
        if (res.status === 401) this.auth.learn(registry, res.headers['www-authenticate']);
      })().catch(() => {});
      this.probes.set(registry, p);
    }
    return p;
  }

  /**
   * A plain-HTTP request that got no HTTP answer may have reached a TLS server (a loopback
   * registry started with --tls-cert): one TLS handshake tells, and the error says what to do.
   */
  private async tlsInstead(registry: string, url: string, e: unknown): Promise<NetworkError | undefined> {
    if (!url.startsWith('http:') || (e as { name?: string })?.name === 'AbortError') return undefined;
    const code = codeOf(e);
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') return undefined;
    if (!(await speaksTls(new URL(url), this.options.connect))) return undefined;
    return new NetworkError(`${registry}: the registry speaks HTTPS: use https://${registry} or regctl config set ${registry} --ca-file FILE`, { cause: e });
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}

function wrap(data: Dispatcher.ResponseData, url: string): HttpResponse {
  const headers = data.headers as Record<string, string | string[] | undefined>;
  return {
    status: data.statusCode,
    headers,
    body: data.body,
    url,
    header(name: string): string | undefined {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

/** Discard a response body so the connection goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump();
  } catch {
    // a broken body on a response we are discarding is not worth reporting
  }
}

/** Read a small body as text, refusing more than `limit` bytes. */
export async function readLimited(res: HttpResponse, limit: number): Promise<string> {
  return (await readBytesLimited(res, limit)).toString('utf8');
}

export async function readBytesLimited(res: HttpResponse, limit: number, what = 'response'): Promise<Buffer> {
  const declared = Number(res.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw new NetworkError(`${what} from ${redactUrl(res.url)} is ${declared} bytes, over the ${limit} byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.body.destroy();
      throw new NetworkError(`${what} from ${redactUrl(res.url)} is over the ${limit} byte limit`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function errorFrom(method: string, url: string, res: HttpResponse): Promise<HttpError> {
  let errors: OciErrorEntry[] | undefined;
  try {
    const text = method === 'HEAD' ? '' : await readLimited(res, ERROR_BODY_LIMIT);
    const parsed = text ? (JSON.parse(text) as { errors?: unknown }) : undefined;
    if (Array.isArray(parsed?.errors)) {
      errors = parsed.errors
        .filter((e): e is { code: string; message?: unknown; detail?: unknown } => typeof (e as { code?: unknown })?.code === 'string')
        .map((e) => ({ code: e.code, ...(typeof e.message === 'string' ? { message: e.message } : {}), detail: e.detail }));
    }
  } catch {
    await drain(res);
  }
  return new HttpError({ status: res.status, method, url: redactUrl(url), errors });
}

/** TLS met a plain-HTTP answer: OpenSSL reports the first bytes of "HTTP/1.1" as a bad record. */
function isHttpAnswerToTls(e: unknown): boolean {
  let cur: unknown = e;
  for (let d = 0; cur && d < 4; d++) {
    const code = String((cur as { code?: unknown }).code ?? '');
    const msg = String((cur as { message?: unknown }).message ?? '');
    if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST/i.test(code) || /wrong version number|packet length too long|http request/i.test(msg)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

const TLS_PROBE_MS = 2_000;

/** Does host:port complete a TLS handshake (certificate not checked: only the protocol is asked)? */
function speaksTls(url: URL, connect: Record<string, unknown> = {}): Promise<boolean> {
  const tls = process.getBuiltinModule('node:tls');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = tls.connect({
      ...connect,
      host,
      port: Number(url.port || 80),
      rejectUnauthorized: false,
      ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }),
    });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), TLS_PROBE_MS);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function networkError(registry: string, method: string, url: string, e: unknown): Error {
  if (e instanceof HttpError || e instanceof AuthError || e instanceof NetworkError) return e;
  if ((e as { name?: string })?.name === 'AbortError') return e as Error;
  if (url.startsWith('https:') && isHttpAnswerToTls(e)) {
    return new NetworkError(
      `${registry}: server gave HTTP response to HTTPS client; if this registry serves plain HTTP, use http://${registry} or run: regctl config set ${registry} --insecure`,
      { cause: e },
    );
  }
  const code = codeOf(e);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
    return new NetworkError(`${registry}: cannot connect to ${new URL(url).host} (${code})`, { cause: e });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code ?? '')) {
    return new NetworkError(
      `${registry}: TLS certificate not trusted (${code}); trust its CA with: regctl config set ${registry} --ca-file FILE`,
      { cause: e },
    );
  }
  const cause = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const detail = cause?.cause?.code ?? cause?.code ?? cause?.cause?.message ?? cause?.message ?? String(e);
  return new NetworkError(`${method} ${redactUrl(url)}: ${detail}`, { cause: e });
}

function codeOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let d = 0; cur && d < 4; d++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('UND_ERR')) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
