import { ReferenceError } from '../errors.js';

/** The URL scheme a user wrote in front of a registry (`http://host`, `https://host`). */
export type RegistryScheme = 'http' | 'https';

/**
 * Schemes named on this command line, per registry. A name in a reference is plain data, but
 * the choice it carries (plain HTTP or TLS for that host) belongs to every request of the
 * command, including the ones made for other references to the same host; so it is kept here,
 * read by the transport, and reset by the CLI before each command.
 */
const named = new Map<string, RegistryScheme>();

export function rememberScheme(registry: string, scheme: RegistryScheme): void {
  const had = named.get(registry);
  if (had !== undefined && had !== scheme) {
    throw new ReferenceError(`${registry} is named both as ${had}:// and ${scheme}://: use one`);
  }
  named.set(registry, scheme);
}

/** The scheme the user wrote for this registry, if any. */
export function explicitScheme(registry: string): RegistryScheme | undefined {
  return named.get(registry);
}

/** Forget what earlier commands named (the CLI calls it before each command; tests too). */
export function forgetSchemes(): void {
  named.clear();
}

/**
 * Split `http://` or `https://` off a registry or reference; `docker://` (skopeo's transport
 * name) carries no scheme. Any other `xyz://` is refused rather than read as a host name.
 */
export function splitScheme(input: string): { scheme?: RegistryScheme; rest: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input);
  if (!m) return { rest: input };
  const name = m[1]!.toLowerCase();
  const rest = input.slice(m[0].length);
  if (name === 'http' || name === 'https') return { scheme: name, rest };
  if (name === 'docker') return { rest };
  throw new ReferenceError(`invalid reference "${input}": unsupported scheme ${name}:// (use http://, https:// or none)`);
}
