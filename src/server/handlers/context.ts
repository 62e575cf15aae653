import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../protocol/errors.js';
import type { UploadSessionLimiter } from '../ops/limits.js';
import type { Allowed } from '../security/authorize.js';
import type { RegistryStorage } from '../storage/types.js';

export interface ServerPolicy {
  readOnly: boolean;
  deleteEnabled: boolean;
  maxManifestBytes: number;
  /** Tags a repository may hold (undefined: no cap). */
  maxTagsPerRepository?: number;
}

/** What every handler gets for one request. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  storage: RegistryStorage;
  policy: ServerPolicy;
  /** The front door's decision (user, what they may read, whether a mount may be tried). */
  access?: Allowed;
  /** Caps on open upload sessions. */
  uploads?: UploadSessionLimiter;
  /** Report request-body bytes stored (metrics, access log). */
  setBytesIn?: (n: number) => void;
}

export function requireWritable(ctx: RequestContext): void {
  if (ctx.policy.readOnly) throw new OciError('UNSUPPORTED', 'this registry is read-only');
}

export function requireDelete(ctx: RequestContext): void {
  requireWritable(ctx);
  if (!ctx.policy.deleteEnabled) throw new OciError('UNSUPPORTED', 'deletion is disabled on this registry');
}

export function methodNotAllowed(ctx: RequestContext, allowed: string[]): never {
  throw new OciError('UNSUPPORTED', `method ${ctx.req.method} not allowed here`, { headers: { Allow: allowed.join(', ') } });
}

/** True when the request carries a body (Content-Length > 0 or chunked transfer encoding). */
export function hasBody(ctx: RequestContext): boolean {
  const len = ctx.req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return ctx.req.headers['transfer-encoding'] !== undefined;
}
