import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidContentError, NotFoundError } from '../errors.js';

/** One regular file inside a tar, located by byte offset so it can be read without rescanning. */
export interface TarEntry {
  name: string;
  size: number;
  /** Offset of the entry's data from the start of the archive. */
  offset: number;
}

/**
 * Strip `./` and reject names that could escape a directory or are not plain relative paths.
 * Returns undefined for names we refuse (callers ignore those entries).
 */
export function normalizeEntryName(name: string): string | undefined {
  let n = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  n = n.replace(/\/\.\//g, '/');
  if (n === '' || n.startsWith('/') || n.includes('\\') || n.split('/').some((p) => p === '..' || p === '.' || p === '')) return undefined;
  return n;
}

/**
 * A tar file read once with tar-stream to learn where each regular file's data lies; entries
 * are then streamed straight from the file by offset (random access, flat memory). Reading
 * stdin: the bytes are spooled to `spoolPath` while they are indexed, in the same pass.
 */
export class TarIndex {
  readonly entries = new Map<string, TarEntry>();

  private constructor(
    readonly path: string,
    /** For messages: the name the user gave (`-` for stdin). */
    readonly label: string,
  ) {}

  static async fromFile(path: string, label = path): Promise<TarIndex> {
    const index = new TarIndex(path, label);
    let input: Readable;
    try {
      const fh = await open(path, 'r');
      input = fh.createReadStream();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') throw new NotFoundError(`archive ${label} not found`, 'ARCHIVE_NOT_FOUND');
      if (err.code === 'EISDIR') throw new InvalidContentError(`${label} is a directory, not a tar archive`, 'ARCHIVE_INVALID');
      throw e;
    }
    await index.scan(input);
    return index;
  }

  /** Index a stream (e.g. stdin) while spooling it to `spoolPath`, which later reads use. */
  static async fromStream(input: NodeJS.ReadableStream | Readable, spoolPath: string, label: string): Promise<TarIndex> {
    const index = new TarIndex(spoolPath, label);
    const tee = new PassThrough({ highWaterMark: 1 << 20 });
    const spool = createWriteStream(spoolPath, { flags: 'wx', mode: 0o600 });
    const toScan = new PassThrough({ highWaterMark: 1 << 20 });
    tee.pipe(spool);
    tee.pipe(toScan);
    const spooled = new Promise<void>((resolve, reject) => {
      spool.on('close', resolve);
      spool.on('error', reject);
    });
    const fed = pipeline(input as Readable, tee);
    try {
      await Promise.all([index.scan(toScan), fed, spooled]);
    } catch (e) {
      throw index.corrupt(e);
    }
    return index;
  }

  private async scan(input: Readable): Promise<void> {
    const extract = tar.extract();
    const links = new Map<string, string>();
    let sawAny = false;
    input.on('error', (e) => extract.destroy(e));
    input.pipe(extract as unknown as NodeJS.WritableStream);
    try {
      for await (const entry of extract) {
        sawAny = true;
        const h = entry.header as tar.Header & { byteOffset?: number };
        const name = normalizeEntryName(h.name);
        if (name !== undefined && (h.type === 'file' || h.type === 'contiguous-file') && h.byteOffset !== undefined) {
          this.entries.set(name, { name, size: h.size, offset: h.byteOffset });
        } else if (name !== undefined && (h.type === 'symlink' || h.type === 'link') && h.linkname) {
          // docker save links duplicate layers (`<id>/layer.tar -> ../<other>/layer.tar`).
          const target = h.type === 'symlink' ? posix.join(posix.dirname(name), h.linkname) : h.linkname;
          const resolved = normalizeEntryName(target);
          if (resolved !== undefined) links.set(name, resolved);
        }
        entry.resume();
      }
    } catch (e) {
      input.destroy();
      throw this.corrupt(e);
    }
    if (!sawAny) throw new InvalidContentError(`${this.label} is not a tar archive (empty or no entries)`, 'ARCHIVE_INVALID');
    // Links point at regular files (a few hops at most); links to nowhere are left out.
    for (const [name, first] of links) {
      let target: string | undefined = first;
      for (let hops = 0; target !== undefined && !this.entries.has(target) && hops < 8; hops++) target = links.get(target);
      const e = target !== undefined ? this.entries.get(target) : undefined;
      if (e && !this.entries.has(name)) this.entries.set(name, { ...e, name });
    }
  }

  private corrupt(e: unknown): Error {
    if (e instanceof InvalidContentError || e instanceof NotFoundError) return e;
    const msg = (e as Error)?.message ?? String(e);
    if (/^Z_/.test((e as { code?: string })?.code ?? '')) {
      return new InvalidContentError(`${this.label}: corrupt gzip-compressed archive (${msg})`, 'ARCHIVE_CORRUPT');
    }
    if (/unexpected end/i.test(msg)) return new InvalidContentError(`${this.label}: truncated tar archive (unexpected end of data)`, 'ARCHIVE_TRUNCATED');
    if (/invalid tar header|invalid header|unknown format/i.test(msg)) {
      return new InvalidContentError(`${this.label}: corrupt tar archive (invalid tar header)`, 'ARCHIVE_CORRUPT');
    }
    return new InvalidContentError(`${this.label}: cannot read tar archive: ${msg}`, 'ARCHIVE_INVALID');
  }

  get(name: string): TarEntry | undefined {
    return this.entries.get(name);
  }

  /** Stream one entry's bytes. */
  open(name: string): Readable {
    const e = this.entries.get(name);
    if (!e) throw new NotFoundError(`${this.label}: ${name} is missing from the archive`, 'ARCHIVE_ENTRY_MISSING');
    if (e.size === 0) return Readablefrom0();
    return createReadStream(this.path, { start: e.offset, end: e.offset + e.size - 1 });
  }

  /** Read a small entry whole (JSON documents); refuses anything larger than `max`. */
  async read(name: string, max = 4 << 20): Promise<Buffer> {
    const e = this.entries.get(name);
    if (!e) throw new NotFoundError(`${this.label}: ${name} is missing from the archive`, 'ARCHIVE_ENTRY_MISSING');
    if (e.size > max) throw new InvalidContentError(`${this.label}: ${name} is too large (${e.size} bytes)`, 'ARCHIVE_INVALID');
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(e.size);
      const { bytesRead } = await fh.read(buf, 0, e.size, e.offset);
      if (bytesRead !== e.size) throw new InvalidContentError(`${this.label}: truncated tar archive`, 'ARCHIVE_TRUNCATED');
      return buf;
    } finally {
      await fh.close();
    }
  }
}

/** The first `n` bytes of an entry (format sniffing). */
export async function readHead(index: TarIndex, name: string, n: number): Promise<Buffer> {
  const e = index.get(name);
  if (!e) throw new NotFoundError(`${index.label}: ${name} is missing from the archive`, 'ARCHIVE_ENTRY_MISSING');
  const fh = await open(index.path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(n, e.size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, e.offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function Readablefrom0(): Readable {
  const p = new PassThrough();
  p.end();
  return p;
}
