import { NotFoundError } from '../errors.js';
import { normalizeRegistry } from '../ref/reference.js';
import { drain, readBytesLimited, Transport } from '../transport/http.js';
import { CATALOG_SCOPE } from '../transport/scope.js';
import type { CredentialProvider, Dispatcher, RetryPolicy, SettingsProvider } from '../transport/types.js';
import { nextLink } from './link.js';
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
    });
  }

  /** GET /v2/: checks the registry speaks the API and that our credentials work. */
  async ping(registry: string): Promise<void> {
    const res = await this.transport.request({ method: 'GET', registry: normalizeRegistry(registry), path: '/v2/' });
    await drain(res);
  }

  /** Repository names, following Link pagination. `limit` stops early; `last` starts after a name. */
  async catalog(registry: string, opts: { limit?: number; last?: string; pageSize?: number } = {}): Promise<string[]> {
    const reg = normalizeRegistry(registry);
    const n = opts.pageSize ?? 1000;
    const out: string[] = [];
    const seen = new Set<string>();
    const query = (last?: string): string => `/v2/_catalog?n=${n}${last ? `&last=${encodeURIComponent(last)}` : ''}`;
    let path: string | undefined = query(opts.last);
    while (path) {
      const res = await this.transport.request({ method: 'GET', registry: reg, path, scopes: [CATALOG_SCOPE], ok: [200, 404] });
      if (res.status === 404) {
        await drain(res);
        throw new NotFoundError(`${reg} does not offer a catalog (/v2/_catalog)`, 'UNSUPPORTED');
      }
      const body = JSON.parse((await readBytesLimited(res, CATALOG_LIMIT, 'catalog')).toString('utf8')) as { repositories?: unknown };
      const page = Array.isArray(body.repositories) ? body.repositories.filter((r): r is string => typeof r === 'string') : [];
      let added = 0;
      for (const r of page) {
        if (seen.has(r)) continue;
        seen.add(r);
        out.push(r);
        added++;
        if (opts.limit !== undefined && out.length >= opts.limit) return out;
      }
      const next = nextLink(res.header('link'));
      if (next) path = next;
      else if (page.length >= n && added > 0) path = query(page[page.length - 1]);
      else path = undefined;
    }
    return out;
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
