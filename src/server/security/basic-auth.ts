/**
 * HTTP Basic authentication (RFC 7617): parse the Authorization header without ever throwing,
 * and build the challenge a 401 carries. Nothing here logs or echoes what the client sent.
 */

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Longer headers are refused before decoding: no legitimate user:password is this big. */
const MAX_HEADER_LENGTH = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// Control characters make no sense in a user name and would corrupt an htpasswd line or a log.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The credentials of an `Authorization: Basic ...` header, or undefined when there is no such
 * header or it is malformed (bad base64, no colon, empty user, control characters, several
 * headers). Other schemes (Bearer) also give undefined: the caller treats them as anonymous.
 */
export function parseBasicAuth(header: string | string[] | undefined): BasicCredentials | undefined {
  if (typeof header !== 'string') return undefined;
  if (header.length > MAX_HEADER_LENGTH) return undefined;
  const match = /^[Bb][Aa][Ss][Ii][Cc] +([^ ]*) *$/.exec(header);
  if (!match) return undefined;
  const token = match[1]!;
  if (token.length === 0 || token.length % 4 !== 0 || !BASE64.test(token)) return undefined;
  let decoded: string;
  try {
    decoded = Buffer.from(token, 'base64').toString('utf8');
  } catch {
    return undefined;
  }
  // Invalid UTF-8 decodes to U+FFFD: refuse rather than compare a mangled password.
  if (decoded.includes('\uFFFD')) return undefined;
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (CONTROL.test(username) || CONTROL.test(password)) return undefined;
  return { username, password };
}

/** True when the header claims the Basic scheme at all (used to tell "bad credentials" from "none"). */
export function hasBasicScheme(header: string | string[] | undefined): boolean {
  const h = Array.isArray(header) ? header[0] : header;
  return typeof h === 'string' && /^basic(?: |$)/i.test(h.trimStart());
}

/** `Basic realm="..."`, with the realm quoted per RFC 7230 (backslash and quote escaped). */
export function basicChallenge(realm: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = realm.replace(/[\x00-\x1f\x7f]/g, '').replace(/["\\]/g, (c) => `\\${c}`);
  return `Basic realm="${clean}"`;
}

/** The header value a client would send: for tests and the CLI's own login check. */
export function formatBasicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
