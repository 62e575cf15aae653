import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from './errors.js';

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
 * it when Content-Length says so, or as soon as the stream passes the limit.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const tooLarge = () =>
    new OciError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { status: 413, detail: { limit } });
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
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
