import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSecureServe, type SecureServe } from './harness.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The access log's status for a blob GET whose client closes the connection as soon as it has
 * the whole body (as curl and skopeo do): it was recorded as 0 ("closed before the response
 * finished") about one time in three, because the handler's end() could run after the client
 * had gone. A response cut off mid-body is still recorded as 0.
 */

let s: SecureServe;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = randomBytes(256 * 1024);
const digest = sha(blob);
/** More than loopback socket buffers hold: the server is still writing when the client goes. */
const big = randomBytes(32 * 1024 * 1024);

beforeAll(async () => {
  s = await startSecureServe();
  for (const b of [blob, big]) {
    const res = await fetch(`${s.url}/v2/status/blob/blobs/uploads/?digest=${sha(b)}`, { method: 'POST', body: b, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => s?.close());

/**
 * In another process (as a real client is: in-process, the client's close and the server's end()
 * share one event loop and the race hides): GET a blob `times` times over raw sockets, each
 * closed as soon as `closeAfter` body bytes arrived.
 */
function getAndClose(closeAfter: number, want = digest, times = 1): Promise<void> {
  const script = `
    const net = require('node:net');
    const [port, path, closeAfter, times] = process.argv.slice(1);
    const once = () => new Promise((resolve, reject) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      let head = '', body = 0, inBody = false;
      sock.on('data', (c) => {
        if (!inBody) {
          head += c.toString('latin1');
          const at = head.indexOf('\\r\\n\\r\\n');
          if (at < 0) return;
          inBody = true;
          body = Buffer.byteLength(head.slice(at + 4), 'latin1');
        } else body += c.length;
        if (body >= Number(closeAfter)) { sock.destroy(); resolve(); }
      });
      sock.on('error', reject);
      sock.write('GET ' + path + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
    });
    (async () => { for (let i = 0; i < Number(times); i++) await once(); })().catch((e) => { console.error(e); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, new URL(s.url).port, `/v2/status/blob/blobs/${want}`, String(closeAfter), String(times)], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client exited ${code}`))));
  });
}

it('a client that closes right after the whole body is logged 200, one cut off mid-body 0', async () => {
  const before = s.records.length;
  await getAndClose(blob.length, digest, 30);
  await waitFor(() => s.records.filter((r) => r.path.includes('/blobs/sha256:')).length >= 30, { what: '30 access-log records' });
  const full = s.records.slice(before).filter((r) => r.method === 'GET' && r.path.includes('/blobs/sha256:'));
  expect(full.map((r) => r.status)).toEqual(Array(30).fill(200));

  const mark = s.records.length;
  await getAndClose(1, sha(big));
  await waitFor(() => s.records.length > mark, { what: 'the cut-off request logged' });
  expect(s.records[mark]).toMatchObject({ method: 'GET', status: 0 });
});
