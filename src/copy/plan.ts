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

/** What a destination's text names by itself (no tag filled in); undefined for an archive. */
export interface NamedRef {
  tag?: string;
  digest?: string;
}

/** The source's own tag, when its ref is one (not a digest). */
function tagOfRef(ref: string | undefined): string | undefined {
  return ref !== undefined && !ref.includes(':') ? ref : undefined;
}

/** `copy`'s flag combinations that make no sense, refused before anything is opened. */
export function checkCopyFlags(o: { src: Location; dst: Location; allTags: boolean; tags: boolean; platform: boolean; filters: boolean }): void {
  if (!o.allTags && o.filters) throw new UsageError('--include, --exclude and --skip-existing go with --all-tags');
  if (!o.allTags) return;
  if (o.src.kind !== 'registry' || o.dst.kind !== 'registry') throw new UsageError('--all-tags copies between registry repositories');
  if (o.tags) throw new UsageError('--tag does not go with --all-tags (each tag keeps its name)');
  if (o.platform) throw new UsageError('--platform does not go with --all-tags');
}

/** Same registry, different repositories: blobs can be mounted instead of uploaded. */
export function mountSource(src: Location, dst: Location): string | undefined {
  if (src.kind !== 'registry' || dst.kind !== 'registry') return undefined;
  return src.ref.registry === dst.ref.registry && src.ref.repository !== dst.ref.repository ? src.ref.repository : undefined;
}

/**
 * `copy`'s destination tags: DST's tag, else SRC's tag is kept; --tag adds more. A digest DST
 * stores by digest only (plus any --tag).
 */
export function copyTags(o: { src: Location; sourceRef: string; dstRef?: NamedRef; targetRef?: string; extra?: string[] }): string[] {
  const dstTag = o.dstRef ? o.dstRef.tag : tagOfRef(o.targetRef);
  const srcTag = o.src.kind === 'registry' ? o.src.ref.tag : tagOfRef(o.sourceRef);
  const first = dstTag ?? (o.dstRef?.digest ? undefined : srcTag);
  return [...new Set([...(first ? [first] : []), ...(o.extra ?? [])])];
}

/** `import`'s destination tag: the one REF names (none for a digest), else the archive's own. */
export function importTag(o: { dstRef?: NamedRef; targetRef?: string; sourceRef: string }): string | undefined {
  const tag = o.dstRef ? (o.dstRef.digest ? undefined : o.dstRef.tag) : o.targetRef;
  return tag ?? tagOfRef(o.sourceRef);
}

/** `export`'s tag (the RepoTags entry or index name): FILE's, else the source's, else `latest`. */
export function exportTag(o: { targetRef?: string; sourceRef: string }): string {
  return o.targetRef ?? tagOfRef(o.sourceRef) ?? 'latest';
}

/** A destination that names a digest must receive exactly that image. */
export function checkDigestDestination(dst: string, wanted: string | undefined, actual: string | undefined, what = 'the source'): void {
  if (wanted !== undefined && wanted !== actual) throw new UsageError(`${dst} names digest ${wanted} but ${what} is ${actual}`);
}
