import { DigestMismatchError, InvalidContentError, UsageError } from '../errors.js';
import { choosePlatform, describeRef } from '../content/platform.js';
import type { ImageSource } from '../content/types.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { isIndex, parseManifest, type Descriptor, type ImageManifest, type ManifestData, type Platform } from '../oci/manifest.js';
import { formatPlatform } from '../oci/platform.js';
import { CONFIG_LIMIT } from './types.js';

export interface ImageRef {
  source: ImageSource;
  /** Tag or digest. */
  ref: string;
}

export interface ResolvedImage {
  /** The image manifest (an index's child when one was chosen). */
  manifest: ManifestData;
  image: ImageManifest;
}

/**
 * The single image `ref` names: itself, or the child of an index for `platform`. An index
 * without `platform` is a usage error listing its platforms (no guess at the caller's).
 */
export async function resolveImage(at: ImageRef, platform?: Platform): Promise<ResolvedImage> {
  const where = describeRef(at.source.description, at.ref);
  let data = await at.source.getManifest(at.ref);
  let m = parseManifest(data.bytes, data.mediaType);
  if (isIndex(m) && platform === undefined) {
    const have = m.manifests.map((d) => formatPlatform(d.platform)).join(', ');
    throw new UsageError(`${where} is an index: pick an image with --platform (it has ${have || 'none'})`);
  }
  if (platform !== undefined) {
    const chosen = await choosePlatform(at.source, where, data, platform);
    data = chosen.data ?? (await at.source.getManifest(chosen.digest));
    m = parseManifest(data.bytes, data.mediaType);
  }
  if (isIndex(m)) throw new InvalidContentError(`${where}: the image for the platform is itself an index`);
  return { manifest: data, image: m };
}

/** A config blob's bytes, bounded and verified against its digest. */
export async function readConfigBytes(source: ImageSource, desc: Descriptor): Promise<Buffer> {
  if (desc.size > CONFIG_LIMIT) throw new InvalidContentError(`config blob ${desc.digest} is ${desc.size} bytes; too large to read`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await source.getBlob(desc)) {
    n += (c as Buffer).length;
    if (n > CONFIG_LIMIT || n > desc.size) throw new InvalidContentError(`config blob ${desc.digest} is larger than announced`);
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = digestOf(bytes, parseDigest(desc.digest).algorithm);
  if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, 'config blob');
  return bytes;
}

export interface ImageConfig {
  /** The image manifest's digest (the platform's, from an index). */
  manifestDigest: string;
  config: Descriptor;
  /** The config blob exactly as stored. */
  bytes: Buffer;
}

/** The config JSON of an image (of one platform of an index), byte for byte. */
export async function imageConfig(at: ImageRef, platform?: Platform): Promise<ImageConfig> {
  const { manifest, image } = await resolveImage(at, platform);
  return { manifestDigest: manifest.digest, config: image.config, bytes: await readConfigBytes(at.source, image.config) };
}
