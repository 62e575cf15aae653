import { InterruptedError, type RegctlError, UsageError } from '../../errors.js';
import type { ImageTarget } from '../../content/types.js';
import type { Location } from '../../content/location.js';
import type { OpenedSource, OpenedTarget } from '../../wiring/open-location.js';
import type { PushEvent } from '../../archive/docker/source.js';

/**
 * The one path by which a docker-archive image reaches any target, for both `regctl import`
 * and `regctl copy`: the archive pushes itself (DockerArchiveSource.pushTo via transferImage),
 * gzipping each uncompressed layer while it streams into the target's putBlobComputed, so no
 * layer is spooled to a temporary file first. Blobs, then the manifest under every tag, then
 * commit; on failure the target is aborted and nothing is tagged.
 */
export interface ArchivePushOptions {
  source: OpenedSource;
  target: OpenedTarget;
  /** Tags at the target (at least one: the manifest's digest is only known once it is pushed). */
  tags: string[];
  onEvent?: (e: PushEvent) => void;
  /** Ctrl-C: stop the transfers in flight; nothing is tagged. */
  signal?: AbortSignal;
}

export interface ArchivePushResult {
  digest: string;
  mediaType: string;
  blobs: { copied: number; skipped: number };
  bytes: number;
}

export const interrupted = (): RegctlError => new InterruptedError('copy interrupted: nothing was tagged after the interruption');

/**
 * A tar archive written to standard output when that is a terminal would fill it with binary
 * noise (and can upset it): refuse, as `docker save` does.
 */
export function refuseTarToTerminal(loc: Location, stdout: { isTTY?: boolean }): void {
  if (loc.kind !== 'registry' && loc.path === '-' && stdout.isTTY) {
    throw new UsageError('refusing to write a tar archive to a terminal; redirect stdout or name a file');
  }
}

/** Is this the kind of source pushArchive takes? */
export function isDockerArchive(source: OpenedSource): boolean {
  return source.location.kind === 'docker-archive';
}

export async function pushArchive(o: ArchivePushOptions): Promise<ArchivePushResult> {
  if (o.tags.length === 0) throw new UsageError('a docker-archive image needs a destination tag');
  const { transferImage } = await import('../../archive/transfer.js');
  const target = guard(o.target.target, o.tags, o.signal);
  try {
    return await transferImage({ source: o.source.source, ref: o.source.ref, target, tag: o.tags[0], onEvent: o.onEvent });
  } catch (e) {
    if (o.signal?.aborted) throw interrupted();
    throw e;
  }
}

/**
 * The target as transferImage sees it: the manifest put under the first tag lands under every
 * tag, and after an interruption each body in flight is destroyed and nothing more is written.
 */
function guard(target: ImageTarget, tags: string[], signal: AbortSignal | undefined): ImageTarget {
  const inFlight = new Set<NodeJS.ReadableStream & { destroy(e?: Error): void }>();
  signal?.addEventListener('abort', () => {
    for (const body of inFlight) body.destroy(interrupted());
  }, { once: true });
  const check = (): void => {
    if (signal?.aborted) throw interrupted();
  };
  const track = async <T>(body: NodeJS.ReadableStream & { destroy(e?: Error): void }, run: () => Promise<T>): Promise<T> => {
    check();
    inFlight.add(body);
    try {
      return await run();
    } finally {
      inFlight.delete(body);
    }
  };
  const putBlobComputed = target.putBlobComputed?.bind(target);
  return {
    description: target.description,
    headManifest: (ref) => target.headManifest(ref),
    hasBlob: (desc) => target.hasBlob(desc),
    putBlob: (desc, body, onProgress) => track(body, () => target.putBlob(desc, body, onProgress)),
    ...(putBlobComputed ? { putBlobComputed: (body, mediaType, onProgress) => track(body, () => putBlobComputed(body, mediaType, onProgress)) } : {}),
    async putManifest(ref, data) {
      check();
      if (ref !== tags[0]) return target.putManifest(ref, data);
      for (const tag of tags) {
        check();
        await target.putManifest(tag, data);
      }
    },
    ...(target.commit ? { commit: () => target.commit!() } : {}),
    ...(target.abort ? { abort: () => target.abort!() } : {}),
  };
}

/**
 * The image name a docker-archive destination records in RepoTags when its location names
 * none: the source repository (`localhost:5000/app`), or the source archive's own name.
 */
export function defaultArchiveName(srcLoc: Location, source: OpenedSource): string | undefined {
  if (srcLoc.kind === 'registry') return `${srcLoc.ref.registry}/${srcLoc.ref.repository}`;
  if (srcLoc.kind !== 'docker-archive') return undefined;
  if (srcLoc.name) return srcLoc.name;
  const first = (source.source as { image?: { repoTags?: string[] } }).image?.repoTags?.[0];
  if (!first) return undefined;
  const colon = first.lastIndexOf(':');
  return colon > first.lastIndexOf('/') ? first.slice(0, colon) : first;
}
