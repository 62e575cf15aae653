import type { ImageSource } from '../../content/types.js';
import type { Location } from '../../content/location.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';

/** What the read-only commands (inspect, digest, manifest, tags) read from. */
export interface ReadSource {
  source: ImageSource;
  /** Tag or digest to read (resolved by layouts/archives when the location names none). */
  ref: string;
  /** The location as printed in --json `reference` / `repository`. */
  reference: string;
  location: Location;
  close(): Promise<void>;
}

/** Registry options for a command: --verbose request log, the caller's environment. */
export function registryOptions(ctx: CommandContext, out: Output): { env?: NodeJS.ProcessEnv; verbose?: (l: string) => void } {
  return { env: ctx.streams.env, ...(out.verbose ? { verbose: (l: string) => out.debug(l) } : {}) };
}

/**
 * Open a registry reference or an `oci:` / `oci-archive:` / `docker-archive:` location.
 * A docker-archive is read as it is (layers uncompressed, digests = diff_ids, as skopeo shows
 * it): no layer is gzipped just to be looked at.
 * `listing` (tags) opens a layout without picking one of its images.
 */
export async function openReadSource(ctx: CommandContext, out: Output, input: string, listing = false): Promise<ReadSource> {
  const { isArchiveLocation, parseLocation, formatLocation } = await import('../../content/location.js');
  const { openSource } = await import('../../wiring/open-location.js');
  const registry = registryOptions(ctx, out);
  if (!isArchiveLocation(input)) {
    const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
    const ref = parseReference(input);
    const opened = await openSource({ kind: 'registry', ref }, { registry });
    return { source: opened.source, ref: manifestRef(ref), reference: formatReference(ref), location: opened.location, close: opened.close };
  }
  let location = parseLocation(input);
  if (listing && (location.kind === 'oci' || location.kind === 'oci-archive')) {
    // The layout's tags are wanted, not one image: name a ref so that none has to be chosen.
    location = { kind: location.kind, path: location.path, tag: 'latest' };
  }
  const opened = await openSource(location, { registry, ...(location.kind !== 'registry' && location.path === '-' ? { stdin: ctx.streams.stdin } : {}), compress: false });
  let reference = formatLocation(location);
  if (location.kind === 'docker-archive') {
    if (listing) reference = formatLocation({ kind: location.kind, path: location.path, ...(location.name ? { name: location.name } : {}) });
  } else if (location.kind !== 'registry') {
    // Name what was read: `oci:dir` holding one image tagged v1 is `oci:dir:v1`; for tags, the layout.
    const resolved = listing ? {} : opened.ref.includes(':') ? { digest: opened.ref } : { tag: opened.ref };
    reference = formatLocation({ kind: location.kind, path: location.path, ...resolved });
  }
  return { source: opened.source, ref: opened.ref, reference, location, close: opened.close };
}
