import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_HUB, normalizeRegistry } from '../ref/reference.js';
import type { Credential } from '../transport/types.js';

/** The parts of Docker's config.json regctl reads. It is never written. */
export interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? process.getBuiltinModule('node:os').homedir() /* node:os only when HOME is unset */, '.docker'), 'config.json');
}

/** Docker's config, or undefined when missing or unreadable (a broken file must not stop regctl). */
export function readDockerConfig(env: NodeJS.ProcessEnv = process.env, warn?: (line: string) => void): DockerConfig | undefined {
  return readDockerConfigFile(dockerConfigPath(env), warn);
}

/** A file in Docker's config.json format (also podman's auth.json), or undefined when missing or unreadable. */
export function readDockerConfigFile(path: string, warn?: (line: string) => void): DockerConfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const json = JSON.parse(text) as unknown;
    return typeof json === 'object' && json !== null ? (json as DockerConfig) : undefined;
  } catch {
    warn?.(`ignoring ${path}: not valid JSON`);
    return undefined;
  }
}

/** `https://index.docker.io/v1/` -> `docker.io`; `http://host:5000/` -> `host:5000`. */
export function registryOfKey(key: string): string | undefined {
  const stripped = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  try {
    return normalizeRegistry(stripped);
  } catch {
    return undefined;
  }
}

/** The server URL Docker uses for a registry when talking to credential helpers. */
function helperServerUrl(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

function fromAuthEntry(e: NonNullable<DockerConfig['auths']>[string]): Credential | undefined {
  if (e.identitytoken) return { identityToken: e.identitytoken, ...(e.username ? { username: e.username } : {}) };
  if (e.registrytoken) return { registryToken: e.registrytoken };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (e.username && e.password !== undefined) return { username: e.username, password: e.password };
  return undefined;
}

/**
 * Credentials for `registry` from Docker's config: a per-registry credHelper, then an `auths`
 * entry (inline, or via the global credsStore when the entry is empty), as Docker resolves them.
 */
export async function dockerCredential(
  registry: string,
  config: DockerConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  if (!config) return undefined;
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (registryOfKey(key) === registry) return runCredentialHelper(helper, helperServerUrl(registry), env);
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (registryOfKey(key) !== registry) continue;
    const inline = fromAuthEntry(entry ?? {});
    if (inline) return inline;
  }
  if (config.credsStore) return runCredentialHelper(config.credsStore, helperServerUrl(registry), env);
  return undefined;
}

const HELPER_TIMEOUT_MS = 15_000;

/**
 * Run `docker-credential-NAME get` (the credential helper protocol): server URL on stdin,
 * `{"Username","Secret"}` on stdout. A helper that knows nothing exits non-zero: no credential.
 */
export function runCredentialHelper(name: string, serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(`docker-credential-${name}`, ['get'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      resolve(undefined);
      return;
    }
    const out: Buffer[] = [];
    const timer = setTimeout(() => child.kill(), HELPER_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return resolve(undefined);
      try {
        const j = JSON.parse(Buffer.concat(out).toString('utf8')) as { Username?: unknown; Secret?: unknown };
        if (typeof j.Secret !== 'string' || j.Secret === '') return resolve(undefined);
        if (j.Username === '<token>') return resolve({ identityToken: j.Secret });
        resolve({ username: typeof j.Username === 'string' ? j.Username : '', password: j.Secret });
      } catch {
        resolve(undefined);
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
}
