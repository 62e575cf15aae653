import { jsonDepth } from '../../oci/json-depth.js';
import { isIndex, manifestFromJson, type Descriptor, type Manifest } from '../../oci/manifest.js';
import { isIndexMediaType, isSchema1MediaType, isValidMediaType, MediaType } from '../../oci/mediatypes.js';
import { isValidDigest } from '../../oci/digest.js';
import { OciError } from '../protocol/errors.js';

/**
 * What the registry accepts as a manifest body, before anything is stored. Whatever passes is
 * safe to keep, serve back and list: its type is one of four registry types (the only values
 * ever sent as a manifest's Content-Type), it nests shallowly (listing referrers serialises
 * their annotations again), and every media type in it is RFC 6838 syntax.
 */

/** Deeper than any real manifest (they nest 4-5 levels); far below where recursion hurts. */
export const MAX_MANIFEST_DEPTH = 64;

/** The types a manifest is stored and served as. */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList]);

/** Content types that say nothing about the manifest: the body's own mediaType decides. */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

const invalid = (message: string, detail?: unknown) => new OciError('MANIFEST_INVALID', message, detail === undefined ? {} : { detail });

/** Parse and check a pushed manifest; resolves the media type it is stored and served with. */
export function acceptManifest(bytes: Buffer, contentType: string): { manifest: Manifest; mediaType: string } {
  if (isSchema1MediaType(contentType) && contentType !== 'application/json') throw invalid('Docker schema 1 manifests are not supported');
  if (!GENERIC_TYPES.has(contentType) && !MANIFEST_TYPES.has(contentType)) {
    throw invalid(`unsupported manifest Content-Type ${quote(contentType)}: expected one of ${[...MANIFEST_TYPES].join(', ')}`);
  }
  // Before JSON.parse: nothing below this line recurses over an unbounded structure.
  if (jsonDepth(bytes, MAX_MANIFEST_DEPTH) > MAX_MANIFEST_DEPTH) throw invalid(`manifest JSON nests deeper than ${MAX_MANIFEST_DEPTH} levels`);
  const manifest = parse(bytes, contentType);
  const mediaType = storedMediaType(manifest, contentType);
  if (isIndexMediaType(mediaType) !== isIndex(manifest)) {
    throw invalid(isIndex(manifest) ? `an index (it has manifests) cannot be stored as ${mediaType}` : `an image manifest (no manifests array) cannot be stored as ${mediaType}`);
  }
  checkFields(manifest);
  return { manifest, mediaType };
}

function parse(bytes: Buffer, contentType: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  const r = raw as { schemaVersion?: unknown; mediaType?: unknown };
  if (r && typeof r === 'object' && (r.schemaVersion === 1 || isSchema1MediaType(typeof r.mediaType === 'string' ? r.mediaType : undefined))) {
    throw invalid('Docker schema 1 manifests are not supported');
  }
  try {
    return manifestFromJson(raw, GENERIC_TYPES.has(contentType) ? undefined : contentType);
  } catch (e) {
    throw invalid((e as Error).message);
  }
}

/** The pushed Content-Type; the body's own mediaType when the header is generic; else guessed from the shape. */
function storedMediaType(m: Manifest, contentType: string): string {
  const own: unknown = m.mediaType;
  if (own !== undefined && (typeof own !== 'string' || !MANIFEST_TYPES.has(own))) {
    throw invalid(`unsupported manifest mediaType ${quote(own)}: expected one of ${[...MANIFEST_TYPES].join(', ')}`);
  }
  if (!GENERIC_TYPES.has(contentType)) {
    if (own !== undefined && own !== contentType) throw invalid(`Content-Type ${contentType} does not match the manifest's mediaType ${own}`);
    return contentType;
  }
  if (own !== undefined) return own;
  return isIndex(m) ? MediaType.ociIndex : MediaType.ociManifest;
}

/** artifactType, every descriptor's media types and every annotation map. */
function checkFields(m: Manifest): void {
  if (m.artifactType !== undefined && !isValidMediaType(m.artifactType)) throw invalid(`artifactType ${quote(m.artifactType)} is not a media type (RFC 6838)`);
  checkAnnotations(m.annotations, 'annotations');
  const descriptors: Array<[Descriptor, string]> = isIndex(m)
    ? m.manifests.map((d, i) => [d, `manifests[${i}]`])
    : [[m.config, 'config'], ...m.layers.map((d, i): [Descriptor, string] => [d, `layers[${i}]`])];
  if (m.subject) descriptors.push([m.subject, 'subject']);
  for (const [d, where] of descriptors) {
    if (!isValidMediaType(d.mediaType)) throw invalid(`${where}.mediaType ${quote(d.mediaType)} is not a media type (RFC 6838)`);
    if (d.artifactType !== undefined && !isValidMediaType(d.artifactType)) throw invalid(`${where}.artifactType ${quote(d.artifactType)} is not a media type (RFC 6838)`);
    checkAnnotations(d.annotations, `${where}.annotations`);
  }
}

function checkAnnotations(a: unknown, where: string): void {
  if (a === undefined) return;
  if (!isStringMap(a)) throw invalid(`${where} must map strings to strings`);
}

function isStringMap(a: unknown): a is Record<string, string> {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return false;
  return Object.values(a).every((v) => typeof v === 'string');
}

/**
 * A stored referrer record as the referrers API may list it, or undefined when it is not one
 * (stored before these checks existed, or edited on disk): listing it could fail or carry a
 * structure a client cannot take.
 */
export function listableReferrer(d: unknown): Descriptor | undefined {
  if (typeof d !== 'object' || d === null) return undefined;
  const r = d as Record<string, unknown>;
  if (!isValidMediaType(r.mediaType) || typeof r.digest !== 'string' || !isValidDigest(r.digest)) return undefined;
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) return undefined;
  if (r.artifactType !== undefined && !isValidMediaType(r.artifactType)) return undefined;
  if (r.annotations !== undefined && !isStringMap(r.annotations)) return undefined;
  const out: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size };
  if (r.artifactType !== undefined) out.artifactType = r.artifactType;
  if (r.annotations !== undefined) out.annotations = r.annotations;
  return out;
}

/** A client-sent value for an error message: JSON-quoted (no raw control characters), clipped. */
function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : String(JSON.stringify(v) ?? typeof v).slice(0, 200);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

/**
 * The Content-Type a stored manifest is served with: its stored type when it is a registry type;
 * else (stored by an older version that took any Content-Type) the body's own mediaType or its
 * shape. Never a stored value that could be text/html or break the header line.
 */
export function servedMediaType(stored: { mediaType: string; bytes: Buffer }): string {
  if (MANIFEST_TYPES.has(stored.mediaType)) return stored.mediaType;
  try {
    const j = JSON.parse(stored.bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof j.mediaType === 'string' && MANIFEST_TYPES.has(j.mediaType)) return j.mediaType;
    return Array.isArray(j.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  } catch {
    return 'application/octet-stream';
  }
}
