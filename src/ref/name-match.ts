/**
 * How repository names match a search term, shared by the server's /v1/search and web UI and
 * by `regctl search`'s catalog fallback: case-insensitive substring; names that start with the
 * term, or have a path segment that does (`team/app` for `app`), come first; each group keeps
 * the input order (sorted in, sorted out).
 */
export function matchRepositoryNames(names: readonly string[], term: string): string[] {
  const t = term.toLowerCase();
  if (t === '') return [...names];
  const prefix: string[] = [];
  const inside: string[] = [];
  for (const n of names) {
    const l = n.toLowerCase();
    if (l.startsWith(t) || l.includes(`/${t}`)) prefix.push(n);
    else if (l.includes(t)) inside.push(n);
  }
  return prefix.concat(inside);
}
