import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Allowed, Authorize } from '../security/authorize.js';
import { meterResponse } from '../ops/response-meter.js';
import { accessLogRecord, type AccessLogRecord } from './access-log.js';
import type { HealthResult } from '../ops/health.js';
import { checkUrlLength, type HttpLimits } from '../ops/limits.js';
import type { RegistryMetrics } from '../ops/metrics.js';

/**
 * The front door, run first for every request: URL length, /healthz, /metrics, then
 * authentication and authorization. It answers refusals itself (OCI error envelope) and
 * returns the decision for requests the router should handle. It also hooks metrics and the
 * access log onto the response, so the router only reports what it alone knows (bytes stored).
 */

export interface GuardOptions {
  authorize: Authorize;
  metrics?: RegistryMetrics;
  health?: () => Promise<HealthResult>;
  limits?: HttpLimits;
  /** Ask for a login on /metrics (any valid user). Default false: metrics carry no repository names. */
  metricsNeedLogin?: boolean;
  /** Called once per request when the response ends. */
  log?: (record: AccessLogRecord) => void;
  /** Told when writing the access log failed (it never fails the request or the process). */
  onLogError?: (error: unknown) => void;
}

export interface Admitted {
  decision: Allowed;
  /** Tell metrics and the log how many request-body bytes were stored. */
  setBytesIn(n: number): void;
}

/** Write `{"errors":[{code,message}]}` with a status and extra headers. */
export function sendOciError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}, method = 'GET'): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Docker-Distribution-API-Version': 'registry/2.0' });
  res.end(method === 'HEAD' ? undefined : body);
}

export function createGuard(options: GuardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<Admitted | undefined> {
  return async (req, res) => {
    // After a destroy the request has no socket any more: read the address while it is there.
    const remote = req.socket?.remoteAddress;
    const meter = meterResponse(res);
    options.metrics?.instrument(req, res);
    let decision: Allowed | undefined;
    if (options.log) {
      meter.onEnd(() => {
        const length = Number(req.headers['content-length']);
        // A listener that throws would be thrown by the emitter, out of every request's reach.
        try {
          options.log!(
            accessLogRecord(req, res, {
              remote: remote ?? '',
              ...(decision?.user !== undefined ? { user: decision.user } : {}),
              ...(decision?.route.repository !== undefined ? { repository: decision.route.repository } : {}),
              ...(decision?.action !== undefined ? { action: decision.action } : {}),
              bytesIn: meter.bytesIn ?? (Number.isSafeInteger(length) ? length : 0),
              bytesOut: meter.bytesOut,
              durationMs: performance.now() - meter.startedMs,
            }),
          );
        } catch (e) {
          options.onLogError?.(e);
        }
      });
    }
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';

    const tooLong = checkUrlLength(url, options.limits);
    if (tooLong) {
      sendOciError(res, tooLong.status, tooLong.code, tooLong.message, {}, method);
      return undefined;
    }
    const path = url.split('?')[0];
    if (path === '/healthz' && options.health && (method === 'GET' || method === 'HEAD')) {
      const h = await options.health();
      res.writeHead(h.status, h.headers);
      res.end(method === 'HEAD' ? undefined : h.body);
      return undefined;
    }

    const d = await options.authorize({
      method,
      path: url,
      headers: req.headers,
      ...(remote !== undefined ? { remoteAddress: remote } : {}),
    });
    if (!d.ok) {
      sendOciError(res, d.status, d.code, d.message, d.headers, method);
      return undefined;
    }
    decision = d;

    if (path === '/metrics' && options.metrics && (method === 'GET' || method === 'HEAD')) {
      if (options.metricsNeedLogin && d.user === undefined) {
        // authorize() passes non-registry paths through; a login is asked for here.
        const challenge = await options.authorize({ method: 'GET', path: '/v2/', headers: req.headers });
        if (!challenge.ok) {
          sendOciError(res, challenge.status, challenge.code, challenge.message, challenge.headers, method);
          return undefined;
        }
      }
      const m = await options.metrics.render();
      res.writeHead(200, { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : m.body);
      return undefined;
    }

    return {
      decision: d,
      setBytesIn(n: number) {
        meter.bytesIn = n;
      },
    };
  };
}
