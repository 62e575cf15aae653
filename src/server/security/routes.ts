import { isValidRepository } from '../../ref/reference.js';

/**
 * Which registry endpoint a request path names, parsed from the raw (not percent-decoded) path
 * exactly as the distribution spec lays it out. Repository names may contain slashes, so the
 * endpoint suffix is matched from the end: /v2/<name>/manifests/<ref> and so on.
 *
 * Authorization decides on this parse, so the router must not see a different name: it must
 * not percent-decode the name either, and must refuse names that fail the grammar
 * (`nameValid: false` here). Using parseRegistryRoute in the router too makes that automatic.
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

/** Parse a request URL as the client sent it (`req.url`: path plus optional query). */
export function parseRegistryRoute(url: string): RegistryRoute {
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const query: Record<string, string> = {};
  if (q >= 0) {
    try {
      for (const [k, v] of new URLSearchParams(url.slice(q + 1))) if (!(k in query)) query[k] = v;
    } catch {
      // URLSearchParams does not throw on bad escapes today; stay total if it ever does.
    }
  }
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
