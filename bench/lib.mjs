// Pieces every benchmark script shares. Loopback only.
import { createCipheriv, createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';

const MiB = 1024 * 1024;

/** Incompressible, reproducible bytes: AES-CTR keystream of a seed, produced in 1 MiB pieces. */
export function randomStream(seed, size) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(MiB);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(MiB, left);
      left -= n;
      this.push(cipher.update(n === MiB ? zero : zero.subarray(0, n)));
    },
  });
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot take port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
