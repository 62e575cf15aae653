import { NotFoundError } from '../errors.js';
import { normalizeRegistry } from '../ref/reference.js';
import { drain, readBytesLimited, Transport, type TransportOptions } from '../transport/http.js';
import { CATALOG_SCOPE } from '../transport/scope.js';
import type { CredentialProvider, Dispatcher, RetryPolicy, SettingsProvider } from '../transport/types.js';
import { listPaged } from './paging.js';
import { Repository, type RepositoryOptions } from './repository.js';

export interface RegistryClientOptions extends RepositoryOptions {
  /** Default: undici's global dispatcher, looked up per request (so nock and MockAgent see it). */
  dispatcher?: Dispatcher;
  /** Request log lines (for --verbose); credentials are masked. */
  log?: (line: string) => void;
  /** Per-registry settings: insecure (plain HTTP), CA file, skip-verify. */
  settings?: SettingsProvider;
  /** Credentials per registry (regctl's store, then Docker's config). */
  credentials?: CredentialProvider;
  retry?: Partial<RetryPolicy>;
  /** Extra socket options for per-host TLS pools (tests: `lookup`). */
  connect?: Record<string, unknown>;
  /** Every response's status and headers (rate limits); see TransportOptions. */
  onResponse?: TransportOptions['onResponse'];
}

const CATALOG_LIMIT = 64 * 1024 * 1024;
const SEARCH_LIMIT = 4 * 1024 * 1024;

/** Entry point to registries: one transport (auth state, token cache) shared by its repositories. */
export class RegistryClient {
  readonly transport: Transport;

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.transport = new Transport({
      dispatcher: options.dispatcher,
      log: options.log,
      settings: options.settings,
      credentials: options.credentials,
      retry: options.retry,
      connect: options.connect,
      onResponse: options.onResponse,
    });
  }

  /** GET /v2/: checks the registry speaks the API and that our credentials work. */
  async ping(registry: string): Promise<void> {
    const res = await this.transport.request({ method: 'GET', registry: normalizeRegistry(registry), path: '/v2/' });
    await drain(res);
  }

  /**
   * Repository names, following Link pagination. `limit` stops early; `last` starts after a name.
   * Asks with n=1000 (distribution v2 pages by 100 without n, and refuses more than 1000).
   */
  async catalog(registry: string, opts: { limit?: number; last?: string; pageSize?: number } = {}): Promise<string[]> {
    const reg = normalizeRegistry(registry);
    return listPaged({
      transport: this.transport,
      registry: reg,
      path: '/v2/_catalog',
      key: 'repositories',
      scopes: [CATALOG_SCOPE],
      n: opts.pageSize ?? 1000,
      last: opts.last,
      limit: opts.limit,
      maxBytes: CATALOG_LIMIT,
      notFound: () => new NotFoundError(`${reg} does not offer a catalog (/v2/_catalog)`, 'UNSUPPORTED'),
    });
  }

  /**
   * One page of GET /v1/search (Docker Registry v1 search). Undefined when the registry has no
   * such endpoint (404/405/501, e.g. docker-registry), so the caller can fall back to the catalog.
   */
  async search(registry: string, term: string, opts: { n: number; page: number }): Promise<{ names: string[]; pages: number } | undefined> {
    const reg = normalizeRegistry(registry);
    const path = `/v1/search?q=${encodeURIComponent(term)}&n=${opts.n}&page=${opts.page}`;
    const res = await this.transport.request({ method: 'GET', registry: reg, path, ok: [200, 400, 404, 405, 501] });
    if (res.status !== 200) {
      await drain(res);
      return undefined;
    }
    const body = JSON.parse((await readBytesLimited(res, SEARCH_LIMIT, 'search')).toString('utf8')) as { results?: unknown; num_pages?: unknown };
    const results = Array.isArray(body.results) ? body.results : [];
    const names = results.map((r) => (r as { name?: unknown })?.name).filter((n): n is string => typeof n === 'string');
    return { names, pages: typeof body.num_pages === 'number' && Number.isSafeInteger(body.num_pages) ? body.num_pages : 1 };
  }

  repository(registry: string, name: string): Repository {
    return new Repository(this.transport, normalizeRegistry(registry), name, {
      manifestLimit: this.options.manifestLimit,
      chunkSize: this.options.chunkSize,
      tagPageSize: this.options.tagPageSize,
    });
  }
}
