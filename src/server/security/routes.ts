import { isValidRepository } from '../../ref/reference.js';
import { route } from '../protocol/router.js';
import { firstValues, splitTarget } from '../protocol/request-target.js';

/**
 * Which registry endpoint a request names, for authorization, metrics and logs. It is the
 * router's own parse (src/server/protocol/router.ts on src/server/protocol/request-target.ts), so authorization
 * decides on exactly the repository the router serves: the raw path, with no resolution of
 * `.`/`..`/`%2e` segments, `\` or `//`. `/v2/secret/tags/x/../list` is no endpoint at all
 * (`unknown`), and `/v2/public/../secret/...` names the invalid repository `public/../secret`
 * (`nameValid: false`), which no access rule matches and the router refuses with NAME_INVALID.
 */

export type RouteKind =
  | 'base' // /v2/
  | 'catalog' // /v2/_catalog
  | 'search' // /v1/search (Docker v1 search; results filtered by read rights)
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

/** Parse a request target as the client sent it (`req.url`: path plus optional query). */
export function parseRegistryRoute(url: string): RegistryRoute {
  const { path, query: params } = splitTarget(url);
  const query = firstValues(params);
  const r = route(path);
  if (!r) return { kind: path.startsWith('/v2/') ? 'unknown' : 'other', query };
  switch (r.kind) {
    case 'base':
    case 'catalog':
    case 'search':
      return { kind: r.kind, query };
    default: {
      const out: RegistryRoute = { kind: r.kind, repository: r.name, nameValid: isValidRepository(r.name), query };
      if (r.kind === 'manifest') out.reference = r.reference;
      else if (r.kind === 'blob' || r.kind === 'referrers') out.reference = r.digest;
      else if (r.kind === 'upload') out.reference = r.id;
      return out;
    }
  }
}
