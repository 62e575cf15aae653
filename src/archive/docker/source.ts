import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { InvalidContentError, NotFoundError } from '../../errors.js';
import type { ImageSource, ImageTarget, ManifestHead } from '../../content/types.js';
import { Digester, digestOf, VerifyingStream } from '../../oci/digest.js';
import type { Descriptor, ManifestData } from '../../oci/manifest.js';
import { MediaType } from '../../oci/mediatypes.js';
import { makeTempDir, removeDir } from '../fsutil.js';
import type { TarIndex } from '../tar-index.js';
import { DOCKER_LAYER_TAR, tagOf } from './format.js';
import type { SavedImage, SavedLayer } from './image.js';

export interface DockerSourceOptions {
  /** gzip uncompressed layers (default true). */
  compress: boolean;
  tmpDir?: string;
  description: string;
}

interface BlobEntry {
  desc: Descriptor;
  open(): Readable;
}

/**
 * Progress while pushing, shaped like the copy engine's blob events so the CLI renders both
 * alike. A layer gzipped on the way is keyed by its diff_id and counted in archive bytes read.
 */
export type PushEvent =
  | { type: 'blob-queued'; digest: string; size: number; mediaType: string }
  | { type: 'blob-start'; digest: string; size: number; mediaType: string }
  | { type: 'blob-progress'; digest: string; bytes: number; size: number }
  | { type: 'blob-done'; digest: string; size: number; outcome: 'copied' | 'skipped'; bytes: number };

function hashTap(d: Digester): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      d.update(chunk);
      cb(null, chunk);
    },
  });
}

/** Check the uncompressed bytes of a layer against its diff_id. */
function diffIdCheck(layer: SavedLayer, label: string): VerifyingStream {
  return new VerifyingStream({ digest: layer.diffId, what: `${label}: layer ${layer.path} (diff_id)` });
}

/**
 * One image of a `docker save` archive as an ImageSource. It presents a Docker v2 manifest;
 * with `compress` its uncompressed layers appear gzipped (diff_ids unchanged). Since the
 * gzipped digests must be known before the manifest is, the generic path compresses each layer
 * once into a temporary directory; `pushTo` is the streaming path (gzip straight into a target
 * that can compute digests while storing).
 */
export class DockerArchiveSource implements ImageSource {
  readonly description: string;
  private prepared?: Promise<{ manifest: ManifestData; blobs: Map<string, BlobEntry> }>;
  private spoolDir?: Promise<string>;
  private spooled = 0;

  constructor(
    private readonly index: TarIndex,
    readonly image: SavedImage,
    /** The tag this image answers to (its RepoTags tag, or `latest`). */
    readonly ref: string,
    private readonly opts: DockerSourceOptions,
  ) {
    this.description = opts.description;
    for (const l of image.layers) {
      if (l.compression === 'zstd') {
        throw new InvalidContentError(`${index.label}: layer ${l.path} is zstd-compressed, which docker-archive import does not support`, 'ARCHIVE_INVALID');
      }
    }
  }

  async close(): Promise<void> {
    const dir = this.spoolDir;
    this.spoolDir = undefined;
    if (dir) await removeDir(await dir);
  }

  private configDesc(): Descriptor {
    return { mediaType: MediaType.dockerConfig, digest: this.image.config.digest, size: this.image.config.bytes.length };
  }

  /** Bytes of a manifest for these blobs, stable for the same input. */
  static buildManifest(config: Descriptor, layers: Descriptor[]): ManifestData {
    const body = { schemaVersion: 2, mediaType: MediaType.dockerManifest, config, layers };
    const bytes = Buffer.from(JSON.stringify(body, null, 3));
    return { bytes, mediaType: MediaType.dockerManifest, digest: digestOf(bytes) };
  }

  private prepare(): Promise<{ manifest: ManifestData; blobs: Map<string, BlobEntry> }> {
    this.prepared ??= this.doPrepare();
    return this.prepared;
  }

  private async doPrepare(): Promise<{ manifest: ManifestData; blobs: Map<string, BlobEntry> }> {
    const blobs = new Map<string, BlobEntry>();
    const config = this.configDesc();
    blobs.set(config.digest, { desc: config, open: () => Readable.from([this.image.config.bytes]) });
    // A few layers at a time: gzip is CPU-bound and zlib runs on the libuv thread pool.
    const entries: BlobEntry[] = new Array(this.image.layers.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        const i = next++;
        entries[i] = await this.layerEntry(this.image.layers[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(3, entries.length) }, worker));
    const layers = entries.map((e) => e.desc);
    for (const e of entries) blobs.set(e.desc.digest, e);
    return { manifest: DockerArchiveSource.buildManifest(config, layers), blobs };
  }

  private async layerEntry(layer: SavedLayer): Promise<BlobEntry> {
    const open = (): Readable => this.index.open(layer.path);
    const label = this.index.label;
    if (layer.compression === 'none' && !this.opts.compress) {
      return { desc: { mediaType: DOCKER_LAYER_TAR, digest: layer.diffId, size: layer.size }, open };
    }
    if (layer.compression === 'gzip') {
      // Already compressed in the archive: learn its digest and check its diff_id in one read.
      const d = new Digester();
      await pipeline(open(), hashTap(d), createGunzip(), diffIdCheck(layer, label), new Writable({ write: (_c, _e, cb) => cb() }));
      return { desc: { mediaType: MediaType.dockerLayerGzip, digest: d.digest(), size: d.bytes }, open };
    }
    const dir = await (this.spoolDir ??= makeTempDir(this.opts.tmpDir));
    const file = join(dir, `layer-${this.spooled++}.gz`);
    const d = new Digester();
    await pipeline(open(), diffIdCheck(layer, label), createGzip(), hashTap(d), createWriteStream(file, { mode: 0o600 }));
    return { desc: { mediaType: MediaType.dockerLayerGzip, digest: d.digest(), size: d.bytes }, open: () => createReadStream(file) };
  }

