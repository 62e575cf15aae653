import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidContentError } from '../errors.js';
import { makeTempDir } from './temp-files.js';
import { TarIndex } from './tar-index.js';

export interface ArchiveIo {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream | Writable;
  tmpDir?: string;
}

/**
 * Index a tar named on the command line: a file is read in place; stdin (order unknown, no
 * seeking) and gzipped archives are spooled to a temporary directory while they are indexed.
 * Directories pushed to `cleanup` are the caller's to remove.
 */
export async function indexTar(path: string, io: ArchiveIo, cleanup: string[]): Promise<TarIndex> {
  if (path !== '-') {
    if (!(await isGzipFile(path))) return TarIndex.fromFile(path);
  } else if (!io.stdin) {
    throw new InvalidContentError('no standard input to read the archive from', 'ARCHIVE_INVALID');
  }
  // stdin, or a gzipped archive (`docker save | gzip`): spooled (uncompressed) while indexed.
  const dir = await makeTempDir(io.tmpDir);
  cleanup.push(dir);
  const label = path === '-' ? 'standard input' : path;
  const input = await gunzipIfNeeded(path === '-' ? (io.stdin as Readable) : createReadStream(path));
  return TarIndex.fromStream(input, join(dir, 'archive.tar'), label);
}

async function isGzipFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false; // TarIndex.fromFile reports the real problem
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch {
    return false;
  } finally {
    await fh.close();
  }
}

/** Look at the first chunk; a gzip stream is decompressed on the way, anything else passes. */
async function gunzipIfNeeded(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  async function* all(): AsyncGenerator<Buffer> {
    if (first.done) return;
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  const body = Readable.from(all(), { objectMode: false });
  if (first.done || first.value.length < 2 || first.value[0] !== 0x1f || first.value[1] !== 0x8b) return body;
  const gunzip = createGunzip();
  body.on('error', (e) => gunzip.destroy(e));
  return body.pipe(gunzip);
}
