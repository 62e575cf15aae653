import { ReferenceError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { rememberScheme, splitScheme } from './scheme.js';

/** Docker Hub, as users write it and as its API is reached. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

/** A registry image reference, normalised. */
export interface Reference {
  /** Registry as written (lowercased host, with port): `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path, e.g. `library/alpine`, `zhang/hello-world`. */
  repository: string;
  /** Tag; `latest` when neither tag nor digest was given (unless parse options say otherwise). */
  tag?: string;
  digest?: string;
}

// OCI distribution spec grammar for one path component and for tags.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const MAX_NAME_LENGTH = 255;

export interface ParseOptions {
  /** Add `latest` when there is neither tag nor digest (default true). */
  defaultTag?: boolean;
}

/** Throws ReferenceError naming the bad part. */
export function validateRepository(repository: string): void {
  if (repository === '') throw new ReferenceError('invalid reference: empty repository name');
  if (repository.length > MAX_NAME_LENGTH) {
    throw new ReferenceError(`invalid repository "${repository.slice(0, 40)}...": longer than ${MAX_NAME_LENGTH} characters`);
  }
  for (const part of repository.split('/')) {
    if (part === '') throw new ReferenceError(`invalid repository "${repository}": empty path component`);
    if (!PATH_COMPONENT.test(part)) {
      const why = /[A-Z]/.test(part) ? 'must be lowercase' : 'may hold only a-z, 0-9 and single separators . _ __ -';
      throw new ReferenceError(`invalid repository "${repository}": component "${part}" ${why}`);
    }
  }
}

export function isValidRepository(repository: string): boolean {
  try {
    validateRepository(repository);
    return true;
  } catch {
    return false;
  }
}

export function validateTag(tag: string): void {
  if (tag === '') throw new ReferenceError('invalid tag: empty');
  if (tag.length > 128) throw new ReferenceError(`invalid tag "${tag.slice(0, 40)}...": longer than 128 characters`);
  if (!TAG.test(tag)) {
    throw new ReferenceError(`invalid tag "${tag}": must start with a letter, digit or _ and hold only letters, digits, _ . -`);
  }
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/** Validate `host[:port]`, `[v6]:port`. Returns it normalised (host lowercased). */
export function normalizeRegistry(registry: string): string {
  if (registry === '') throw new ReferenceError('invalid registry: empty');
  let host: string;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const end = registry.indexOf(']');
    if (end < 0) throw new ReferenceError(`invalid registry "${registry}": unclosed [ in IPv6 address`);
    host = registry.slice(0, end + 1);
    const rest = registry.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new ReferenceError(`invalid registry "${registry}": unexpected text after ]`);
      port = rest.slice(1);
    }
    const inner = host.slice(1, -1);
    if (!/^[0-9a-fA-F:.]+$/.test(inner) || !inner.includes(':')) {
      throw new ReferenceError(`invalid registry "${registry}": bad IPv6 address`);
    }
  } else {
    const colon = registry.lastIndexOf(':');
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    } else {
      host = registry;
    }
    if (host === '') throw new ReferenceError(`invalid registry "${registry}": empty host`);
    for (const label of host.split('.')) {
      if (!HOSTNAME_LABEL.test(label)) throw new ReferenceError(`invalid registry "${registry}": bad host name`);
    }
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535 || Number(port) === 0) {
      throw new ReferenceError(`invalid registry "${registry}": bad port "${port}"`);
    }
  }
  const normalized = host.toLowerCase() + (port !== undefined ? `:${port}` : '');
  return normalized === 'index.docker.io' || normalized === 'registry-1.docker.io' ? DOCKER_HUB : normalized;
}

let defaultRegistry = DOCKER_HUB;

/**
 * The registry of names without one (`myimage:1.0`): Docker Hub unless the user opted into
 * another (REGCTL_REGISTRY, `regctl config set-default`); the CLI sets it before each command.
 */
export function setDefaultRegistry(registry: string | undefined): void {
  defaultRegistry = registry === undefined ? DOCKER_HUB : normalizeRegistry(registry);
}

