import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryMetrics, routeLabel } from '../../src/server/ops/metrics.js';
import { waitFor } from '../helpers/wait.js';

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('RegistryMetrics', () => {
  it('counts requests by method, route kind and status, and bytes in/out', async () => {
    const m = new RegistryMetrics({ processMetrics: false });
    m.observeRequest({ method: 'get', route: 'manifest', status: 200, bytesOut: 500, durationSeconds: 0.01 });
    m.observeRequest({ method: 'GET', route: 'manifest', status: 200, bytesOut: 300 });
    m.observeRequest({ method: 'PATCH', route: 'upload', status: 202, bytesIn: 1 << 20 });
    m.observeRequest({ method: 'BREW', route: 'other', status: 405 });
    const { contentType, body } = await m.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(body, 'regctl_registry_http_requests_total', { method: 'GET', route: 'manifest', status: '200' })).toBe(2);
    expect(sample(body, 'regctl_registry_http_requests_total', { method: 'OTHER', route: 'other', status: '405' })).toBe(1);
    expect(sample(body, 'regctl_registry_http_response_bytes_total', { method: 'GET', route: 'manifest' })).toBe(800);
    expect(sample(body, 'regctl_registry_http_request_bytes_total', { method: 'PATCH', route: 'upload' })).toBe(1 << 20);
    expect(sample(body, 'regctl_registry_http_request_duration_seconds_count', { method: 'GET', route: 'manifest' })).toBe(1);
  });

  it('uses its own registry: two instances do not share counts, the global registry stays empty', async () => {
    const a = new RegistryMetrics();
    const b = new RegistryMetrics();
    a.observeRequest({ method: 'GET', route: 'base', status: 200 });
    expect(sample((await a.render()).body, 'regctl_registry_http_requests_total', { route: 'base' })).toBe(1);
    expect(sample((await b.render()).body, 'regctl_registry_http_requests_total', { route: 'base' })).toBeUndefined();
    expect(await globalRegistry.metrics()).not.toContain('regctl_registry_');
    expect((await a.render()).body).toContain('regctl_registry_process_resident_memory_bytes');
  });

  it('reads storage stats and uploads in progress from callbacks, caching storage stats', async () => {
    let now = 0;
    let calls = 0;
    let uploads = 3;
    const m = new RegistryMetrics({
      processMetrics: false,
      now: () => now,
      storageStatsTtlMs: 10_000,
      storageStats: async () => {
        calls++;
        if (calls === 3) throw new Error('disk gone');
        return { bytes: 1000 * calls, blobs: 10 * calls };
      },
      uploadsInProgress: () => uploads,
    });
    let body = (await m.render()).body;
    expect(sample(body, 'regctl_registry_storage_bytes')).toBe(1000);
    expect(sample(body, 'regctl_registry_storage_blobs')).toBe(10);
    expect(sample(body, 'regctl_registry_uploads_in_progress')).toBe(3);
    expect(calls).toBe(1); // both gauges shared one walk
    uploads = 1;
    body = (await m.render()).body;
    expect(calls).toBe(1);
    expect(sample(body, 'regctl_registry_uploads_in_progress')).toBe(1);
    now = 10_001;
    body = (await m.render()).body;
    expect(sample(body, 'regctl_registry_storage_bytes')).toBe(2000);
    now = 20_002;
    body = (await m.render()).body; // the callback fails: previous values stay
    expect(sample(body, 'regctl_registry_storage_bytes')).toBe(2000);
  });

  it('instrument() records real responses, including streamed bodies and aborted requests', async () => {
    const m = new RegistryMetrics({ processMetrics: false });
    server = createServer((req, res) => {
      const h = m.instrument(req, res);
      if (req.method === 'PATCH') {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => {
          h.setBytesIn(n);
          res.writeHead(202).end();
        });
        return;
      }
      if (req.url === '/v2/hang/manifests/x') return; // never answers
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('abc');
      res.write(Buffer.alloc(1000));
      res.end('ü');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const send = (method: string, path: string, body?: Buffer, abortAfterMs?: number) =>
      new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', () => resolve());
        if (abortAfterMs) setTimeout(() => req.destroy(), abortAfterMs);
        req.end(body);
      });
    await send('GET', `/v2/a/b/blobs/sha256:${'1'.repeat(64)}`);
    await send('PATCH', '/v2/a/blobs/uploads/0123456789abcdef0123456789abcdef', Buffer.alloc(70_000));
    await send('GET', '/v2/hang/manifests/x', undefined, 100);
    // The aborted request is counted when the server sees the socket close: polled.
    const body = await waitFor(async () => {
      const text = (await m.render()).body;
      return sample(text, 'regctl_registry_http_requests_total', { method: 'GET', route: 'manifest', status: '0' }) === 1 ? text : undefined;
    }, { what: 'the aborted request in the metrics' });
    expect(sample(body, 'regctl_registry_http_requests_total', { method: 'GET', route: 'blob', status: '200' })).toBe(1);
    expect(sample(body, 'regctl_registry_http_response_bytes_total', { method: 'GET', route: 'blob' })).toBe(1005);
    expect(sample(body, 'regctl_registry_http_request_bytes_total', { method: 'PATCH', route: 'upload' })).toBe(70_000);
    expect(sample(body, 'regctl_registry_http_requests_total', { method: 'GET', route: 'manifest', status: '0' })).toBe(1);
  });

  it.each([
    ['/v2/', 'base'],
    ['/v2/_catalog?n=1', 'catalog'],
    ['/v2/a/b/tags/list', 'tags'],
    ['/v2/a/manifests/latest', 'manifest'],
    ['/v2/a/blobs/uploads/', 'uploads'],
    ['/healthz', 'healthz'],
    ['/metrics?x', 'metrics'],
    ['/favicon.ico', 'other'],
    ['/v2/zzz', 'unknown'],
  ])('route label of %s is %s', (url, label) => {
    expect(routeLabel(url)).toBe(label);
  });
});
