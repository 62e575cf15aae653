import type { Readable } from 'node:stream';
import { InvalidContentError, NotFoundError, UsageError } from '../errors.js';
import type { ImageSource, ManifestHead } from '../content/types.js';
import { digestOf, isValidDigest, parseDigest } from '../oci/digest.js';
import { manifestMediaType, parseManifest, type Descriptor, type ImageIndex, type ManifestData } from '../oci/manifest.js';
import { MediaType } from '../oci/mediatypes.js';
import type { LayoutFiles } from './files.js';

/** The annotation OCI layouts use to name an index.json entry (skopeo, umoci, buildah, oras). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
export const LAYOUT_VERSION = '1.0.0';
const MAX_MANIFEST = 4 << 20;

export function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** The tag an index.json entry carries (its ref.name annotation), if any. */
export function entryTag(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME] || undefined;
}

/**
 * An OCI image layout (directory or tar) read as an ImageSource. Tags are index.json entries
 * with `org.opencontainers.image.ref.name`; any manifest blob is reachable by digest.
 */
export class LayoutReader implements ImageSource {
  constructor(
    protected readonly files: LayoutFiles,
    readonly description: string,
  ) {}

  /** index.json, or an empty index when the layout has none yet. */
  async readIndex(): Promise<ImageIndex> {
    const bytes = await this.files.read('index.json', 64 << 20);
    if (!bytes) return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    try {
      const m = parseManifest(bytes, MediaType.ociIndex);
      if (!('manifests' in m)) throw new Error('not an index');
      return m;
    } catch (e) {
      throw new InvalidContentError(`${this.description}: index.json is invalid: ${(e as Error).message}`, 'LAYOUT_INVALID');
    }
  }

  /** Check the layout marker so a random directory or tar is reported as such. */
  async checkLayout(): Promise<void> {
    const marker = await this.files.read('oci-layout', 64 << 10);
    if (!marker) {
      throw new InvalidContentError(`${this.description} is not an OCI image layout (no oci-layout file)`, 'LAYOUT_INVALID');
    }
    try {
      const v = (JSON.parse(marker.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      if (typeof v !== 'string' || !v.startsWith('1.')) throw new Error(`version ${String(v)}`);
    } catch (e) {
      throw new InvalidContentError(`${this.description}: unsupported oci-layout file (${(e as Error).message})`, 'LAYOUT_INVALID');
    }
  }

  async listTags(): Promise<string[]> {
    const index = await this.readIndex();
    const tags = index.manifests.map(entryTag).filter((t): t is string => t !== undefined);
    return [...new Set(tags)].sort();
  }

  /** What a location without a tag means: the only image in the layout. */
  async defaultRef(): Promise<string> {
    const index = await this.readIndex();
    if (index.manifests.length === 1) {
      const only = index.manifests[0]!;
      return entryTag(only) ?? only.digest;
    }
    if (index.manifests.length === 0) throw new NotFoundError(`${this.description} holds no images`, 'MANIFEST_UNKNOWN');
    const tags = await this.listTags();
    throw new UsageError(`${this.description} holds ${index.manifests.length} images; name one with :TAG (tags: ${tags.join(', ') || 'none'})`);
  }

  async headManifest(ref: string): Promise<ManifestHead | undefined> {
    const index = await this.readIndex();
    if (isValidDigest(ref)) {
      const listed = index.manifests.find((d) => d.digest === ref);
      if (listed) return { digest: listed.digest, mediaType: listed.mediaType, size: listed.size };
      const bytes = await this.files.read(blobPath(ref), MAX_MANIFEST);
      if (!bytes) return undefined;
      return { digest: ref, mediaType: manifestMediaType(parseManifest(bytes)), size: bytes.length };
    }
    const entry = index.manifests.find((d) => entryTag(d) === ref);
    return entry ? { digest: entry.digest, mediaType: entry.mediaType, size: entry.size } : undefined;
  }

  async getManifest(ref: string): Promise<ManifestData> {
    const head = await this.headManifest(ref);
    if (!head) throw new NotFoundError(`manifest ${ref} not found in ${this.description}`, 'MANIFEST_UNKNOWN');
    const bytes = await this.files.read(blobPath(head.digest), MAX_MANIFEST);
    if (!bytes) throw new NotFoundError(`${this.description}: manifest blob ${head.digest} is missing`, 'MANIFEST_BLOB_UNKNOWN');
    const actual = digestOf(bytes, parseDigest(head.digest).algorithm);
    if (actual !== head.digest) {
      throw new InvalidContentError(`${this.description}: manifest ${head.digest} digest mismatch (got ${actual})`, 'DIGEST_MISMATCH');
    }
    const mediaType = manifestMediaType(parseManifest(bytes, head.mediaType), head.mediaType);
    return { bytes, mediaType, digest: head.digest };
  }

  async getBlob(desc: Descriptor): Promise<Readable> {
    const stream = await this.files.open(blobPath(desc.digest));
    if (!stream) throw new NotFoundError(`blob ${desc.digest} is missing from ${this.description}`, 'BLOB_UNKNOWN');
    return stream;
  }
}
