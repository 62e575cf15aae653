import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP reverse proxy in front of one registry that counts the requests it forwards,
 * per method and path (query string kept apart), so tests can assert exact request counts.
 */
export interface CountingProxy {
  /** `127.0.0.1:PORT`, usable as the registry part of a reference. */
  registry: string;
  url: string;
  /** Every forwarded request in order: method, path without query, the query string, status. */
  requests: Array<{ method: string; path: string; query: string; status: number }>;
  /** How many requests matched (all when no filter). */
  count(filter?: { method?: string; path?: string | RegExp }): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target.includes('://') ? target : `http://${target}`);
  const requests: CountingProxy['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const entry = { method: req.method ?? 'GET', path: q < 0 ? raw : raw.slice(0, q), query: q < 0 ? '' : raw.slice(q + 1), status: 0 };
    requests.push(entry);
    const headers = { ...req.headers, host: upstream.host };
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: raw, headers }, (up) => {
      entry.status = up.statusCode ?? 0;
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v === undefined) continue;
        // Absolute Locations and Links name the upstream; point them at the proxy.
        h[k] = typeof v === 'string' && (k === 'location' || k === 'link') ? v.split(upstream.origin).join(self.url) : v;
      }
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
    });
    out.on('error', () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const self: CountingProxy = {
    registry: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    count(filter = {}) {
      return requests.filter(
        (r) =>
          (filter.method === undefined || r.method === filter.method) &&
          (filter.path === undefined || (typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))),
      ).length;
    },
    reset() {
      requests.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return self;
}
