import { matchRepositoryNames } from '../../ref/name-match.js';
import { methodNotAllowed, type RequestContext } from './context.js';
import { OciError } from '../protocol/errors.js';
import { sendJson } from '../http/http-io.js';

/**
 * GET /v1/search?q=TERM&n=25&page=1: the Docker Registry v1 search answer, which `docker search`
 * and `podman search` still ask for (registry:2 dropped it). Matching is a case-insensitive
 * substring of the repository name, names starting with the term first; the caller sees only
 * repositories it may read (podman sends no credentials here, so anonymous rules apply to it).
 */

export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchResponse {
  num_results: number;
  num_pages: number;
  page: number;
  page_size: number;
  query: string;
  results: SearchResult[];
}

export const SEARCH_LIMITS = { maxQuery: 255, maxPageSize: 100, maxPage: 100_000, defaultPageSize: 25 } as const;

function badRequest(message: string): OciError {
  return new OciError('UNSUPPORTED', message, { status: 400 });
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw badRequest(`invalid ${name} "${raw.slice(0, 20)}": expected an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

export async function handleSearch(ctx: RequestContext): Promise<void> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') methodNotAllowed(ctx, ['GET', 'HEAD']);
  const q = ctx.url.searchParams.get('q') ?? '';
  if (q.length > SEARCH_LIMITS.maxQuery) throw badRequest(`query longer than ${SEARCH_LIMITS.maxQuery} characters`);
  const n = intParam(ctx.url, 'n', SEARCH_LIMITS.defaultPageSize, 1, SEARCH_LIMITS.maxPageSize);
  const page = intParam(ctx.url, 'page', 1, 1, SEARCH_LIMITS.maxPage);
  let repos = await ctx.storage.listRepositories();
  if (ctx.access && !ctx.access.unrestricted) repos = ctx.access.filterCatalog(repos);
  const hits = matchRepositoryNames(repos, q);
  const results = hits.slice((page - 1) * n, page * n).map((name) => ({ name, description: '', star_count: 0, is_official: false, is_automated: false }));
  const body: SearchResponse = {
    num_results: hits.length,
    num_pages: Math.ceil(hits.length / n),
    page,
    page_size: n,
    query: q,
    results,
  };
  sendJson(ctx.res, 200, body, { 'Cache-Control': 'no-store' }, ctx.req.method);
}
