import { matchRepositoryNames } from '../ref/name-match.js';

/**
 * `regctl search`: repositories of one registry whose name contains a term. Asks the registry's
 * /v1/search (regctl serve, Docker Hub-style registries); a registry without it (docker-registry,
 * registry:2) is searched by filtering its /v2/_catalog here, with the same matching rules.
 */

export interface SearchClient {
  /** One page of /v1/search; undefined when the registry has no search endpoint. */
  search(registry: string, term: string, opts: { n: number; page: number }): Promise<{ names: string[]; pages: number } | undefined>;
  catalog(registry: string, opts?: { limit?: number }): Promise<string[]>;
}

export interface SearchOptions {
  client: SearchClient;
  registry: string;
  term: string;
  /** At most this many names (default 25). */
  limit?: number;
}

export interface SearchOutcome {
  registry: string;
  term: string;
  /** Where the names came from. */
  source: 'search' | 'catalog';
  results: string[];
}

const PAGE = 100;
/** A catalog scan stops here: a fallback must not walk an unbounded registry. */
const CATALOG_SCAN_LIMIT = 100_000;

export async function searchRegistry(options: SearchOptions): Promise<SearchOutcome> {
  const { client, registry, term } = options;
  const limit = options.limit ?? 25;
  const out: string[] = [];
  const seen = new Set<string>();
  const first = await client.search(registry, term, { n: Math.min(PAGE, limit), page: 1 });
  if (first) {
    let page = first;
    let number = 1;
    for (;;) {
      for (const n of page.names) {
        if (seen.has(n)) continue;
        seen.add(n);
        out.push(n);
        if (out.length >= limit) return { registry, term, source: 'search', results: out };
      }
      if (number >= page.pages || page.names.length === 0) break;
      number++;
      const next = await client.search(registry, term, { n: Math.min(PAGE, limit), page: number });
      if (!next) break;
      page = next;
    }
    return { registry, term, source: 'search', results: out };
  }
  const all = await client.catalog(registry, { limit: CATALOG_SCAN_LIMIT });
  return { registry, term, source: 'catalog', results: matchRepositoryNames(all, term).slice(0, limit) };
}
