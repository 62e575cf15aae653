import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ImageTarget } from '../../src/content/types.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Descriptor, ManifestData, Platform } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';

/**
 * Test images built in memory from random bytes: real manifests, configs and layers whose
 * digests are correct, small enough to hold whole (tests only; production code streams).
 */
export interface TestBlob {
  desc: Descriptor;
  bytes: Buffer;
}

export interface TestImage {
  manifest: ManifestData;
  config: TestBlob;
  layers: TestBlob[];
  platform: Platform;
}

export interface TestIndex {
  manifest: ManifestData;
  images: TestImage[];
}

export function blob(bytes: Buffer, mediaType: string): TestBlob {
  return { desc: { mediaType, digest: digestOf(bytes), size: bytes.length }, bytes };
}

export interface MakeImageOptions {
  /** Layer sizes in bytes (random, incompressible content). Default: two small layers. */
  layers?: number[];
  platform?: Platform;
  /** Docker v2 schema 2 media types instead of OCI. */
  docker?: boolean;
  labels?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
  /** The config's `created` (default 2026-01-02T03:04:05Z). */
  created?: string;
}

export function makeImage(options: MakeImageOptions = {}): TestImage {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerType = options.docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers = (options.layers ?? [1024, 2048]).map((n) => blob(randomBytes(n), layerType));
  const configJson = {
    created: options.created ?? '2026-01-02T03:04:05Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Labels: options.labels ?? { 'org.example.nonce': randomBytes(4).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l.bytes)) },
    history: layers.map(() => ({ created_by: 'test' })),
  };
  const config = blob(Buffer.from(JSON.stringify(configJson)), options.docker ? MediaType.dockerConfig : MediaType.ociConfig);
  const mediaType = options.docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: config.desc,
    layers: layers.map((l) => l.desc),
    ...(options.subject ? { subject: options.subject } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(body, null, 3));
  return { manifest: { bytes, mediaType, digest: digestOf(bytes) }, config, layers, platform };
}

export function makeIndex(images: TestImage[], options: { docker?: boolean } = {}): TestIndex {
  const mediaType = options.docker ? MediaType.dockerManifestList : MediaType.ociIndex;
  const body = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img) => ({
      mediaType: img.manifest.mediaType,
      digest: img.manifest.digest,
      size: img.manifest.bytes.length,
      platform: img.platform,
    })),
  };
  const bytes = Buffer.from(JSON.stringify(body, null, 2));
  return { manifest: { bytes, mediaType, digest: digestOf(bytes) }, images };
}

/** A two-platform index (linux/amd64, linux/arm64/v8). */
export function makeMultiArch(layerSizes: number[] = [1024, 512]): TestIndex {
  return makeIndex([
    makeImage({ layers: layerSizes, platform: { os: 'linux', architecture: 'amd64' } }),
    makeImage({ layers: layerSizes, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
  ]);
}

/** An artifact (e.g. a signature) that refers to `subject`. */
export function makeReferrer(subject: ManifestData, artifactType = 'application/vnd.example.signature.v1'): TestImage {
  const empty = blob(Buffer.from('{}'), MediaType.ociEmpty);
  const payload = blob(randomBytes(64), 'application/octet-stream');
  const body = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: empty.desc,
    layers: [payload.desc],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
  };
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    manifest: { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) },
    config: empty,
    layers: [payload],
    platform: { os: 'unknown', architecture: 'unknown' },
  };
}

/** Push an image (blobs, then manifest under `tag` or by digest) through any ImageTarget. */
export async function pushImage(target: ImageTarget, image: TestImage, tag?: string): Promise<void> {
  for (const b of [image.config, ...image.layers]) {
    if (!(await target.hasBlob(b.desc))) await target.putBlob(b.desc, Readable.from([b.bytes]));
  }
  await target.putManifest(tag ?? image.manifest.digest, image.manifest);
}

/** Push an index: every child by digest, then the index under `tag`. */
export async function pushIndex(target: ImageTarget, index: TestIndex, tag?: string): Promise<void> {
  for (const img of index.images) await pushImage(target, img);
  await target.putManifest(tag ?? index.manifest.digest, index.manifest);
}
