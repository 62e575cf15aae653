import type { IncomingMessage, ServerResponse } from 'node:http';
import { stripUserinfo } from '../protocol/request-target.js';
import { meterResponse } from '../ops/response-meter.js';

/**
 * One access-log record per request, built from fields chosen one by one: no headers, no
 * query values except the safe registry ones, so an Authorization header, a password or a
 * token in a URL can never reach the log.
 */

export interface AccessLogRecord {
  time: string;
  remote: string;
  method: string;
  /** Path with the query reduced to known registry parameters. */
  path: string;
  status: number;
  user?: string;
  repository?: string;
  action?: string;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  userAgent?: string;
}

const SAFE_QUERY = new Set(['n', 'last', 'digest', 'mount', 'from', 'artifactType', 'tag']);

/** The request target with unknown query parameters' values replaced by `redacted` (userinfo is stripped before). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const key = eq < 0 ? p : p.slice(0, eq);
      let name = key;
      try {
        name = decodeURIComponent(key);
      } catch {
        // keep it encoded
      }
      return SAFE_QUERY.has(name) || eq < 0 ? p : `${key}=redacted`;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

export function accessLogRecord(
  req: IncomingMessage,
  res: ServerResponse,
  extra: { remote?: string; user?: string; repository?: string; action?: string; bytesIn?: number; bytesOut?: number; durationMs: number },
): AccessLogRecord {
  const ua = req.headers['user-agent'];
  const r: AccessLogRecord = {
    time: new Date().toISOString(),
    remote: extra.remote ?? req.socket?.remoteAddress ?? '',
    method: req.method ?? '',
    path: redactUrl(stripUserinfo(req.url ?? '').slice(0, 2048)),
    status: meterResponse(res).recordedStatus,
    bytesIn: extra.bytesIn ?? 0,
    bytesOut: extra.bytesOut ?? 0,
    durationMs: Math.round(extra.durationMs * 10) / 10,
  };
  if (extra.user !== undefined) r.user = extra.user;
  if (extra.repository !== undefined) r.repository = extra.repository;
  if (extra.action !== undefined) r.action = extra.action;
  if (typeof ua === 'string') r.userAgent = ua.slice(0, 256);
  return r;
}

/** JSON (one object per line) or a compact text line. */
export function formatAccessLog(r: AccessLogRecord, format: 'json' | 'text'): string {
  if (format === 'json') return JSON.stringify(r);
  // eslint-disable-next-line no-control-regex
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f"]/g, '?');
  return `${r.time} ${r.remote} ${r.user ? clean(r.user) : '-'} "${r.method} ${clean(r.path)}" ${r.status} in=${r.bytesIn} out=${r.bytesOut} ${r.durationMs}ms`;
}
