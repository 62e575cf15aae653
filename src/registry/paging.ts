import { drain, readBytesLimited, type Transport } from '../transport/http.js';
import { nextLink } from './link.js';

/**
 * Paged string lists of the distribution API (`tags/list`, `_catalog`) with as few requests as the
 * registry allows.
 *
 * Without `n`, most registries answer with the whole list (distribution v2 and v3 for tags, regctl
 * serve for both), while `n=1000` makes distribution v3 cut 10,000 tags into 11 pages. So tags are
 * asked for without `n`, and a `Link: <...>; rel="next"` is followed only when the registry
 * paginates on its own. An explicit page size (`--page-size`) is sent as `n`, and then a full page
 * without a Link is taken as a registry that paginates without saying so (asked again from the last
 * entry). The catalog keeps `n=1000` by default: distribution v2 answers a catalog request without
 * `n` with 100 names and a Link (10x the requests), and refuses `n` above 1000.
 */
export interface PagedListRequest {
  transport: Transport;
  registry: string;
  /** Path without query: `/v2/NAME/tags/list` or `/v2/_catalog`. */
  path: string;
  /** The JSON member that holds the page: `tags` or `repositories`. */
  key: 'tags' | 'repositories';
  scopes: string[];
  /** Entries per request; undefined asks without `n`. */
  n?: number;
  /** Start after this entry. */
  last?: string;
  /** Stop once this many entries are collected. */
  limit?: number;
  /** Largest page body read. */
  maxBytes: number;
  /** What a 404 means (repository or catalog missing). */
  notFound: () => Error;
}

/** Every entry (deduplicated, in the registry's order), following pagination. */
export async function listPaged(r: PagedListRequest): Promise<string[]> {
  const query = (last: string | undefined): string => {
    const params: string[] = [];
    if (r.n !== undefined) params.push(`n=${r.n}`);
    if (last) params.push(`last=${encodeURIComponent(last)}`);
    return params.length ? `${r.path}?${params.join('&')}` : r.path;
  };
  const seen = new Set<string>();
  let path: string | undefined = query(r.last);
  while (path) {
    const res = await r.transport.request({ method: 'GET', registry: r.registry, path, scopes: r.scopes, ok: [200, 404] });
    if (res.status === 404) {
      await drain(res);
      throw r.notFound();
    }
    const body = JSON.parse((await readBytesLimited(res, r.maxBytes, r.key === 'tags' ? 'tag list' : 'catalog')).toString('utf8')) as Record<string, unknown>;
    const list = body[r.key];
    const page = Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
    let added = 0;
    for (const t of page) {
      if (seen.has(t)) continue;
      seen.add(t);
      added++;
      if (r.limit !== undefined && seen.size >= r.limit) return [...seen];
    }
    const next = nextLink(res.header('link'));
    if (next) path = added > 0 ? next : undefined;
    else if (r.n !== undefined && page.length >= r.n && added > 0) path = query(page[page.length - 1]);
    else path = undefined;
  }
  return [...seen];
}
