import type { ManifestData } from '../oci/manifest.js';
import { mountManifestContent, type MountStats } from './mount.js';
import type { RetagRepository } from './repository.js';

/**
 * `retag SRC TAG...`: read the manifest bytes once and PUT them under each new tag. Targets in
 * the same repository need no blob traffic at all; targets in another repository of the same
 * registry get the blobs by cross-repository mount first. (Another registry is the CLI's job
 * to refuse: that is a copy.)
 */

export interface RetagTarget {
  repository: RetagRepository;
  /** Repository path on the registry, e.g. `team/app`. */
  name: string;
  tag: string;
}

export type RetagAction = 'create' | 'move' | 'unchanged';

export interface RetagTargetResult {
  repository: string;
  tag: string;
  oldDigest?: string;
  newDigest: string;
  action: RetagAction;
}

export interface RetagOptions {
  source: RetagRepository;
  sourceName: string;
  /** Tag or digest in the source repository. */
  ref: string;
  targets: RetagTarget[];
  dryRun?: boolean;
  onApplied?: (result: RetagTargetResult) => void;
}

export interface RetagResult {
  digest: string;
  mediaType: string;
  targets: RetagTargetResult[];
  mounts: MountStats;
}

export async function retag(options: RetagOptions): Promise<RetagResult> {
  const manifest: ManifestData = await options.source.getManifest(options.ref);
  const mounts: MountStats = { blobsMounted: 0, blobsPresent: 0, manifestsCopied: 0 };
  const mountedInto = new Set<string>();
  const results: RetagTargetResult[] = [];
  for (const t of options.targets) {
    const head = await t.repository.headManifest(t.tag);
    const result: RetagTargetResult = {
      repository: t.repository.description,
      tag: t.tag,
      newDigest: manifest.digest,
      action: !head ? 'create' : head.digest === manifest.digest ? 'unchanged' : 'move',
    };
    if (head) result.oldDigest = head.digest;
    results.push(result);
    if (result.action === 'unchanged' || options.dryRun) continue;
    if (t.name !== options.sourceName && !mountedInto.has(t.name)) {
      await mountManifestContent(options.source, options.sourceName, t.repository, manifest, mounts);
      mountedInto.add(t.name);
    }
    await t.repository.putManifest(t.tag, manifest);
    options.onApplied?.(result);
  }
  return { digest: manifest.digest, mediaType: manifest.mediaType, targets: results, mounts };
}
