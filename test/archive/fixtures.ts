import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { digestOf } from '../../src/oci/digest.js';
import type { Platform } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { blob, makeIndex, type TestImage, type TestIndex } from '../helpers/images.js';

/** A real tar holding the given files (what a layer is). */
export async function tarOf(files: Record<string, Buffer | { symlink: string }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const [name, data] of Object.entries(files)) {
    if (!Buffer.isBuffer(data)) {
      await new Promise<void>((res, rej) => pack.entry({ name, type: 'symlink', linkname: data.symlink, mtime: new Date(0) }, (e) => (e ? rej(e) : res())));
      continue;
    }
    await new Promise<void>((res, rej) => pack.entry({ name, size: data.length, mtime: new Date(0) }, data, (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface RealImage extends TestImage {
  /** Uncompressed layer tars, in order. */
  tars: Buffer[];
  diffIds: string[];
}

/**
 * An image whose layers are gzipped tars (so skopeo can decompress them when it writes a
 * docker-archive) with correct diff_ids in the config.
 */
export async function makeRealImage(options: { layers?: number[]; platform?: Platform; docker?: boolean } = {}): Promise<RealImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const tars: Buffer[] = [];
  for (const [i, n] of (options.layers ?? [3000, 5000]).entries()) {
    tars.push(await tarOf({ [`layer${i}/data.bin`]: randomBytes(n), [`layer${i}/hello.txt`]: Buffer.from(`hello ${i}\n`) }));
  }
  const layerType = options.docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers = tars.map((t) => blob(gzipSync(t), layerType));
  const diffIds = tars.map((t) => digestOf(t));
  const configJson = {
    created: '2026-01-02T03:04:05Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ['/bin/sh'], Labels: { nonce: randomBytes(4).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: tars.map(() => ({ created_by: 'test' })),
  };
  const config = blob(Buffer.from(JSON.stringify(configJson)), options.docker ? MediaType.dockerConfig : MediaType.ociConfig);
  const mediaType = options.docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: config.desc, layers: layers.map((l) => l.desc) }, null, 2));
  return { manifest: { bytes, mediaType, digest: digestOf(bytes) }, config, layers, platform, tars, diffIds };
}

export async function makeRealMultiArch(): Promise<TestIndex & { images: RealImage[] }> {
  const images = [
    await makeRealImage({ platform: { os: 'linux', architecture: 'amd64' } }),
    await makeRealImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
  ];
  return { ...makeIndex(images), images };
}

/** Build a classic `docker save` archive by hand (manifest.json last, like docker does). */
export async function dockerSaveTar(
  img: RealImage,
  repoTags: string[],
  tweak: { dropLayer?: boolean; corruptLayer?: boolean; manifestFirst?: boolean; gzipLayers?: boolean } = {},
): Promise<Buffer> {
  const files: Record<string, Buffer> = {};
  const cfgHex = img.config.desc.digest.slice(7);
  const layerPaths = img.diffIds.map((d) => `${d.slice(7)}/layer.tar`);
  const manifest = Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: repoTags, Layers: layerPaths }]));
  if (tweak.manifestFirst) files['manifest.json'] = manifest;
  files[`${cfgHex}.json`] = img.config.bytes;
  img.tars.forEach((t, i) => {
    if (tweak.dropLayer && i === 1) return;
    const bytes = tweak.gzipLayers ? img.layers[i]!.bytes : Buffer.from(t);
    if (tweak.corruptLayer && i === 0) bytes[600] = bytes[600]! ^ 0xff;
    files[layerPaths[i]!] = bytes;
  });
  if (!tweak.manifestFirst) files['manifest.json'] = manifest;
  return tarOf(files);
}

/**
 * The newer `docker save` layout (Docker 25+): an OCI image layout (blobs/sha256, index.json,
 * oci-layout) with uncompressed layers, plus manifest.json pointing into blobs/.
 */
export async function dockerSaveOciTar(img: RealImage, repoTag: string): Promise<{ tar: Buffer; manifestDigest: string }> {
  const files: Record<string, Buffer> = {};
  const blobPath = (d: string): string => `blobs/sha256/${d.slice(7)}`;
  const layers = img.tars.map((t, i) => ({ mediaType: MediaType.ociLayer, digest: img.diffIds[i]!, size: t.length }));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { ...img.config.desc, mediaType: MediaType.ociConfig }, layers }),
  );
  const manifestDigest = digestOf(manifest);
  img.tars.forEach((t, i) => (files[blobPath(img.diffIds[i]!)] = t));
  files[blobPath(img.config.desc.digest)] = img.config.bytes;
  files[blobPath(manifestDigest)] = manifest;
  files['index.json'] = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': repoTag.split(':').pop() } }],
    }),
  );
  files['manifest.json'] = Buffer.from(JSON.stringify([{ Config: blobPath(img.config.desc.digest), RepoTags: [repoTag], Layers: img.diffIds.map(blobPath) }]));
  files['oci-layout'] = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
  files['repositories'] = Buffer.from('{}');
  return { tar: await tarOf(files), manifestDigest };
}
