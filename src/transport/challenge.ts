/** One challenge from a `WWW-Authenticate` header: scheme plus its auth-params. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse `WWW-Authenticate` (RFC 7235): several challenges, each `Scheme k=v, k="quoted, with commas"`.
 * Registries send e.g. `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"`.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const headers = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const h of headers) {
    let i = 0;
    let current: Challenge | undefined;
    const n = h.length;
    while (i < n) {
      while (i < n && (h[i] === ' ' || h[i] === ',' || h[i] === '\t')) i++;
      if (i >= n) break;
      const start = i;
      while (i < n && /[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(h[i]!)) i++;
      const token = h.slice(start, i);
      if (token === '') {
        i++;
        continue;
      }
      let j = i;
      while (j < n && h[j] === ' ') j++;
      if (h[j] === '=' && current) {
        // auth-param
        j++;
        while (j < n && h[j] === ' ') j++;
        let value = '';
        if (h[j] === '"') {
          j++;
          while (j < n && h[j] !== '"') {
            if (h[j] === '\\' && j + 1 < n) j++;
            value += h[j];
            j++;
          }
          j++;
        } else {
          const vs = j;
          while (j < n && h[j] !== ',' && h[j] !== ' ') j++;
          value = h.slice(vs, j);
        }
        current.params[token.toLowerCase()] = value;
        i = j;
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}
