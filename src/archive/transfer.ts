import { UsageError } from '../errors.js';
import type { ImageSource, ImageTarget } from '../content/types.js';
import { isIndex, parseManifest, referencedBlobs, type Descriptor, type ManifestData, type Platform } from '../oci/manifest.js';
import { formatPlatform, platformMatches } from '../oci/platform.js';
import { DockerArchiveSource, type PushEvent } from './docker/source.js';
import { DockerArchiveWriter } from './docker/writer.js';

export interface TransferOptions {
  source: ImageSource;
  /** Tag or digest at the source. */
  ref: string;
  target: ImageTarget;
  /** Tag at the target; by digest when absent. */
  tag?: string;
  /** Take just this platform out of an index. */
  platform?: Platform;
  /** Blob progress (the copy engine's event shape). */
  onEvent?: (e: PushEvent) => void;
}

export interface TransferResult {
  digest: string;
  mediaType: string;
  blobs: { copied: number; skipped: number };
  bytes: number;
}

/**
 * A plain sequential copy of one image (or index) between any source and target: blobs first,
 * child manifests by digest, the tag last, then commit — so a failure leaves no tag behind
 * (abort is called instead). A docker-archive source pushes itself (gzip while streaming into
 * putBlobComputed); `regctl import` uses this for docker-archive sources and the copy engine
 * for everything else.
 */
export async function transferImage(o: TransferOptions): Promise<TransferResult> {
  const result: TransferResult = { digest: '', mediaType: '', blobs: { copied: 0, skipped: 0 }, bytes: 0 };
  const { source, target } = o;
  try {
    let root: ManifestData;
    if (source instanceof DockerArchiveSource) {
      root = await source.pushTo(target, o.tag ?? o.ref, (e) => {
        if (e.type === 'blob-done') {
          if (e.outcome === 'copied') {
            result.blobs.copied++;
            result.bytes += e.bytes;
          } else result.blobs.skipped++;
        }
        o.onEvent?.(e);
      });
    } else {
      root = await source.getManifest(o.ref);
      let m = parseManifest(root.bytes, root.mediaType);
      if (isIndex(m) && o.platform) {
        const wanted = o.platform;
        const child = m.manifests.find((d) => platformMatches(wanted, d.platform));
        if (!child) {
          throw new UsageError(`${source.description} has no ${formatPlatform(wanted)} image (it has ${m.manifests.map((d) => formatPlatform(d.platform)).join(', ')})`);
        }
        root = await source.getManifest(child.digest);
        m = parseManifest(root.bytes, root.mediaType);
      }
      if (isIndex(m)) {
        if (target instanceof DockerArchiveWriter) {
          const platforms = m.manifests.map((d) => formatPlatform(d.platform)).join(', ');
          throw new UsageError(`${target.description}: a docker-archive holds one image, and ${o.ref} is a multi-platform index (${platforms}): choose one with --platform`);
        }
        for (const child of m.manifests) {
          const data = await source.getManifest(child.digest);
          const cm = parseManifest(data.bytes, data.mediaType);
          if (isIndex(cm)) throw new UsageError(`${source.description}: nested index ${child.digest} is not supported here`);
          await copyBlobs(referencedBlobs(cm), o, result);
          await target.putManifest(data.digest, data);
        }
      } else {
        await copyBlobs(referencedBlobs(m), o, result);
      }
      await target.putManifest(o.tag ?? root.digest, root);
    }
    await target.commit?.();
    result.digest = root.digest;
    result.mediaType = root.mediaType;
    return result;
  } catch (e) {
    await target.abort?.();
    throw e;
  }
}

async function copyBlobs(descs: Descriptor[], o: TransferOptions, result: TransferResult): Promise<void> {
  for (const desc of descs) {
    const { digest, size, mediaType } = desc;
    o.onEvent?.({ type: 'blob-queued', digest, size, mediaType });
    if (await o.target.hasBlob(desc)) {
      result.blobs.skipped++;
      o.onEvent?.({ type: 'blob-done', digest, size, outcome: 'skipped', bytes: 0 });
      continue;
    }
    o.onEvent?.({ type: 'blob-start', digest, size, mediaType });
    await o.target.putBlob(desc, await o.source.getBlob(desc));
    result.blobs.copied++;
    result.bytes += desc.size;
    o.onEvent?.({ type: 'blob-done', digest, size, outcome: 'copied', bytes: size });
  }
}
