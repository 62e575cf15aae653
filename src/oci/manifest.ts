import { InvalidContentError } from '../errors.js';
import { isValidDigest } from './digest.js';
import { isIndexMediaType, isImageManifestMediaType, MediaType } from './mediatypes.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type Manifest = ImageManifest | ImageIndex;

/** Manifest bytes as served, with what the registry said about them. Never re-serialise `bytes`. */
export interface ManifestData {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export function isIndex(m: Manifest): m is ImageIndex {
  return Array.isArray((m as ImageIndex).manifests);
}

function checkDescriptor(d: unknown, where: string): asserts d is Descriptor {
  if (typeof d !== 'object' || d === null) throw new InvalidContentError(`${where}: descriptor is not an object`, 'MANIFEST_INVALID');
  const desc = d as Record<string, unknown>;
  if (typeof desc.mediaType !== 'string') throw new InvalidContentError(`${where}: missing mediaType`, 'MANIFEST_INVALID');
  if (typeof desc.digest !== 'string' || !isValidDigest(desc.digest)) {
    throw new InvalidContentError(`${where}: invalid digest`, 'MANIFEST_INVALID');
  }
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new InvalidContentError(`${where}: invalid size`, 'MANIFEST_INVALID');
  }
}

/**
 * Parse manifest bytes and check the structure enough to walk it safely. `mediaType` is the
 * Content-Type it came with (used when the JSON has no mediaType field).
 */
export function parseManifest(bytes: Uint8Array, mediaType?: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new InvalidContentError('manifest is not valid JSON', 'MANIFEST_INVALID');
  }
  return manifestFromJson(json, mediaType);
}

/** parseManifest for JSON already parsed (a 4 MiB manifest costs its parse: do it once). */
export function manifestFromJson(json: unknown, mediaType?: string): Manifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidContentError('manifest is not a JSON object', 'MANIFEST_INVALID');
  }
  const m = json as Record<string, unknown>;
  if (m.schemaVersion !== 2) throw new InvalidContentError(`unsupported manifest schemaVersion ${String(m.schemaVersion)}`, 'MANIFEST_INVALID');
  const mt = typeof m.mediaType === 'string' ? m.mediaType : mediaType;
  const looksIndex = Array.isArray(m.manifests);
  if (looksIndex || isIndexMediaType(mt)) {
    if (!Array.isArray(m.manifests)) throw new InvalidContentError('index has no manifests array', 'MANIFEST_INVALID');
    m.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
  } else {
    if (mt !== undefined && !isImageManifestMediaType(mt) && typeof m.mediaType === 'string') {
      throw new InvalidContentError(`unsupported manifest media type ${mt}`, 'MANIFEST_INVALID');
    }
    checkDescriptor(m.config, 'config');
    if (!Array.isArray(m.layers)) throw new InvalidContentError('manifest has no layers array', 'MANIFEST_INVALID');
    m.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
  }
  if (m.subject !== undefined) checkDescriptor(m.subject, 'subject');
  return json as Manifest;
}

/** The media type of a manifest: its own field, else the one it was served with, else guessed. */
export function manifestMediaType(m: Manifest, served?: string): string {
  if (m.mediaType) return m.mediaType;
  if (served && served !== 'application/json' && served !== 'application/octet-stream') return served;
  return isIndex(m) ? MediaType.ociIndex : MediaType.ociManifest;
}

/** Blobs an image manifest references (config first, then layers). */
export function referencedBlobs(m: ImageManifest): Descriptor[] {
  return [m.config, ...m.layers];
}
