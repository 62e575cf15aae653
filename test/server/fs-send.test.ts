import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import nodeHttp from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { POOL_BUFFER_SIZE } from '../../src/server/storage/buffer-pool.js';
import { sendFileRange } from '../../src/server/storage/fs-send.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';
import { http, pushBlob } from './client.js';

// Blob GETs on the filesystem backend go through sendFileRange: two recycled buffers, the
// next read overlapping the socket write. These tests pin its edges: sizes around the buffer
// size, ranges crossing buffers, short files, a reader that goes away.

let dir: string;
let s: ServeHandle;
const data = randomBytes(2 * POOL_BUFFER_SIZE + 12345);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-send-'));
  await writeFile(join(dir, 'blob'), data);
  s = await startServe();
});
afterAll(async () => {
  await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function sendToBuffer(start: number, end: number, path = join(dir, 'blob')): Promise<Buffer> {
  const fh = await open(path, 'r');
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
  try {
    await sendFileRange(fh, start, end, out);
  } finally {
    await fh.close();
  }
  return Buffer.concat(parts);
}

test.each([
  ['whole file', 0, data.length - 1],
  ['exactly one buffer', 0, POOL_BUFFER_SIZE - 1],
  ['one byte past a buffer', 0, POOL_BUFFER_SIZE],
  ['a range crossing two buffer boundaries', 7, 2 * POOL_BUFFER_SIZE + 100],
  ['a single byte', 5000, 5000],
  ['the last byte', data.length - 1, data.length - 1],
])('%s: exactly the requested bytes', async (_name, start, end) => {
  const got = await sendToBuffer(start, end);
  expect(got.length).toBe(end - start + 1);
  expect(got.equals(data.subarray(start, end + 1))).toBe(true);
});

test('a file shorter than promised is an error, not a short success', async () => {
  await expect(sendToBuffer(0, data.length + 10)).rejects.toThrow(/shorter/);
});

test('a destination that fails mid-way rejects instead of hanging', async () => {
  const fh = await open(join(dir, 'blob'), 'r');
  let writes = 0;
  const out = new Writable({
    write(_chunk, _enc, cb) {
      writes++;
      cb(writes === 2 ? new Error('peer reset') : null);
    },
  });
  out.on('error', () => undefined);
  try {
    await expect(sendFileRange(fh, 0, data.length - 1, out)).rejects.toThrow(/peer reset|destroyed|closed/);
  } finally {
    await fh.close();
  }
});

test('over HTTP: ranges across buffers are byte-exact, and a client leaving mid-blob frees the file', async () => {
  const big = randomBytes(6 * POOL_BUFFER_SIZE + 3);
  const digest = await pushBlob(s.url, 'send/big', big);
  const full = await http(s.url, 'GET', `/v2/send/big/blobs/${digest}`);
  expect(full.status).toBe(200);
  expect(full.body.equals(big)).toBe(true);
  const start = POOL_BUFFER_SIZE - 2;
  const end = 3 * POOL_BUFFER_SIZE + 1;
  const part = await http(s.url, 'GET', `/v2/send/big/blobs/${digest}`, { headers: { range: `bytes=${start}-${end}` } });
  expect(part.status).toBe(206);
  expect(part.headers['content-range']).toBe(`bytes ${start}-${end}/${big.length}`);
  expect(part.body.equals(big.subarray(start, end + 1))).toBe(true);

  // Read a little, then drop the connection while the server is still sending.
  const hex = digest.slice('sha256:'.length);
  const openBlobFiles = async () => {
    let n = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.endsWith(hex)) n++;
    }
    return n;
  };
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = nodeHttp.get(`${s.url}/v2/send/big/blobs/${digest}`, (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
    });
  }
  // The server (in this process) closes each blob file once the socket is gone.
  await waitFor(async () => (await openBlobFiles()) === 0, { timeoutMs: 2000, what: 'every blob file to be closed' });
  // And it still serves.
  const again = await http(s.url, 'GET', `/v2/send/big/blobs/${digest}`);
  expect(again.body.equals(big)).toBe(true);
});
