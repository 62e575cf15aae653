import { parseLocation, type Location } from '../content/location.js';
import { ReferenceError } from '../errors.js';
import { normalizeRegistry, parseRepository } from '../ref/reference.js';
import type { SyncEntry } from './file.js';
import { SyncFileError } from './file.js';

/** One source repository (or layout) to mirror into one target, with its entry's settings. */
export interface SyncPair {
  entry: SyncEntry;
  /** Location text, e.g. `registry.example:5000/app` or `oci:/mirror/app`. */
  source: string;
  target: string;
  sourceLocation: Location;
  targetLocation: Location;
}

/** The registry catalog, for entries with repo-match. */
export type Catalog = (registry: string) => Promise<string[]>;

/**
 * Entries to pairs. A repository or layout entry is one pair; a `repo-match` entry is one pair
 * per repository of the source registry's catalog whose name matches (below the source's path
 * prefix, if any), each mirrored under the target's prefix (or into `oci:DIR/NAME`).
 */
export async function expandEntries(entries: readonly SyncEntry[], file: string, catalog: Catalog): Promise<SyncPair[]> {
  const out: SyncPair[] = [];
  for (const entry of entries) {
    const bad = (message: string): never => {
      throw new SyncFileError(`${file}:${entry.line}: ${message}`);
    };
    if (!entry.repoMatch) {
      out.push({ entry, source: entry.source, target: entry.target, sourceLocation: location(entry.source, 'source', bad), targetLocation: location(entry.target, 'target', bad) });
      continue;
    }
    const src = registryPrefix(entry.source, 'source', bad);
    const layout = entry.target.startsWith('oci:') ? entry.target.slice(4).replace(/\/+$/, '') : undefined;
    const dst = layout === undefined ? registryPrefix(entry.target, 'target', bad) : undefined;
    if (layout === '') bad('target: empty layout path');
    const names = (await catalog(src.registry))
      .filter((r) => src.prefix === '' || r.startsWith(`${src.prefix}/`))
      .map((r) => (src.prefix === '' ? r : r.slice(src.prefix.length + 1)))
      .filter((r) => entry.repoMatch!.test(r))
      .sort();
    for (const name of names) {
      const source = `${src.registry}/${src.prefix ? `${src.prefix}/` : ''}${name}`;
      const target = layout !== undefined ? `oci:${layout}/${name}` : `${dst!.registry}/${dst!.prefix ? `${dst!.prefix}/` : ''}${name}`;
      out.push({ entry, source, target, sourceLocation: location(source, 'source', bad), targetLocation: location(target, 'target', bad) });
    }
  }
  return out;
}

/** A repository (no tag, no digest) or an OCI layout directory. */
function location(text: string, what: string, bad: (m: string) => never): Location {
  try {
    if (text.startsWith('oci:')) {
      const loc = parseLocation(text);
      if (loc.kind !== 'oci' || loc.tag || loc.digest) bad(`${what}: an OCI layout is named oci:DIR, without tag ("${text}")`);
      return loc;
    }
    if (/^[a-z-]+-archive:/.test(text)) bad(`${what}: archives are not synchronised; use a repository or oci:DIR ("${text}")`);
    // Repositories: `latest` only opens them; every tag is chosen by the entry's filters.
    return { kind: 'registry', ref: { ...parseRepository(text), tag: 'latest' } };
  } catch (e) {
    if (e instanceof ReferenceError) bad(`${what}: ${e.message}`);
    throw e;
  }
}

/** `host[:port][/prefix]` for repo-match entries. */
function registryPrefix(text: string, what: string, bad: (m: string) => never): { registry: string; prefix: string } {
  const bare = text.replace(/^(https?|docker):\/\//, '').replace(/\/+$/, '');
  const slash = bare.indexOf('/');
  const host = slash < 0 ? bare : bare.slice(0, slash);
  const prefix = slash < 0 ? '' : bare.slice(slash + 1);
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host) || (prefix !== '' && !/^[a-z0-9._/-]+$/.test(prefix))) bad(`${what}: with repo-match, expected a registry such as host:5000 or host:5000/prefix ("${text}")`);
  try {
    return { registry: normalizeRegistry(host), prefix };
  } catch (e) {
    return bad(`${what}: ${(e as Error).message}`);
  }
}
