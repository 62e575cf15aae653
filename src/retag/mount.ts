import { RegctlError } from '../errors.js';
import { isIndex, parseManifest, referencedBlobs, type Descriptor, type ManifestData } from '../oci/manifest.js';
import pLimit from 'p-limit';
import type { RetagRepository } from './repository.js';

/**
 * Make everything a manifest references present in another repository of the same registry
 * by cross-repository mounts: no blob byte crosses the network. For an index, each child
 * manifest's blobs are mounted and the child manifest is PUT by digest before the index.
 */

export interface MountStats {
  blobsMounted: number;
  blobsPresent: number;
  manifestsCopied: number;
}

// Foreign and non-distributable layers live outside the registry (their `urls`): nothing to mount.
function isExternal(desc: Descriptor): boolean {
  return /foreign|nondistributable/.test(desc.mediaType);
}

export async function mountManifestContent(
  source: RetagRepository,
  sourceName: string,
  target: RetagRepository,
  manifest: ManifestData,
  stats: MountStats = { blobsMounted: 0, blobsPresent: 0, manifestsCopied: 0 },
  concurrency = 8,
): Promise<MountStats> {
  const m = parseManifest(manifest.bytes, manifest.mediaType);
  if (isIndex(m)) {
    for (const child of m.manifests) {
      if (await target.headManifest(child.digest)) continue;
      const data = await source.getManifest(child.digest);
      await mountManifestContent(source, sourceName, target, data, stats, concurrency);
      await target.putManifest(child.digest, data);
      stats.manifestsCopied++;
    }
    return stats;
  }
  const blobs = referencedBlobs(m).filter((d) => !isExternal(d));
  await pLimit(concurrency).map(blobs, async (desc) => {
    if (await target.mountBlob(desc, sourceName)) {
      stats.blobsMounted++;
      return;
    }
    // The registry may answer a mount with a plain upload session when the blob is already there.
    if (await target.hasBlob(desc)) {
      stats.blobsPresent++;
      return;
    }
    throw new RegctlError(
      'MOUNT_REFUSED',
      `${target.description} did not mount blob ${desc.digest} from ${sourceName}; use regctl copy to transfer the image`,
    );
  });
  return stats;
}
