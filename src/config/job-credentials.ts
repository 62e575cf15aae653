import { readFileSync } from 'node:fs';
import { RegctlError, UsageError } from '../errors.js';
import type { Credential } from '../transport/types.js';
import { dockerCredential, registryOfKey, type DockerConfig } from './docker.js';

/**
 * Credentials a CI job hands to regctl without `regctl login` (nothing is written anywhere):
 *
 *   1. `--creds-file FILE` / `REGCTL_CREDS_FILE`: a file in Docker's config.json format
 *   2. `REGCTL_AUTH_<HOST>`: `user:password`, or base64 of it, for one registry
 *      (HOST upper-cased, every character other than A-Z and 0-9 replaced by `_`:
 *      `localhost:5000` -> `REGCTL_AUTH_LOCALHOST_5000`)
 *   3. `REGCTL_AUTH`: JSON `{"host": "user:password", ...}` (values may be base64 too)
 *
 * Messages name the variable or file, never its value.
 */

/** `REGCTL_AUTH_LOCALHOST_5000` for `localhost:5000`. */
export function hostVariable(registry: string): string {
  return `REGCTL_AUTH_${registry.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** `user:password`, or base64 of it; undefined when it is neither. */
export function parseUserPassword(value: string): Credential | undefined {
  const plain = value.trim();
  const split = (s: string): Credential | undefined => {
    const colon = s.indexOf(':');
    return colon > 0 ? { username: s.slice(0, colon), password: s.slice(colon + 1) } : undefined;
  };
  if (plain.includes(':')) return split(plain);
  if (!/^[A-Za-z0-9+/=_-]+$/.test(plain)) return undefined;
  return split(Buffer.from(plain, 'base64').toString('utf8'));
}

function invalid(what: string, why: string): RegctlError {
  return new UsageError(`${what}: ${why} (the value is not shown)`);
}

/** The credentials file a job names (docker config.json format), read once. */
function readCredsFile(path: string, what: string): DockerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(`${what} ${path}`, 'not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(`${what} ${path}`, 'expected a JSON object like Docker\'s config.json');
  return json as DockerConfig;
}

function readAuthMap(raw: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw invalid('REGCTL_AUTH', 'not valid JSON; expected {"host": "user:password", ...}');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('REGCTL_AUTH', 'expected a JSON object {"host": "user:password", ...}');
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    const registry = registryOfKey(key);
    if (registry === undefined) throw new UsageError(`REGCTL_AUTH: "${key.slice(0, 80)}" is not a registry name`);
    if (typeof value !== 'string') throw invalid(`REGCTL_AUTH["${key.slice(0, 80)}"]`, 'expected a string "user:password"');
    map.set(registry, value);
  }
  return map;
}

export interface JobCredentialOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * The job's credential source: returns a lookup that answers from the three sources above, in
 * order, or undefined when none names the registry (the caller then tries the saved stores).
 * Files and JSON are read on the first lookup, once.
 */
export function jobCredentials(options: JobCredentialOptions = {}): (registry: string) => Promise<Credential | undefined> {
  const env = options.env ?? process.env;
  let file: DockerConfig | undefined | null = null;
  let map: Map<string, string> | undefined;
  return async (registry) => {
    const path = env.REGCTL_CREDS_FILE;
    if (path) {
      file ??= readCredsFile(path, 'credentials file');
      const fromFile = await dockerCredential(registry, file, env);
      if (fromFile) return fromFile;
    }
    const name = hostVariable(registry);
    const single = env[name];
    if (single) {
      const cred = parseUserPassword(single);
      if (!cred) throw invalid(name, 'expected user:password or its base64');
      return cred;
    }
    if (env.REGCTL_AUTH) {
      map ??= readAuthMap(env.REGCTL_AUTH);
      const value = map.get(registry);
      if (value !== undefined) {
        const cred = parseUserPassword(value);
        if (!cred) throw invalid(`REGCTL_AUTH["${registry}"]`, 'expected user:password or its base64');
        return cred;
      }
    }
    return undefined;
  };
}
