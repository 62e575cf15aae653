import { OciError } from '../protocol/errors.js';
import { uploadOwner } from '../ops/limits.js';
import { hasBody, methodNotAllowed, requireWritable, type RequestContext } from './context.js';
import { parseUploadRange, sendEmpty } from '../http/http-io.js';
import { checkDigestSyntax, checkUploadId, isAllowedRepository } from '../content/syntax.js';
import type { UploadInfo } from '../storage/types.js';

function uploadLocation(name: string, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

function progressHeaders(name: string, info: UploadInfo): Record<string, string | number> {
  return {
    Location: uploadLocation(name, info.id),
    // The spec's Range is inclusive; "0-0" for an empty session is what clients expect.
    Range: `0-${Math.max(info.size - 1, 0)}`,
    'Docker-Upload-UUID': info.id,
  };
}

function created(ctx: RequestContext, name: string, digest: string): void {
  sendEmpty(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** POST /v2/NAME/blobs/uploads/ : start a session, mount, or upload in one request. */
export async function handleUploadStart(ctx: RequestContext, name: string): Promise<void> {
  if (ctx.req.method !== 'POST') methodNotAllowed(ctx, ['POST']);
  requireWritable(ctx);
  const { storage, url } = ctx;
  const mount = url.searchParams.get('mount');
  if (mount !== null) {
    checkDigestSyntax(mount);
    if (await tryMount(ctx, name, mount, url.searchParams.get('from'))) {
      drain(ctx);
      created(ctx, name, mount);
      return;
    }
  }
  const digest = url.searchParams.get('digest');
  if (digest !== null) checkDigestSyntax(digest);
  // socket is null once a request was destroyed; such a request counts as address "unknown".
  const slot = ctx.uploads?.acquire(name, uploadOwner(ctx.access?.user, ctx.req.socket?.remoteAddress));
  if (slot && !slot.ok) {
    drain(ctx);
    throw new OciError(slot.code, slot.message, { status: slot.status, headers: slot.headers });
  }
  if (digest !== null) {
    try {
      const info = await storage.createUpload(name);
      try {
        const after = await storage.appendUpload(name, info.id, ctx.req);
        ctx.setBytesIn?.(after.size);
        await storage.completeUpload(name, info.id, digest);
      } catch (e) {
        await storage.cancelUpload(name, info.id).catch(() => undefined);
        throw e;
      }
    } finally {
      slot?.release();
    }
    created(ctx, name, digest);
    return;
  }
  drain(ctx);
  let info: UploadInfo;
  try {
    info = await storage.createUpload(name);
  } catch (e) {
    slot?.release();
    throw e;
  }
  slot?.attach(info.id);
  sendEmpty(ctx.res, 202, progressHeaders(name, info));
}

/**
 * Cross-repository mount, only from where the caller may read (the front door's decision):
 * with `from`, from there; without, from anywhere when unrestricted, else from a readable
 * repository holding the blob. Not allowed or not found: false, and a plain upload starts,
 * so the answer says nothing about repositories the caller cannot read.
 */
async function tryMount(ctx: RequestContext, name: string, digest: string, from: string | null): Promise<boolean> {
  const { storage, access } = ctx;
  // An unusable `from` is not an error: the spec says fall back to a regular upload.
  if (from !== null && (!isAllowedRepository(from) || from === name)) return false;
  if (!access) return storage.mountBlob(name, digest, from ?? undefined);
  if (!access.mount || access.mount.digest !== digest) return false;
  if (access.mount.from !== undefined) return access.mount.from === from && storage.mountBlob(name, digest, from);
  if (access.unrestricted) return storage.mountBlob(name, digest);
  for (const r of await storage.listRepositories()) {
    if (r === name || !access.canRead(r)) continue;
    if (await storage.mountBlob(name, digest, r)) return true;
  }
  return false;
}

/** GET/PATCH/PUT/DELETE /v2/NAME/blobs/uploads/ID */
export async function handleUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const { req, res, storage, url } = ctx;
  checkUploadId(id);
  const method = req.method ?? 'GET';
  if (method === 'GET') {
    const info = await storage.statUpload(name, id);
    if (!info) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    sendEmpty(res, 204, progressHeaders(name, info));
    return;
  }
  if (method === 'DELETE') {
    requireWritable(ctx);
    if (!(await storage.cancelUpload(name, id))) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    ctx.uploads?.release(id);
    sendEmpty(res, 204);
    return;
  }
  if (method !== 'PATCH' && method !== 'PUT') methodNotAllowed(ctx, ['GET', 'PATCH', 'PUT', 'DELETE']);
  requireWritable(ctx);

  let digest: string | null = null;
  if (method === 'PUT') {
    digest = url.searchParams.get('digest');
    if (digest === null) throw new OciError('DIGEST_INVALID', 'PUT needs ?digest=');
    checkDigestSyntax(digest);
  }
  try {
    if (method === 'PATCH' || hasBody(ctx)) {
      const range = parseUploadRange(req.headers['content-range']);
      const declared = req.headers['content-length'];
      if (range && declared !== undefined && Number(declared) !== range.end - range.start + 1) {
        throw new OciError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range', { status: 416 });
      }
      const before = ctx.setBytesIn ? ((await storage.statUpload(name, id))?.size ?? 0) : 0;
      ctx.uploads?.touch(id);
      const info = await storage.appendUpload(name, id, req, range?.start);
      ctx.setBytesIn?.(Math.max(0, info.size - before));
      if (method === 'PATCH') {
        sendEmpty(res, 202, progressHeaders(name, info));
        return;
      }
    } else if ((await storage.statUpload(name, id)) === undefined) {
      throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    }
  } catch (e) {
    if (e instanceof OciError && e.status === 416) {
      // Tell the client where the session really is, so it can resume.
      const info = await storage.statUpload(name, id);
      if (info) Object.assign(e.headers, progressHeaders(name, info));
    }
    throw e;
  }
  await storage.completeUpload(name, id, digest!);
  ctx.uploads?.release(id);
  created(ctx, name, digest!);
}

/** Discard a body we do not use, so the connection can be reused. */
function drain(ctx: RequestContext): void {
  ctx.req.resume();
}

