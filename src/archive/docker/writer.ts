import { createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DigestMismatchError, InvalidContentError, UsageError } from '../../errors.js';
import type { ImageTarget, ManifestHead } from '../../content/types.js';
import { Digester, digestOf, isValidDigest, parseDigest, VerifyingStream } from '../../oci/digest.js';
import { isIndex, parseManifest, type Descriptor, type ImageManifest, type ManifestData, type Platform } from '../../oci/manifest.js';
import { formatPlatform, platformMatches } from '../../oci/platform.js';
import { openTarSink } from '../tar-writer.js';
import { familiarName } from './format.js';

export interface DockerWriterOptions {
  /** `-` writes to `stdout`. */
  path: string;
  stdout?: NodeJS.WritableStream | Writable;
  /** Spool directory (owned by the caller, removed on close). */
  spoolDir: string;
  /** RepoTags name and tag; the tag defaults to the one the manifest is put under. */
  name?: string;
  tag?: string;
  platform?: Platform;
  description: string;
}

interface Spooled {
  file: string;
  /** Bytes on disk (uncompressed for layers). */
  size: number;
  /** sha256 of the uncompressed bytes, for layers. */
  diffId?: string;
}

function isLayerType(mt: string): boolean {
  return /layer|rootfs/.test(mt);
}

/**
 * Writes what `docker load` reads: manifest.json (Config, RepoTags, Layers), the config as
 * `<hex>.json` and each layer uncompressed as `<diff_id hex>/layer.tar`. Registry layers are
 * gzipped, so each is verified against its digest, gunzipped and hashed on the way into a
 * spool directory (a tar needs each entry's size before its bytes); commit() checks every
 * layer against the config's diff_ids and writes the archive, manifest.json first.
 */
export class DockerArchiveWriter implements ImageTarget {
  readonly description: string;
  readonly holdsOneImage = true;
  private readonly blobs = new Map<string, Spooled>();
  private readonly manifests = new Map<string, ManifestData>();
  private tagged?: { ref: string; data: ManifestData };
  private last?: ManifestData;
  private seq = 0;

  constructor(private readonly opts: DockerWriterOptions) {
    this.description = opts.description;
  }

