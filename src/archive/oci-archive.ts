import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isValidDigest } from '../oci/digest.js';
import { InvalidContentError } from '../errors.js';
import { DirFiles, TarFiles } from './files.js';
import { LayoutReader } from './layout.js';
import { LayoutWriter } from './layout-writer.js';
import { makeTempDir, removeDir, writeFileAtomic } from './temp-files.js';
import { TarIndex } from './tar-index.js';
import { indexTar, type ArchiveIo } from './input.js';
import { openTarSink } from './tar-writer.js';

/** An OCI layout inside a tar, read in place (entries by offset, nothing extracted). */
export async function openOciArchiveReader(path: string, io: ArchiveIo): Promise<{ reader: LayoutReader; close(): Promise<void> }> {
  const cleanup: string[] = [];
  const close = async (): Promise<void> => {
    for (const d of cleanup.splice(0)) await removeDir(d);
  };
  try {
    const index = await indexTar(path, io, cleanup);
    const description = `oci-archive:${path}`;
    if (!index.get('oci-layout') && index.get('manifest.json')) {
      throw new InvalidContentError(`${index.label} is a docker-archive (manifest.json, no oci-layout): use docker-archive:${path}`, 'ARCHIVE_FORMAT');
    }
    const reader = new LayoutReader(new TarFiles(index), description);
    await reader.checkLayout();
    return { reader, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Copy an existing oci-archive's index.json and blobs into a layout directory (streamed by offset). */
async function unpackLayout(file: string, layout: string): Promise<void> {
  const index = await TarIndex.fromFile(file);
  const reader = new LayoutReader(new TarFiles(index), `oci-archive:${file}`);
  await reader.checkLayout();
  for (const e of index.entries.values()) {
    const m = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(e.name);
    if (!m) continue;
    const digest = `${m[1]}:${m[2]}`;
    if (!isValidDigest(digest)) continue;
    await mkdir(join(layout, 'blobs', m[1]!), { recursive: true });
    await pipeline(index.open(e.name), createWriteStream(join(layout, 'blobs', m[1]!, m[2]!), { flags: 'wx', mode: 0o644 }));
  }
  // Existing blobs are taken as they are; readers verify every blob they read.
  if (index.get('index.json')) await writeFileAtomic(join(layout, 'index.json'), await index.read('index.json', 64 << 20));
}

/**
 * Writing an oci-archive: the layout is built in a temporary directory (blobs verified as
 * they arrive) and packed into FILE on commit, oci-layout and index.json first so a streaming
 * reader meets them before the blobs. FILE is replaced atomically.
 */
export class OciArchiveWriter extends LayoutWriter {
  static async createArchive(path: string, io: ArchiveIo): Promise<{ writer: OciArchiveWriter; close(): Promise<void> }> {
    const dir = await makeTempDir(io.tmpDir);
    const description = `oci-archive:${path}`;
    try {
      const layout = join(dir, 'layout');
      await LayoutWriter.prepare(layout, description);
      // Adding to an existing archive keeps its images and tags (like an oci: directory).
      if (path !== '-' && (await stat(path).catch(() => undefined))?.isFile()) await unpackLayout(path, layout);
      return { writer: new OciArchiveWriter(layout, description, path, io), close: () => removeDir(dir) };
    } catch (e) {
      await removeDir(dir);
      throw e;
    }
  }

  private constructor(
    dir: string,
    description: string,
    private readonly archivePath: string,
    private readonly io: ArchiveIo,
  ) {
    super(dir, description);
  }

  async commit(): Promise<void> {
    const dest = this.archivePath === '-' ? { stream: this.requireStdout() } : { path: this.archivePath };
    const sink = openTarSink(dest);
    try {
      const files = new DirFiles(this.dir);
      for (const name of ['oci-layout', 'index.json']) {
        await sink.bytes(name, (await files.read(name, 64 << 20))!);
      }
      await sink.dir('blobs');
      for (const alg of (await readdir(join(this.dir, 'blobs'))).sort()) {
        await sink.dir(`blobs/${alg}`);
        for (const hex of (await readdir(join(this.dir, 'blobs', alg))).sort()) {
          if (hex.startsWith('.tmp-')) continue;
          const rel = `blobs/${alg}/${hex}`;
          await sink.file(rel, join(this.dir, rel), (await files.size(rel))!);
        }
      }
      await sink.finish();
    } catch (e) {
      await sink.abort();
      throw e;
    }
  }

  async abort(): Promise<void> {}

  private requireStdout(): NodeJS.WritableStream | Writable {
    if (!this.io.stdout) throw new InvalidContentError('no standard output to write the archive to', 'ARCHIVE_INVALID');
    return this.io.stdout;
  }
}
