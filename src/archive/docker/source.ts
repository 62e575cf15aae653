import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { InvalidContentError, NotFoundError } from '../../errors.js';
import type { ImageSource, ManifestHead, StreamedBlob, StreamedImage } from '../../content/types.js';
import { Digester, digestOf, VerifyingStream } from '../../oci/digest.js';
import type { Descriptor, ManifestData } from '../../oci/manifest.js';
import { MediaType } from '../../oci/mediatypes.js';
import { makeTempDir, removeDir } from '../temp-files.js';
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
 * once into a temporary directory; `streamImage` is the streaming path (gzip straight into a
 * target that can compute digests while storing, driven by the copy engine).
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
   * The streaming form of this image, for a target that hashes while it stores: each
   * uncompressed layer is read once, checked against its diff_id and gzipped on its way to the
   * target, with no temporary file. Undefined (use getManifest/getBlob) when nothing would be
   * gzipped or `ref` is not a tag this image answers to.
   */
  async streamImage(ref: string): Promise<StreamedImage | undefined> {
    if (!this.opts.compress || this.image.layers.every((l) => l.compression !== 'none')) return undefined;
    if (ref !== this.ref && !this.image.repoTags.some((t) => tagOf(t) === ref)) return undefined;
    const config = this.configDesc();
    const blobs: StreamedBlob[] = [{ kind: 'known', prepare: async () => ({ desc: config, open: () => Readable.from([this.image.config.bytes]) }) }];
    for (const layer of this.image.layers) {
      blobs.push(
        layer.compression === 'none'
          ? { kind: 'computed', key: layer.diffId, size: layer.size, mediaType: MediaType.dockerLayerGzip, open: (onRead) => this.gzipStream(layer, onRead) }
          : { kind: 'known', prepare: () => this.layerEntry(layer) },
      );
    }
    return { blobs, manifest: (descs) => DockerArchiveSource.buildManifest(descs[0]!, descs.slice(1)) };
  }

  /**
   * The layer read, checked against its diff_id and gzipped — started only when the consumer
   * first reads, so a failure (e.g. a diff_id mismatch) is reported on the stream the consumer
   * is already listening to, never emitted before it attached its handlers.
   */
  private gzipStream(layer: SavedLayer, onRead: (bytes: number) => void): Readable {
    const index = this.index;
    async function* produce(): AsyncGenerator<Buffer> {
      const gz = createGzip();
      let read = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          read += chunk.length;
          onRead(read);
          cb(null, chunk);
        },
      });
      const done = pipeline(index.open(layer.path), counter, diffIdCheck(layer, index.label), gz);
      done.catch(() => {});
      for await (const chunk of gz) yield chunk as Buffer;
      await done;
    }
    return Readable.from(produce(), { objectMode: false });
  }
}