export function getDefaultRegistry(): string {
  return defaultRegistry;
}

/**
 * A registry as people paste it: `host:5000`, `http://host:5000`, `https://host/` (a path after
 * the host is ignored). An `http://` or `https://` is remembered for the host (see scheme.ts).
 */
export function parseRegistryArg(input: string): string {
  const { scheme, rest } = splitScheme(input.trim());
  const registry = normalizeRegistry(rest.replace(/\/.*$/, ''));
  if (scheme) rememberScheme(registry, scheme);
  return registry;
}

/** Docker's rule: the first component is a registry if it has a dot or colon, is localhost, or has uppercase. */
function looksLikeRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase();
}

/**
 * Parse `[host[:port]/]repo[:tag][@digest]` with Docker's defaults: no host means Docker Hub
 * (or the opted-in default registry), a single component on Docker Hub gets `library/`, no tag
 * and no digest means `latest`. An optional `docker://` prefix (skopeo style) is accepted, and
 * `http://` / `https://`, which also name the first component a host and choose its scheme.
 */
export function parseReference(input: string, options: ParseOptions = {}): Reference {
  const { scheme, rest: raw } = splitScheme(input);
  if (raw.trim() === '') throw new ReferenceError('invalid reference: empty');
  if (/\s/.test(raw)) throw new ReferenceError(`invalid reference "${raw}": contains whitespace`);

  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest === '') throw new ReferenceError(`invalid reference "${raw}": empty digest after @`);
    parseDigest(digest);
  }

  let registry = defaultRegistry;
  const slash = rest.indexOf('/');
  if (scheme !== undefined) {
    if (slash < 0) throw registryNotRepository(input, normalizeRegistry(rest), 'reference');
    registry = normalizeRegistry(rest.slice(0, slash));
    rest = rest.slice(slash + 1);
    rememberScheme(registry, scheme);
  } else if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = normalizeRegistry(rest.slice(0, slash));
    rest = rest.slice(slash + 1);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    validateTag(tag);
  }

  let repository = rest;
  if (repository === '') throw new ReferenceError(`invalid reference "${raw}": empty repository name`);
  validateRepository(repository);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;
  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Parse `HOST/REPO` where neither tag nor digest is allowed (e.g. for `tags`). */
export function parseRepository(input: string): Reference {
  const bare = splitScheme(input).rest.replace(/\/+$/, '');
  if (!bare.includes('/') && looksLikeBareRegistry(bare)) throw registryNotRepository(input, normalizeRegistry(bare), 'repository');
  const ref = parseReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new ReferenceError(`expected a repository without tag or digest, got "${input}"`);
  }
  return ref;
}

/** `localhost`, `host:5000`, an IP address: a registry, never a Docker Hub repository name. */
function looksLikeBareRegistry(text: string): boolean {
  if (text === 'localhost' || text.startsWith('[')) return true;
  if (/^\d{1,3}(\.\d{1,3}){3}(:\d+)?$/.test(text)) return true;
  return /^[A-Za-z0-9.-]+:\d{1,5}$/.test(text);
}

function registryNotRepository(input: string, registry: string, what: string): ReferenceError {
  return new ReferenceError(
    `"${input}" is a registry, not a ${what}: name one as ${registry}/REPO, or list the registry's repositories with: regctl catalog ${registry}`,
  );
}

/** The host (and port) to connect to for a registry name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Host part without port or brackets (for loopback and TLS decisions). */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

/** localhost, 127.0.0.0/8 and ::1 get plain HTTP without asking. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostName(registry).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** The tag if there is one, else the digest: what goes in /v2/NAME/manifests/<here>. */
export function manifestRef(ref: Reference): string {
  const r = ref.digest ?? ref.tag;
  if (r === undefined) throw new ReferenceError(`reference ${formatReference(ref)} has neither tag nor digest`);
  return r;
}

/** Render a reference back to text; Docker Hub's `library/` is kept so the output is unambiguous. */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}
