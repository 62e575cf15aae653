import { UsageError } from '../../errors.js';

/**
 * Which upstream a repository name pulls through, from `--mirror PREFIX=URL` and
 * `--mirror-default PREFIX`:
 *  - namespaced: `docker.io/library/alpine` -> upstream docker.io, remote name `library/alpine`;
 *  - default (docker `registry-mirrors` mode): `library/alpine` -> the default upstream, cached
 *    under `docker.io/library/alpine`, but only when no local repository has that name.
 * Cached content always lives under the namespaced name, so local pushes and cache never mix.
 */

export interface MirrorUpstream {
  /** The namespace: `docker.io`, `ghcr.io`, `quay.io`... */
  prefix: string;
  /** Base URL without a trailing slash, e.g. https://registry-1.docker.io */
  url: string;
}

export interface MirrorTarget {
  upstream: MirrorUpstream;
  /** The name the upstream knows (`library/alpine`). */
  remoteName: string;
  /** The local repository that holds the cached copy (`docker.io/library/alpine`). */
  cacheName: string;
  /** True when matched through --mirror-default (a local repository of that name wins). */
  viaDefault: boolean;
}

const PREFIX_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Parse one `--mirror PREFIX=URL` value. */
export function parseMirrorSpec(spec: string): MirrorUpstream {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`invalid --mirror ${JSON.stringify(spec.slice(0, 80))}: expected PREFIX=URL, e.g. docker.io=https://registry-1.docker.io`);
  const prefix = spec.slice(0, eq).trim().toLowerCase();
  const raw = spec.slice(eq + 1).trim();
  if (!PREFIX_RE.test(prefix)) throw new UsageError(`invalid --mirror prefix ${JSON.stringify(prefix.slice(0, 80))}: expected a registry host like docker.io`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`invalid --mirror URL for ${prefix}: expected http(s)://HOST[:PORT]`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new UsageError(`invalid --mirror URL for ${prefix}: expected http(s)://HOST[:PORT] without credentials (use --mirror-auth)`);
  }
  return { prefix, url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}` };
}

export class MirrorNamespaces {
  private readonly byPrefix = new Map<string, MirrorUpstream>();
  readonly defaultUpstream: MirrorUpstream | undefined;

  constructor(upstreams: MirrorUpstream[], defaultPrefix?: string) {
    for (const u of upstreams) {
      if (this.byPrefix.has(u.prefix)) throw new UsageError(`--mirror ${u.prefix} given twice`);
      this.byPrefix.set(u.prefix, u);
    }
    if (defaultPrefix !== undefined) {
      const d = this.byPrefix.get(defaultPrefix.toLowerCase());
      if (!d) throw new UsageError(`--mirror-default ${defaultPrefix}: no --mirror ${defaultPrefix}=URL given`);
      this.defaultUpstream = d;
    }
  }

  get upstreams(): MirrorUpstream[] {
    return [...this.byPrefix.values()];
  }

  /** The upstream namespace `name` lies in (`docker.io/...`), if any. */
  namespaced(name: string): MirrorTarget | undefined {
    const slash = name.indexOf('/');
    if (slash <= 0) return undefined;
    const upstream = this.byPrefix.get(name.slice(0, slash));
    if (!upstream) return undefined;
    return { upstream, remoteName: remote(upstream, name.slice(slash + 1)), cacheName: name, viaDefault: false };
  }

  /** Where `name` would be fetched in default-mirror mode (the caller checks local repositories first). */
  viaDefault(name: string): MirrorTarget | undefined {
    const upstream = this.defaultUpstream;
    if (!upstream || this.namespaced(name)) return undefined;
    return { upstream, remoteName: remote(upstream, name), cacheName: `${upstream.prefix}/${name}`, viaDefault: true };
  }
}

/** Docker Hub keeps official images under library/ (`alpine` is `library/alpine`). */
function remote(upstream: MirrorUpstream, name: string): string {
  return upstream.prefix === 'docker.io' && !name.includes('/') ? `library/${name}` : name;
}
