/** One line per request. Never includes headers (Authorization) or query strings. */
export interface AccessLogEntry {
  time: string;
  remote: string;
  method: string;
  /** Path only: query strings are dropped. */
  path: string;
  status: number;
  /** Response body bytes. */
  bytes: number;
  ms: number;
  userAgent?: string;
}

export type AccessLogFormat = 'text' | 'json';

export function formatAccessLog(e: AccessLogEntry, format: AccessLogFormat): string {
  if (format === 'json') return JSON.stringify(e);
  const ua = e.userAgent ? ` "${e.userAgent.replace(/"/g, "'").slice(0, 200)}"` : '';
  return `${e.time} ${e.remote} ${e.method} ${e.path} ${e.status} ${e.bytes} ${e.ms.toFixed(1)}ms${ua}`;
}
