import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { giveBuffer, POOL_BUFFER_SIZE, takeBuffer } from './buffer-pool.js';

/**
 * Write bytes [start, end] (inclusive) of an open file to `out` through two recycled buffers:
 * the next read fills one while the socket drains the other. A buffer is reused only after
 * its write callback, i.e. once the socket no longer holds it. Closes nothing; rejects when
 * `out` fails or closes early, or when the file is shorter than promised.
 */
export async function sendFileRange(fh: FileHandle, start: number, end: number, out: Writable): Promise<void> {
  const bufs = [takeBuffer(), takeBuffer()];
  const inFlight: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  let closedEarly: Error | undefined;
  const onClose = () => {
    closedEarly ??= new Error('connection closed before the blob was sent');
  };
  out.once('close', onClose);
  let which = 0;
  try {
    for (let pos = start; pos <= end; ) {
      await inFlight[which];
      if (closedEarly) throw closedEarly;
      const buf = bufs[which]!;
      const want = Math.min(POOL_BUFFER_SIZE, end - pos + 1);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) throw new Error('blob file is shorter than its recorded size');
      if (closedEarly) throw closedEarly;
      inFlight[which] = new Promise<void>((resolve, reject) => {
        out.write(buf.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
      });
      // Settled later (or never awaited when the other one fails first): keep it from being unhandled.
      inFlight[which]!.catch(() => undefined);
      pos += bytesRead;
      which ^= 1;
    }
    await Promise.all(inFlight);
  } finally {
    out.off('close', onClose);
  }
  // Only after a clean finish: a buffer a failed socket may still hold is left to the GC.
  giveBuffer(bufs[0]!);
  giveBuffer(bufs[1]!);
}
