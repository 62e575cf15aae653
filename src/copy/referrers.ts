import type { ImageSource } from '../content/types.js';
import { NotFoundError } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { isIndex, parseManifest, type Descriptor } from '../oci/manifest.js';
import { MediaType } from '../oci/mediatypes.js';
import type { CopySession } from './blob-transfer.js';

/**
 * After copying referrers of `subject`, make sure the target lists them. A registry with the
 * referrers API indexes them itself; one without it (docker-registry 2.8) is found through the
 * OCI tag schema: an index tagged `<alg>-<hex>` listing the referrers, which we merge into.
 * Only targets that can also be read (registry repositories) are checked.
 */
export async function ensureReferrersListed(session: CopySession, subject: string, referrers: Descriptor[]): Promise<void> {
  const target = session.target as Partial<ImageSource>;
  if (session.dryRun || referrers.length === 0 || typeof target.referrers !== 'function' || typeof target.getManifest !== 'function') return;
  const listed = new Set((await session.manifestLimiter.run(() => target.referrers!(subject))).map((d) => d.digest));
  const missing = referrers.filter((r) => !listed.has(r.digest));
  if (missing.length === 0) return;
  const tag = subject.replace(':', '-');
  let current: Descriptor[] = [];
  try {
    const data = await session.manifestLimiter.run(() => target.getManifest!(tag));
    const m = parseManifest(data.bytes, data.mediaType);
    if (isIndex(m)) current = m.manifests;
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
  const have = new Set(current.map((d) => d.digest));
  const manifests = [...current, ...missing.filter((d) => !have.has(d.digest)).map(entry)];
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await session.putManifest(tag, { bytes, mediaType: MediaType.ociIndex, digest: digestOf(bytes) });
}

/** The descriptor fields the referrers list carries (no platform or urls). */
function entry(d: Descriptor): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
  };
}
