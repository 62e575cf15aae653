import type { StreamedImage } from '../content/types.js';
import type { Descriptor, ManifestData } from '../oci/manifest.js';
import type { CopySession } from './blob-transfer.js';

/**
 * Put a streamed image's blobs in place (a docker-archive's layers gzipped on the way, whose
 * digests are known only once they have streamed), all through the session: one limiter, one
 * set of events, one failure. Returns the manifest over the digests the blobs turned out to
 * have; the caller then tags it as for any other image (the blobs are known to the session, so
 * they are not transferred again).
 */
export async function placeStreamed(session: CopySession, image: StreamedImage): Promise<ManifestData> {
  const results = await Promise.allSettled(
    image.blobs.map(async (blob): Promise<Descriptor> => {
      if (blob.kind === 'computed') return session.copyComputed(blob);
      try {
        // Learning a digest may mean reading the blob once (an already gzipped layer): bounded too.
        const entry = await session.limiter.run(() => {
          session.checkAlive();
          return blob.prepare();
        });
        await session.copyBlob(entry.desc, entry.open);
        return entry.desc;
      } catch (e) {
        session.fail(e);
        throw e;
      }
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  session.checkAlive();
  return image.manifest(results.map((r) => (r as PromiseFulfilledResult<Descriptor>).value));
}
