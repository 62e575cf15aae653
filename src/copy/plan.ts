import type { Location } from '../content/location.js';
import type { ImageSource } from '../content/types.js';
import { UsageError } from '../errors.js';

/**
 * Decisions a copy, import or export makes before anything moves, from the parsed locations
 * alone (pure, so each rule is tested on its own).
 */

/**
 * A tar archive written to standard output when that is a terminal would fill it with binary
 * noise (and can upset it): refuse, as `docker save` does.
 */
export function refuseTarToTerminal(loc: Location, stdout: { isTTY?: boolean }): void {
  if (loc.kind !== 'registry' && loc.path === '-' && stdout.isTTY) {
    throw new UsageError('refusing to write a tar archive to a terminal; redirect stdout or name a file');
  }
}

/**
 * The image name a docker-archive destination records in RepoTags when its location names
 * none: the source repository (`localhost:5000/app`), or the source archive's own name.
 */
export function defaultArchiveName(srcLoc: Location, source: ImageSource): string | undefined {
  if (srcLoc.kind === 'registry') return `${srcLoc.ref.registry}/${srcLoc.ref.repository}`;
  if (srcLoc.kind !== 'docker-archive') return undefined;
  if (srcLoc.name) return srcLoc.name;
  const first = (source as { image?: { repoTags?: string[] } }).image?.repoTags?.[0];
  if (!first) return undefined;
  const colon = first.lastIndexOf(':');
  return colon > first.lastIndexOf('/') ? first.slice(0, colon) : first;
}
