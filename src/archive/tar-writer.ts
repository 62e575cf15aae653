import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { tempSibling } from './temp-files.js';

/** Fixed mtime so archives of the same content are byte-identical. */
const EPOCH = new Date(0);

export interface TarSink {
  /** Add a directory entry. */
  dir(name: string): Promise<void>;
  /** Add a small file from memory. */
  bytes(name: string, data: Uint8Array | string): Promise<void>;
  /** Add a file streamed from `path` on disk (size must be exact). */
  file(name: string, path: string, size: number): Promise<void>;
  /** Add a file from a stream of exactly `size` bytes. */
  stream(name: string, body: Readable, size: number): Promise<void>;
  /** Finish the archive and wait until every byte is written (and the file renamed into place). */
  finish(): Promise<void>;
  /** Give up; a file destination is removed. */
  abort(): Promise<void>;
}

/**
 * Write a tar with tar-stream, entry after entry (never more than one in flight), to a file
 * (written beside it, renamed into place at the end) or to a stream such as stdout.
 */
export function openTarSink(dest: { path: string } | { stream: NodeJS.WritableStream | Writable }): TarSink {
  const pack = tar.pack();
  let tmp: string | undefined;
  let out: Writable;
  if ('path' in dest) {
    tmp = tempSibling(dest.path);
    out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  } else {
    out = dest.stream as Writable;
  }
  const toStdout = !('path' in dest);
  // stdout must not be ended (other output may follow), a file must be.
  const done = toStdout
    ? new Promise<void>((resolve, reject) => {
        (pack as unknown as Readable).on('data', (c: Buffer) => {
          if (!out.write(c)) {
            (pack as unknown as Readable).pause();
            out.once('drain', () => (pack as unknown as Readable).resume());
          }
        });
        (pack as unknown as Readable).on('end', resolve);
        (pack as unknown as Readable).on('error', reject);
        out.on('error', reject);
      })
    : pipeline(pack as unknown as Readable, out);
  done.catch(() => {});

  const add = (header: Partial<tar.Header> & { name: string }, body?: Readable | Uint8Array | string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const h = { mode: header.type === 'directory' ? 0o755 : 0o644, mtime: EPOCH, uid: 0, gid: 0, ...header };
      if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
        pack.entry(h, body ?? '', (err) => (err ? reject(err) : resolve()));
        return;
      }
      const entry = pack.entry(h, (err) => (err ? reject(err) : resolve()));
      pipeline(body, entry as unknown as Writable).catch((e: unknown) => {
        pack.destroy(e as Error);
        reject(e as Error);
      });
    });

  return {
    dir: (name) => add({ name, type: 'directory' }),
    bytes: (name, data) => add({ name, size: Buffer.byteLength(data) }, typeof data === 'string' ? Buffer.from(data) : data),
    file: (name, path, size) => add({ name, size }, createReadStream(path)),
    stream: (name, body, size) => add({ name, size }, body),
    async finish() {
      pack.finalize();
      await done;
      if (tmp && 'path' in dest) await rename(tmp, dest.path);
    },
    async abort() {
      pack.destroy();
      if (tmp) await rm(tmp, { force: true });
    },
  };
}
