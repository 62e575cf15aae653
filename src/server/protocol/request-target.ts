/**
 * The one place a request target (`req.url`) is split into path and query. The router and the
 * authorizer both go through here, so the repository that access is checked on is exactly the
 * repository that is served.
 *
 * The path is taken byte for byte as the client sent it: no WHATWG URL parsing, so `..`, `.`,
 * `%2e`, `%2f`, `\` and `//` are never resolved or decoded. Such names then fail the repository
 * grammar (NAME_INVALID) instead of silently turning into another repository.
 */
export interface RequestTarget {
  /** Everything before the first `?`, undecoded. */
  path: string;
  /** `?...` or ''. */
  search: string;
  query: URLSearchParams;
}

export function splitTarget(raw: string | undefined): RequestTarget {
  const url = raw ?? '/';
  const q = url.indexOf('?');
  const search = q < 0 ? '' : url.slice(q);
  return { path: q < 0 ? url : url.slice(0, q), search, query: new URLSearchParams(search) };
}

/** First value of each query parameter (what the handlers' searchParams.get() sees). */
export function firstValues(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * `GET http://user:pw@host/v2/...` (absolute form) carries credentials in the request target:
 * drop everything between the scheme and the last `@` of the authority before it is logged.
 */
export function stripUserinfo(target: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#]*)/.exec(target);
  if (!m) return target;
  const at = m[2]!.lastIndexOf('@');
  return at < 0 ? target : `${m[1]}${m[2]!.slice(at + 1)}${target.slice(m[0].length)}`;
}
