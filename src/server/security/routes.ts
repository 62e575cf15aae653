import { isValidRepository } from '../../ref/reference.js';

/**
 * Which registry endpoint a request names. Repository names may contain slashes, so the
 * endpoint suffix is matched from the end: /v2/<name>/manifests/<ref> and so on.
 *
 * Authorization must decide on exactly what the router will serve, so the URL is parsed the
 * way the server's dispatch parses it: WHATWG `new URL(req.url, base)`, which resolves `.` and
 * `..` segments (also `%2e%2e`) and turns `\` into `/` before any matching. `/v2/x/tags/list/y/..`
 * is therefore checked as the tags of `x`, which is what gets served. Percent-escapes are not
 * decoded, so `a%2fb` stays one invalid name (`nameValid: false`), as in the router.
 */

export type RouteKind =
  | 'base' // /v2/
  | 'catalog' // /v2/_catalog
  | 'tags' // /v2/<name>/tags/list
  | 'manifest' // /v2/<name>/manifests/<reference>
  | 'blob' // /v2/<name>/blobs/<digest>
  | 'uploads' // /v2/<name>/blobs/uploads/   (POST: start, single-shot, or mount)
  | 'upload' // /v2/<name>/blobs/uploads/<id>
  | 'referrers' // /v2/<name>/referrers/<digest>
  | 'unknown' // under /v2/ but no endpoint
  | 'other'; // not under /v2 at all (/healthz, /metrics, ...)

export interface RegistryRoute {
  kind: RouteKind;
  repository?: string;
  /** Whether `repository` passes the spec's name grammar. */
  nameValid?: boolean;
  /** Tag or digest (manifests), digest (blobs, referrers), or upload id. */
  reference?: string;
  /** Query parameters (first value of each), e.g. mount, from, digest, n, last. */
  query: Record<string, string>;
}

const SUFFIXES: Array<[RegExp, RouteKind]> = [
  [/^(.+)\/tags\/list$/, 'tags'],
  [/^(.+)\/manifests\/([^/]+)$/, 'manifest'],
  [/^(.+)\/blobs\/uploads\/?$/, 'uploads'],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, 'upload'],
  [/^(.+)\/blobs\/([^/]+)$/, 'blob'],
  [/^(.+)\/referrers\/([^/]+)$/, 'referrers'],
];

/** Parse a request target as the client sent it (`req.url`: path plus optional query). */
export function parseRegistryRoute(url: string): RegistryRoute {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://registry.invalid');
  } catch {
    return { kind: 'unknown', query: {} };
  }
  const query: Record<string, string> = {};
  for (const [k, v] of parsed.searchParams) if (!(k in query)) query[k] = v;
  const path = parsed.pathname;
  if (path === '/v2' || path === '/v2/') return { kind: 'base', query };
  if (!path.startsWith('/v2/')) return { kind: 'other', query };
  const rest = path.slice('/v2/'.length);
  if (rest === '_catalog') return { kind: 'catalog', query };
  for (const [re, kind] of SUFFIXES) {
    const m = re.exec(rest);
    if (m) {
      const route: RegistryRoute = { kind, repository: m[1]!, nameValid: isValidRepository(m[1]!), query };
      if (m[2] !== undefined) route.reference = m[2];
      return route;
    }
  }
  return { kind: 'unknown', query };
}
