import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OciError } from '../protocol/errors.js';

/** Small response helpers shared by the handlers. */

export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0', 'X-Content-Type-Options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, method = 'GET'): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
  res.end(method === 'HEAD' ? undefined : data);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number | string[]> = {}): void {
  res.writeHead(status, { 'Content-Length': 0, ...headers });
  res.end();
}

export function sendError(req: IncomingMessage, res: ServerResponse, err: OciError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, err.toJSON(), err.headers, req.method);
}

/**
 * Read a small body (manifests) whole, refusing more than `limit` bytes with 413 before reading
 * it when Content-Length says so, or as soon as the stream passes the limit. The request is
 * never destroyed here (a destroyed request takes its socket along, and the 413 with it): the
 * rest of the body is left to answerEarly's rule.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const tooLarge = () =>
    new OciError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { status: 413, detail: { limit } });
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A body up to this size that an early answer left unread is read and dropped, keeping the connection. */
export const DRAIN_LIMIT = 64 * 1024;

/**
 * Early answers (401/403/413/416/429... sent before the request body was read): a keep-alive
 * client would send its next request on the same connection, behind bytes nobody reads. So when
 * the response head goes out with the body unfinished, a small declared body is drained and the
 * connection kept; anything else (chunked, large) is answered with `Connection: close`, and Node
 * closes the socket once the answer is out. Installed once per request; covers writeHead and
 * the implicit head of write()/end().
 */
export function answerEarlySafely(req: IncomingMessage, res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!req.complete && !res.headersSent && hasRequestBody(req)) {
      const len = req.headers['content-length'];
      if (req.headers['transfer-encoding'] === undefined && len !== undefined && Number(len) <= DRAIN_LIMIT) {
        res.once('finish', () => req.resume());
      } else {
        res.setHeader('Connection', 'close');
        lingerBeforeClose(req, res);
      }
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/** How long a connection closed after an early answer keeps reading (and dropping) the body. */
const LINGER_MS = 2_000;

/**
 * Closing a socket with unread bytes in its receive queue sends a reset, and a reset makes the
 * client's kernel drop the answer it has not read yet: the client sees ECONNRESET instead of
 * the 413. So half-close (FIN after the answer), keep reading and dropping what the client still
 * sends, and destroy when it closes its side or after LINGER_MS (a bound for clients that go on
 * sending), as web servers' "lingering close" does.
 */
function lingerBeforeClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket || typeof socket.destroySoon !== 'function') return;
  socket.destroySoon = function (this: Socket) {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
  };
  res.once('finish', () => req.resume());
}

function hasRequestBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return len !== undefined && Number(len) > 0;
}

/**
 * A disk or quota that is full is a condition of the server's storage the client can do
 * nothing about but wait: 507 Insufficient Storage, OCI envelope. Undefined for other errors.
 */
export function storageFullError(e: unknown): OciError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  return new OciError('UNKNOWN', code === 'EDQUOT' ? 'storage quota exceeded; try again later' : 'storage is full; try again later', { status: 507 });
}

/** Parse a request Range header for a blob of `size` bytes. undefined = whole blob. */
export function parseRangeHeader(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const unsatisfiable = () =>
    new OciError('SIZE_INVALID', `range ${header} not satisfiable for ${size} bytes`, {
      status: 416,
      headers: { 'Content-Range': `bytes */${size}` },
    });
  // Multiple ranges or odd units: serve the whole blob, as RFC 9110 allows.
  if (!m) return undefined;
  const [, a, b] = m;
  let start: number;
  let end: number;
  if (a === '' && b === '') throw unsatisfiable();
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) throw unsatisfiable();
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) throw unsatisfiable();
  }
  if (start >= size) throw unsatisfiable();
  return { start, end };
}

/** Content-Range of an upload chunk: "START-END" (spec) or "bytes START-END" (some clients). */
export function parseUploadRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new OciError('BLOB_UPLOAD_INVALID', `malformed Content-Range "${header.slice(0, 60)}"`, { status: 416 });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new OciError('BLOB_UPLOAD_INVALID', `malformed Content-Range "${header}"`, { status: 416 });
  return { start, end };
}
