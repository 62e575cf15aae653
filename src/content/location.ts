import { ReferenceError } from '../errors.js';
import { parseDigest } from '../oci/digest.js';
import { parseReference, validateTag, type Reference } from '../ref/reference.js';

/**
 * Where an image lives, as written on the command line:
 *   registry         `[docker://]host/repo[:tag][@digest]`   (anything without a known prefix)
 *   oci              `oci:PATH[:TAG|@DIGEST]`                 OCI image layout directory
 *   oci-archive      `oci-archive:FILE[:TAG|@DIGEST]`         the same layout as a tar
 *   docker-archive   `docker-archive:FILE[:NAME[:TAG]]`       `docker save` tarball; FILE `-` = stdin/stdout
 *
 * Paths are split from the tag at the LAST colon, and only when what follows is a valid tag
 * (so `oci:/tmp/x` is a path, `oci:./dir:v1` has tag v1). A docker-archive name may hold a
 * registry port (`docker-archive:a.tar:localhost:5000/app:1.0`): the path ends at the first
 * colon, as in skopeo.
 */
export type Location =
  | { kind: 'registry'; ref: Reference }
  | { kind: 'oci'; path: string; tag?: string; digest?: string }
  | { kind: 'oci-archive'; path: string; tag?: string; digest?: string }
  | { kind: 'docker-archive'; path: string; name?: string; tag?: string };

export type LocationKind = Location['kind'];

const PREFIXES = ['oci:', 'oci-archive:', 'docker-archive:'] as const;

export function isArchiveLocation(input: string): boolean {
  return PREFIXES.some((p) => input.startsWith(p));
}

export function parseLocation(input: string): Location {
  if (input.startsWith('oci:')) return { kind: 'oci', ...parseLayoutPart(input.slice(4), input) };
  if (input.startsWith('oci-archive:')) return { kind: 'oci-archive', ...parseLayoutPart(input.slice(12), input) };
  if (input.startsWith('docker-archive:')) return parseDockerArchive(input.slice(15), input);
  return { kind: 'registry', ref: parseReference(input) };
}

function parseLayoutPart(rest: string, input: string): { path: string; tag?: string; digest?: string } {
  if (rest === '') throw new ReferenceError(`invalid location "${input}": empty path`);
  const at = rest.lastIndexOf('@');
  if (at > 0 && /^sha(256|512):/.test(rest.slice(at + 1))) {
    const digest = rest.slice(at + 1);
    parseDigest(digest);
    return { path: rest.slice(0, at), digest };
  }
  const colon = rest.lastIndexOf(':');
  if (colon > 0) {
    const tag = rest.slice(colon + 1);
    // A trailing part with a slash is still a path (e.g. `oci:C:/x` is not worth guessing about).
    if (tag !== '' && !tag.includes('/')) {
      validateTag(tag);
      return { path: rest.slice(0, colon), tag };
    }
  }
  return { path: rest };
}

function parseDockerArchive(rest: string, input: string): Location {
  if (rest === '') throw new ReferenceError(`invalid location "${input}": empty file name`);
  const colon = rest.indexOf(':');
  if (colon < 0) return { kind: 'docker-archive', path: rest };
  const path = rest.slice(0, colon);
  const named = rest.slice(colon + 1);
  if (path === '') throw new ReferenceError(`invalid location "${input}": empty file name`);
  if (named === '') return { kind: 'docker-archive', path };
  // NAME[:TAG] where NAME may be `host:port/repo`: the tag is after the last colon past the last slash.
  const lastSlash = named.lastIndexOf('/');
  const tagColon = named.lastIndexOf(':');
  let name = named;
  let tag: string | undefined;
  if (tagColon > lastSlash) {
    name = named.slice(0, tagColon);
    tag = named.slice(tagColon + 1);
    validateTag(tag);
  }
  // Validate the name with the registry grammar (without adding docker.io/library/).
  parseReference(`${name}:x`);
  return tag === undefined ? { kind: 'docker-archive', path, name } : { kind: 'docker-archive', path, name, tag };
}

/** Render a location back to text (for messages). */
export function formatLocation(loc: Location): string {
  switch (loc.kind) {
    case 'registry': {
      const r = loc.ref;
      return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
    }
    case 'oci':
    case 'oci-archive':
      return `${loc.kind}:${loc.path}${loc.tag ? `:${loc.tag}` : ''}${loc.digest ? `@${loc.digest}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${loc.path}${loc.name ? `:${loc.name}` : ''}${loc.tag ? `:${loc.tag}` : ''}`;
  }
}