  async headManifest(ref: string): Promise<ManifestHead | undefined> {
    const m = isValidDigest(ref) ? this.manifests.get(ref) : this.tagged?.ref === ref ? this.tagged.data : undefined;
    return m ? { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length } : undefined;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest);
  }

  async putBlob(desc: Descriptor, body: Readable, onProgress?: (bytes: number) => void): Promise<void> {
    parseDigest(desc.digest);
    if (/zstd/.test(desc.mediaType)) {
      throw new UsageError(`${this.description}: layer ${desc.digest} is zstd-compressed; docker-archive needs gzip or uncompressed layers`);
    }
    const file = join(this.opts.spoolDir, `blob-${this.seq++}`);
    let n = 0;
    const progress = new Transform({
      transform(chunk: Buffer, _e, cb) {
        n += chunk.length;
        onProgress?.(n);
        cb(null, chunk);
      },
    });
    const verify = new VerifyingStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` });
    try {
      if (!isLayerType(desc.mediaType)) {
        await pipeline(body, progress, verify, createWriteStream(file, { mode: 0o600 }));
        this.blobs.set(desc.digest, { file, size: desc.size });
        return;
      }
      const d = new Digester();
      const hash = new Transform({
        transform(chunk: Buffer, _e, cb) {
          d.update(chunk);
          cb(null, chunk);
        },
      });
      const out = createWriteStream(file, { mode: 0o600 });
      if (/gzip/.test(desc.mediaType)) await pipeline(body, progress, verify, createGunzip(), hash, out);
      else await pipeline(body, progress, verify, hash, out);
      this.blobs.set(desc.digest, { file, size: d.bytes, diffId: d.digest() });
    } catch (e) {
      await rm(file, { force: true });
      if ((e as { code?: string }).code === 'Z_DATA_ERROR') {
        throw new InvalidContentError(`${this.description}: layer ${desc.digest} is not valid gzip`, 'LAYER_INVALID');
      }
      throw e;
    }
  }

  async putManifest(ref: string, data: ManifestData): Promise<void> {
    const actual = digestOf(data.bytes);
    if (actual !== data.digest) throw new DigestMismatchError(data.digest, actual, 'manifest');
    const m = parseManifest(data.bytes, data.mediaType);
    if (isIndex(m) && !this.opts.platform) {
      const platforms = m.manifests.map((d) => formatPlatform(d.platform)).join(', ');
      throw new UsageError(`${this.description}: a docker-archive holds one image, and this is a multi-platform index (${platforms}): choose one with --platform`);
    }
    this.manifests.set(data.digest, data);
    this.last = data;
    if (!isValidDigest(ref)) this.tagged = { ref, data };
  }

  /** The image manifest to write: the tagged (or last) one, or the --platform child of an index. */
  private chooseImage(): { manifest: ImageManifest; data: ManifestData } {
    const root = this.tagged?.data ?? this.last;
    if (!root) throw new InvalidContentError(`${this.description}: nothing was written (no manifest)`, 'ARCHIVE_INVALID');
    const m = parseManifest(root.bytes, root.mediaType);
    if (!isIndex(m)) return { manifest: m, data: root };
    const wanted = this.opts.platform!;
    const child = m.manifests.find((d) => platformMatches(wanted, d.platform));
    if (!child) {
      throw new UsageError(`${this.description}: the index has no ${formatPlatform(wanted)} image (it has ${m.manifests.map((d) => formatPlatform(d.platform)).join(', ')})`);
    }
    const data = this.manifests.get(child.digest);
    if (!data) throw new InvalidContentError(`${this.description}: the ${formatPlatform(wanted)} manifest ${child.digest} was not copied`, 'ARCHIVE_INVALID');
    const cm = parseManifest(data.bytes, data.mediaType);
    if (isIndex(cm)) throw new InvalidContentError(`${this.description}: nested index ${child.digest} cannot be written`, 'ARCHIVE_INVALID');
    return { manifest: cm, data };
  }

  async commit(): Promise<void> {
    const { manifest } = this.chooseImage();
    const cfg = this.blobs.get(manifest.config.digest);
    if (!cfg) throw new InvalidContentError(`${this.description}: config ${manifest.config.digest} was not copied`, 'ARCHIVE_INVALID');
    if (cfg.size > 32 << 20) throw new InvalidContentError(`${this.description}: the image config is too large (${cfg.size} bytes)`, 'ARCHIVE_INVALID');
    const configBytes = await readFile(cfg.file);
    let diffIds: string[] = [];
    try {
      const parsed = JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
      diffIds = parsed.rootfs?.diff_ids ?? [];
    } catch {
      throw new InvalidContentError(`${this.description}: the image config is not valid JSON`, 'ARCHIVE_INVALID');
    }
    if (diffIds.length !== manifest.layers.length) {
      throw new InvalidContentError(`${this.description}: config has ${diffIds.length} diff_ids for ${manifest.layers.length} layers`, 'ARCHIVE_INVALID');
    }
    const layerPaths: string[] = [];
    const layerFiles = new Map<string, Spooled>();
    manifest.layers.forEach((l, i) => {
      const s = this.blobs.get(l.digest);
      if (!s?.diffId) throw new InvalidContentError(`${this.description}: layer ${l.digest} was not copied`, 'ARCHIVE_INVALID');
      if (s.diffId !== diffIds[i]) throw new DigestMismatchError(diffIds[i]!, s.diffId, `layer ${l.digest} (uncompressed, diff_id)`);
      const path = `${parseDigest(s.diffId).hex}/layer.tar`;
      layerPaths.push(path);
      layerFiles.set(path, s);
    });
    const configPath = `${parseDigest(manifest.config.digest).hex}.json`;
    const repoTags: string[] = [];
    const tag = this.opts.tag ?? (this.tagged && !isValidDigest(this.tagged.ref) ? this.tagged.ref : 'latest');
    if (this.opts.name) repoTags.push(`${familiarName(this.opts.name)}:${tag}`);
    const saveManifest = [{ Config: configPath, RepoTags: repoTags, Layers: layerPaths }];

    const sink = openTarSink(this.opts.path === '-' ? { stream: this.requireStdout() } : { path: this.opts.path });
    try {
      await sink.bytes('manifest.json', `${JSON.stringify(saveManifest)}\n`);
      await sink.bytes(configPath, configBytes);
      for (const [path, s] of layerFiles) {
        await sink.dir(path.slice(0, path.indexOf('/')));
        await sink.file(path, s.file, s.size);
      }
      await sink.finish();
    } catch (e) {
      await sink.abort();
      throw e;
    }
  }

  /** Nothing to undo: the archive is only written by commit(); the spool goes with close(). */
  async abort(): Promise<void> {}

  private requireStdout(): NodeJS.WritableStream | Writable {
    if (!this.opts.stdout) throw new InvalidContentError('no standard output to write the archive to', 'ARCHIVE_INVALID');
    return this.opts.stdout;
  }
}
