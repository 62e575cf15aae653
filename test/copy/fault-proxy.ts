import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy in front of a real registry that misbehaves on cue: answer with a
 * status (503, 429 + Retry-After), cut the connection part-way through a response body, or
 * flip one byte of it. Each fault fires `times` times (default once) on matching requests.
 */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'drop'; afterBytes: number }
  | { kind: 'corrupt'; atByte: number };

export interface FaultRule {
  method: string;
  /** Matches the request path (without query). */
  path: RegExp;
  fault: Fault;
  times?: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
  fault?: Fault['kind'];
}

export interface FaultProxy {
  /** 127.0.0.1:PORT, usable as a registry in references. */
  registry: string;
  log: ProxyLogEntry[];
  rules: FaultRule[];
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: FaultRule[] = []): Promise<FaultProxy> {
  const log: ProxyLogEntry[] = [];
  const remaining = new Map<FaultRule, number>();
  let self = '';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const rule = rules.find((r) => r.method === req.method && r.path.test(path) && (remaining.get(r) ?? r.times ?? 1) > 0);
    if (rule) remaining.set(rule, (remaining.get(rule) ?? rule.times ?? 1) - 1);
    const entry: ProxyLogEntry = { method: req.method ?? '', path, headers: req.headers, status: 0, ...(rule ? { fault: rule.fault.kind } : {}) };
    log.push(entry);
    if (rule?.fault.kind === 'status') {
      // Drain what the client sends so it sees the answer, not a reset.
      req.resume();
      req.on('end', () => {
        entry.status = rule.fault.kind === 'status' ? rule.fault.status : 0;
        res.writeHead(entry.status, { 'content-type': 'application/json', ...(rule.fault.kind === 'status' ? rule.fault.headers : {}) });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}');
      });
      return;
    }
    const up = request(`http://${upstream}${req.url}`, { method: req.method, headers: { ...req.headers, host: upstream } }, (ur) => {
      entry.status = ur.statusCode ?? 0;
      const headers = { ...ur.headers };
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${upstream}`, `//${self}`);
      res.writeHead(ur.statusCode ?? 502, headers);
      let offset = 0;
      ur.on('data', (chunk: Buffer) => {
        const fault = rule?.fault;
        if (fault?.kind === 'drop' && offset + chunk.length > fault.afterBytes) {
          res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - offset)));
          offset = fault.afterBytes;
          ur.destroy();
          // Let the bytes go out, then cut the connection without finishing the body.
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        if (fault?.kind === 'corrupt' && fault.atByte >= offset && fault.atByte < offset + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[fault.atByte - offset] ^= 0x01;
        }
        offset += chunk.length;
        res.write(chunk);
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    registry: self,
    log,
    rules,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
