import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, InvalidContentError } from '../errors.js';
import type { ImageTarget } from '../content/types.js';
import { Digester, digestOf, isValidDigest, parseDigest, VerifyingStream } from '../oci/digest.js';
import type { Descriptor, ManifestData } from '../oci/manifest.js';
import { MediaType } from '../oci/mediatypes.js';
import { DirFiles } from './files.js';
import { blobPath, entryTag, LAYOUT_VERSION, LayoutReader, REF_NAME } from './layout.js';
import { tempSibling, writeFileAtomic } from './temp-files.js';

/** Counts bytes for progress callbacks. */
function progressTap(onProgress?: (bytes: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress?.(n);
      cb(null, chunk);
    },
  });
}

/**
 * An OCI image layout directory as an ImageTarget (and source). Blobs land in a temporary file
 * and are renamed into place only after their digest checked out; index.json is replaced
 * atomically, and only when a manifest is tagged, so a failed copy leaves no tag behind.
 */
export class LayoutWriter extends LayoutReader implements ImageTarget {
  /** index.json updates from one process are serialised; rename keeps each one atomic. */
  private indexLock: Promise<void> = Promise.resolve();

  protected constructor(
    readonly dir: string,
    description: string,
  ) {
    super(new DirFiles(dir, description), description);
  }

  /** Open a layout for writing, creating the directory and the layout marker when missing. */
  static async create(dir: string, description = `oci:${dir}`): Promise<LayoutWriter> {
    await LayoutWriter.prepare(dir, description);
    return new LayoutWriter(dir, description);
  }

  /** Make `dir` a layout: accept an existing one, initialise a missing or empty directory. */
  protected static async prepare(dir: string, description: string): Promise<void> {
    try {
      const s = await stat(dir);
      if (!s.isDirectory()) throw new InvalidContentError(`${description}: ${dir} exists and is not a directory`, 'LAYOUT_INVALID');
      if ((await readdir(dir)).length > 0) {
        await new LayoutReader(new DirFiles(dir, description), description).checkLayout();
        return;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFileAtomic(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`);
    await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })}\n`);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      const s = await stat(join(this.dir, blobPath(desc.digest)));
      return s.isFile() && s.size === desc.size;
    } catch {
      return false;
    }
  }

  async putBlob(desc: Descriptor, body: Readable, onProgress?: (bytes: number) => void): Promise<void> {
    const final = join(this.dir, blobPath(desc.digest));
    await mkdir(join(final, '..'), { recursive: true });
    const tmp = tempSibling(final);
    try {
      await pipeline(
        body,
        new VerifyingStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` }),
        progressTap(onProgress),
        createWriteStream(tmp, { flags: 'wx', mode: 0o644 }),
      );
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putBlobComputed(body: Readable, mediaType: string, onProgress?: (bytes: number) => void): Promise<Descriptor> {
    const dir = join(this.dir, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    const tmp = tempSibling(join(dir, 'x'));
    const digester = new Digester('sha256');
    const hash = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        digester.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, hash, progressTap(onProgress), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      const digest = digester.digest();
      await rename(tmp, join(this.dir, blobPath(digest)));
      return { mediaType, digest, size: digester.bytes };
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putManifest(ref: string, data: ManifestData): Promise<void> {
    const actual = digestOf(data.bytes, parseDigest(data.digest).algorithm);
    if (actual !== data.digest) throw new DigestMismatchError(data.digest, actual, 'manifest');
    const path = join(this.dir, blobPath(data.digest));
    if (!(await this.hasBlob({ mediaType: data.mediaType, digest: data.digest, size: data.bytes.length }))) {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFileAtomic(path, data.bytes);
    }
    if (isValidDigest(ref)) {
      if (ref !== data.digest) throw new DigestMismatchError(ref, data.digest, 'manifest');
      return;
    }
    await this.updateIndex((manifests) => [
      ...manifests.filter((d) => entryTag(d) !== ref),
      { mediaType: data.mediaType, digest: data.digest, size: data.bytes.length, annotations: { [REF_NAME]: ref } },
    ]);
  }

  /** Remove a tag (index.json entry); the blobs stay (a layout has no garbage collector). */
  async deleteTag(tag: string): Promise<boolean> {
    let found = false;
    await this.updateIndex((manifests) => {
      const kept = manifests.filter((d) => entryTag(d) !== tag);
      found = kept.length !== manifests.length;
      return kept;
    });
    return found;
  }

  private updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const run = this.indexLock.then(async () => {
      const index = await this.readIndex();
      const next = { ...index, schemaVersion: 2, mediaType: index.mediaType ?? MediaType.ociIndex, manifests: change(index.manifests) };
      await writeFileAtomic(join(this.dir, 'index.json'), `${JSON.stringify(next)}\n`);
    });
    this.indexLock = run.catch(() => {});
    return run;
  }
}
