import { DigestMismatchError, InvalidContentError, NotFoundError } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { isIndex, parseManifest, type Descriptor, type ManifestData, type Platform } from '../oci/manifest.js';
import { formatPlatform, platformMatches } from '../oci/platform.js';
import type { ImageSource } from './types.js';

/** Image configs are small JSON; anything near this is not one. */
const CONFIG_LIMIT = 8 * 1024 * 1024;

/** The image chosen for a platform: an index's child (bytes not fetched), or the image itself. */
export interface PlatformChoice {
  digest: string;
  mediaType: string;
  /** Set when the manifest was the image itself (already read). */
  data?: ManifestData;
}

/**
 * The one place `--platform` is decided (copy, export, inspect, digest, manifest): from an
 * index, the child for `wanted`; a single image only when its config says it is that platform,
 * so asking for linux/arm64 of an amd64-only image is an error naming what the image is, as
 * it is for an index without that platform. `where` names the image in messages.
 */
export async function choosePlatform(source: ImageSource, where: string, data: ManifestData, wanted: Platform): Promise<PlatformChoice> {
  const m = parseManifest(data.bytes, data.mediaType);
  if (isIndex(m)) {
    const child = m.manifests.find((d) => platformMatches(wanted, d.platform));
    if (!child) {
      const have = m.manifests.map((d) => formatPlatform(d.platform)).join(', ');
      throw new NotFoundError(`${where} has no ${formatPlatform(wanted)} image (it has ${have || 'none'})`, 'PLATFORM_NOT_FOUND');
    }
    return { digest: child.digest, mediaType: child.mediaType };
  }
  const config = 'config' in m && m.config ? await readConfigJson(source, m.config) : {};
  const own = configPlatform(config);
  if (!own) throw new NotFoundError(`${where} has no ${formatPlatform(wanted)} image: its config names no platform`, 'PLATFORM_NOT_FOUND');
  if (!platformMatches(wanted, own)) {
    throw new NotFoundError(`${where} has no ${formatPlatform(wanted)} image: it is a single-platform ${formatPlatform(own)} image`, 'PLATFORM_NOT_FOUND');
  }
  return { digest: data.digest, mediaType: data.mediaType, data };
}

/** `os`/`architecture`/`variant` of an image config, when it names them. */
export function configPlatform(config: Record<string, unknown>): Platform | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  return { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
}

/** An image config blob, size-bounded and digest-verified, parsed ({} when it is not a JSON object). */
export async function readConfigJson(source: ImageSource, desc: Descriptor): Promise<Record<string, unknown>> {
  if (desc.size > CONFIG_LIMIT) throw new InvalidContentError(`config blob ${desc.digest} is ${desc.size} bytes; too large to read`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await source.getBlob(desc)) {
    n += (c as Buffer).length;
    if (n > CONFIG_LIMIT) throw new InvalidContentError(`config blob ${desc.digest} is larger than announced`);
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = digestOf(bytes, desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, 'config blob');
  try {
    const j = JSON.parse(bytes.toString('utf8')) as unknown;
    return typeof j === 'object' && j !== null && !Array.isArray(j) ? (j as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** `description:tag` or `description@digest`, for messages. */
export function describeRef(description: string, ref: string): string {
  return `${description}${/^[a-z0-9]+:[a-f0-9]+$/.test(ref) ? '@' : ':'}${ref}`;
}
