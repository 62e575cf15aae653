import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWanProxy } from '../../bench/wan-proxy.mjs';

/**
 * bench/wan-proxy.mjs: delays each direction by the one-way latency, caps the rate, keeps bytes
 * and their order. Bounds are one-sided where load could only make things slower (a loaded
 * machine can delay more, never less), with a generous ceiling on the other side.
 */
let echo: Server;
let echoPort: number;

beforeAll(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => echo.close(r));
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Send `data`, collect exactly as many bytes back; resolves with them and the elapsed ms. */
async function roundTrip(port: number, data: Buffer): Promise<{ back: Buffer; ms: number }> {
  const s = await open(port);
  const chunks: Buffer[] = [];
  let got = 0;
  const t0 = performance.now();
  const done = new Promise<number>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) resolve(performance.now() - t0);
    });
    s.once('error', reject);
  });
  s.write(data);
  const ms = await done;
  s.destroy();
  return { back: Buffer.concat(chunks), ms };
}

describe('bench/wan-proxy.mjs', () => {
  it('adds the latency in each direction (round trip >= 2 x 50 ms) and keeps the bytes', async () => {
    const p = await startWanProxy({ target: `127.0.0.1:${echoPort}`, latencyMs: 50 });
    try {
      const msg = Buffer.from('ping over a slow link');
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { back, ms } = await roundTrip(p.port, msg);
        expect(back.equals(msg)).toBe(true);
        times.push(ms);
      }
      for (const ms of times) expect(ms).toBeGreaterThanOrEqual(99);
      expect(Math.min(...times)).toBeLessThan(600);
      expect(p.stats.up).toBe(3 * msg.length);
      expect(p.stats.down).toBe(3 * msg.length);
      expect(p.stats.connections).toBe(3);
    } finally {
      await p.close();
    }
  });

  it('caps the rate per direction (40 Mbit/s: 4 MiB echoed takes >= 0.84 s) and delivers every byte in order', async () => {
    const p = await startWanProxy({ target: `127.0.0.1:${echoPort}`, latencyMs: 5, mbit: 40, bufferBytes: 512 * 1024 });
    try {
      const data = randomBytes(4 * 1024 * 1024);
      const { back, ms } = await roundTrip(p.port, data);
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      // 4 MiB at 5 MB/s is 0.839 s per direction; the echo pipelines, so the total is >= one
      // direction's transfer plus the other's last chunk; bounded above by both in series, x4.
      const oneWay = (data.length * 8) / 40e6 * 1000;
      expect(ms).toBeGreaterThanOrEqual(oneWay);
      expect(ms).toBeLessThan(oneWay * 2 * 4 + 1000);
    } finally {
      await p.close();
    }
  });

  it('counts HTTP/1.1 request lines going up when asked', async () => {
    const p = await startWanProxy({ target: `127.0.0.1:${echoPort}`, latencyMs: 1, countRequests: true });
    try {
      const heads = Buffer.from('GET /v2/ HTTP/1.1\r\nhost: x\r\n\r\nHEAD /v2/a/manifests/v1 HTTP/1.1\r\nhost: x\r\n\r\nnot GET /x HTTP/1.0\r\n');
      const { back } = await roundTrip(p.port, heads);
      expect(back.equals(heads)).toBe(true);
      expect(p.stats.requests).toBe(2);
    } finally {
      await p.close();
    }
  });

  it('passes a half-close on after the data, in order', async () => {
    const sink = createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash('sha256');
      s.on('data', (c) => h.update(c));
      s.on('end', () => s.end(h.digest('hex')));
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const p = await startWanProxy({ target: `127.0.0.1:${(sink.address() as AddressInfo).port}`, latencyMs: 10, mbit: 200 });
    try {
      const data = randomBytes(1024 * 1024 + 7);
      const s = await open(p.port);
      const reply: Buffer[] = [];
      const ended = new Promise<void>((r) => s.on('end', r));
      s.on('data', (c: Buffer) => reply.push(c));
      s.end(data);
      await ended;
      expect(Buffer.concat(reply).toString()).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      await p.close();
      await new Promise((r) => sink.close(r));
    }
  });
});
