import type { Descriptor } from '../../oci/manifest.js';
import type { ManifestRecord } from './types.js';

/** What the referrers API lists for a stored manifest. */
export function referrerDescriptor(m: ManifestRecord): Descriptor {
  const desc: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  if (m.artifactType) desc.artifactType = m.artifactType;
  if (m.annotations && Object.keys(m.annotations).length > 0) desc.annotations = m.annotations;
  return desc;
}

/** The subject digest of stored manifest bytes (they were validated on push; this never throws). */
export function subjectOf(bytes: Buffer | undefined): string | undefined {
  if (!bytes) return undefined;
  try {
    const j = JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: unknown } };
    return typeof j.subject?.digest === 'string' ? j.subject.digest : undefined;
  } catch {
    return undefined;
  }
}
