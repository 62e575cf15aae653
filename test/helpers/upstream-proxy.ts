import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * A loopback reverse proxy in front of a real registry, for pull-through tests: it records every
 * request, and on demand adds latency, answers 503 or 429, refuses connections, flips one byte
 * of blob bodies, or demands Docker Hub's Bearer token flow (401 + WWW-Authenticate: Bearer
 * realm=".../token",service="...", a token for Basic credentials, then Authorization: Bearer).
 */
export interface ProxyRequest {
  method: string;
  path: string;
  status: number;
  authorization?: string;
}

export interface UpstreamProxyOptions {
  /** Require the Bearer flow with these credentials (token endpoint at /token). */
  bearer?: { username: string; password: string };
}

export interface UpstreamProxy {
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  requests: ProxyRequest[];
  /** Token requests (Bearer mode), with the Authorization header they carried. */
  tokenRequests: Array<{ scope: string | null; authorization?: string }>;
  /** pass (default), fail (503), ratelimit (429), refuse (connections dropped without answer). */
  mode: 'pass' | 'fail' | 'ratelimit' | 'refuse';
  /** Flip one byte in the middle of every blob GET body. */
  corrupt: boolean;
  /** Added before each answer (ms). */
  latencyMs: number;
  /** Blob GETs seen so far, by digest. */
  blobGets(): Map<string, number>;
  close(): Promise<void>;
}

export async function startUpstreamProxy(target: string, options: UpstreamProxyOptions = {}): Promise<UpstreamProxy> {
  const upstream = new URL(target);
  const tokens = new Set<string>();
  const sockets = new Set<Socket>();
  let server: Server;
  const state: UpstreamProxy = {
    url: '',
    host: '',
    requests: [],
    tokenRequests: [],
    mode: 'pass',
    corrupt: false,
    latencyMs: 0,
    blobGets() {
      const m = new Map<string, number>();
      for (const r of state.requests) {
        const hit = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path);
        if (r.method === 'GET' && hit) m.set(hit[1]!, (m.get(hit[1]!) ?? 0) + 1);
      }
      return m;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const record = (status: number) =>
      state.requests.push({ method: req.method ?? '-', path, status, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (state.latencyMs > 0) await new Promise((r) => setTimeout(r, state.latencyMs));
    if (state.mode === 'refuse') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (options.bearer && path === '/token') {
      const scope = new URL(req.url ?? '/', 'http://x').searchParams.get('scope');
      state.tokenRequests.push({ scope, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const want = `Basic ${Buffer.from(`${options.bearer.username}:${options.bearer.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
      return;
    }
    if (state.mode === 'fail' || state.mode === 'ratelimit') {
      const status = state.mode === 'fail' ? 503 : 429;
      record(status);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: 'proxy says no' }] }));
      return;
    }
    if (options.bearer && path.startsWith('/v2/')) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
        record(401);
        res.writeHead(401, {
          'Content-Type': 'application/json',
          'WWW-Authenticate': `Bearer realm="${state.url}/token",service="registry.test"`,
        }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      record(up.statusCode ?? 0);
      res.writeHead(up.statusCode ?? 502, up.headers);
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(path) && up.statusCode === 200;
      const size = Number(up.headers['content-length']);
      let seen = 0;
      const mid = Math.floor(size / 2);
      up.on('data', (chunk: Buffer) => {
        if (state.corrupt && isBlob && mid >= seen && mid < seen + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[mid - seen] = chunk[mid - seen]! ^ 0xff;
        }
        seen += chunk.length;
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.on('end', () => res.end());
      up.on('error', () => res.destroy());
    });
    out.on('error', () => {
      record(502);
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(out);
  };

  server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${port}`;
  state.host = `127.0.0.1:${port}`;
  return state;
}