  async headManifest(ref: string): Promise<ManifestHead | undefined> {
    const { manifest } = await this.prepare();
    if (ref !== this.ref && ref !== manifest.digest && !this.image.repoTags.some((t) => tagOf(t) === ref)) return undefined;
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
  }

  async getManifest(ref: string): Promise<ManifestData> {
    const head = await this.headManifest(ref);
    if (!head) throw new NotFoundError(`${this.description} has no image ${ref}`, 'MANIFEST_UNKNOWN');
    return (await this.prepare()).manifest;
  }

  async getBlob(desc: Descriptor): Promise<Readable> {
    const entry = (await this.prepare()).blobs.get(desc.digest);
    if (!entry) throw new NotFoundError(`blob ${desc.digest} is not in ${this.description}`, 'BLOB_UNKNOWN');
    return entry.open();
  }

  async listTags(): Promise<string[]> {
    const tags = this.image.repoTags.map(tagOf);
    return [...new Set(tags.length ? tags : [this.ref])].sort();
  }

  /**
   * The streaming import: each uncompressed layer is read once, checked against its diff_id,
   * gzipped and handed to `target.putBlobComputed` (which hashes while it stores), a few layers
   * at a time; then the config and finally the manifest under `ref`. A target without
   * putBlobComputed gets the spooled path. Returns the manifest written.
   */
  async pushTo(target: ImageTarget, ref: string, onEvent?: (e: PushEvent) => void, jobs = 3): Promise<ManifestData> {
    if (!this.opts.compress || !target.putBlobComputed || this.image.layers.every((l) => l.compression !== 'none')) {
      const { manifest, blobs } = await this.prepare();
      for (const entry of blobs.values()) await this.copyBlob(target, entry, onEvent);
      await target.putManifest(ref, manifest);
      return manifest;
    }
    const put = target.putBlobComputed.bind(target);
    for (const l of this.image.layers) onEvent?.({ type: 'blob-queued', digest: l.diffId, size: l.size, mediaType: DOCKER_LAYER_TAR });
    const descs: Descriptor[] = new Array(this.image.layers.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < this.image.layers.length && !failed) {
        const i = next++;
        const layer = this.image.layers[i]!;
        if (layer.compression !== 'none') {
          const entry = await this.layerEntry(layer);
          await this.copyBlob(target, entry, onEvent);
          descs[i] = entry.desc;
          continue;
        }
        let producerError: unknown;
        onEvent?.({ type: 'blob-start', digest: layer.diffId, size: layer.size, mediaType: DOCKER_LAYER_TAR });
        const progress = (bytes: number): void => onEvent?.({ type: 'blob-progress', digest: layer.diffId, bytes, size: layer.size });
        const body = this.gzipStream(layer, (e) => (producerError ??= e), progress);
        try {
          const desc = await put(body, MediaType.dockerLayerGzip);
          if (producerError) throw producerError;
          descs[i] = desc;
          onEvent?.({ type: 'blob-done', digest: layer.diffId, size: layer.size, outcome: 'copied', bytes: layer.size });
        } catch (e) {
          failed = true;
          throw producerError ?? e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, this.image.layers.length)) }, worker));
    const config = this.configDesc();
    await this.copyBlob(target, { desc: config, open: () => Readable.from([this.image.config.bytes]) }, onEvent);
    const manifest = DockerArchiveSource.buildManifest(config, descs);
    await target.putManifest(ref, manifest);
    return manifest;
  }

  /**
   * The layer read, checked against its diff_id and gzipped — started only when the consumer
   * first reads, so a failure (e.g. a diff_id mismatch) is reported on the stream the consumer
   * is already listening to, never emitted before it attached its handlers.
   */
  private gzipStream(layer: SavedLayer, onError: (e: unknown) => void, onProgress: (bytes: number) => void): Readable {
    const index = this.index;
    async function* produce(): AsyncGenerator<Buffer> {
      const gz = createGzip();
      let read = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          read += chunk.length;
          onProgress(read);
          cb(null, chunk);
        },
      });
      const done = pipeline(index.open(layer.path), counter, diffIdCheck(layer, index.label), gz);
      done.catch(() => {});
      try {
        for await (const chunk of gz) yield chunk as Buffer;
        await done;
      } catch (e) {
        onError(e);
        throw e;
      }
    }
    return Readable.from(produce(), { objectMode: false });
  }

  private async copyBlob(target: ImageTarget, entry: BlobEntry, onEvent?: (e: PushEvent) => void): Promise<void> {
    const { digest, size, mediaType } = entry.desc;
    onEvent?.({ type: 'blob-queued', digest, size, mediaType });
    if (await target.hasBlob(entry.desc)) {
      onEvent?.({ type: 'blob-done', digest, size, outcome: 'skipped', bytes: 0 });
      return;
    }
    onEvent?.({ type: 'blob-start', digest, size, mediaType });
    await target.putBlob(entry.desc, entry.open());
    onEvent?.({ type: 'blob-done', digest, size, outcome: 'copied', bytes: size });
  }
}
