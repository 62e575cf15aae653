import { OciError } from '../errors.js';
import { hasBody, methodNotAllowed, requireWritable, type RequestContext } from '../context.js';
import { parseUploadRange, sendEmpty } from '../http.js';
import { checkDigest, checkUploadId, isAllowedRepository } from '../validate.js';
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
    checkDigest(mount);
    const from = url.searchParams.get('from');
    // An unusable `from` is not an error: the spec says fall back to a regular upload.
    const fromOk = from === null || (isAllowedRepository(from) && from !== name);
    if (fromOk && (await storage.mountBlob(name, mount, from ?? undefined))) {
      drain(ctx);
      created(ctx, name, mount);
      return;
    }
  }
  const digest = url.searchParams.get('digest');
  if (digest !== null) {
    checkDigest(digest);
    const info = await storage.createUpload(name);
    try {
      await storage.appendUpload(name, info.id, ctx.req);
      await storage.completeUpload(name, info.id, digest);
    } catch (e) {
      await storage.cancelUpload(name, info.id).catch(() => undefined);
      throw e;
    }
    created(ctx, name, digest);
    return;
  }
  drain(ctx);
  const info = await storage.createUpload(name);
  sendEmpty(ctx.res, 202, progressHeaders(name, info));
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
    sendEmpty(res, 204);
    return;
  }
  if (method !== 'PATCH' && method !== 'PUT') methodNotAllowed(ctx, ['GET', 'PATCH', 'PUT', 'DELETE']);
  requireWritable(ctx);

  let digest: string | null = null;
  if (method === 'PUT') {
    digest = url.searchParams.get('digest');
    if (digest === null) throw new OciError('DIGEST_INVALID', 'PUT needs ?digest=');
    checkDigest(digest);
  }
  try {
    if (method === 'PATCH' || hasBody(ctx)) {
      const range = parseUploadRange(req.headers['content-range']);
      const declared = req.headers['content-length'];
      if (range && declared !== undefined && Number(declared) !== range.end - range.start + 1) {
        throw new OciError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range', { status: 416 });
      }
      const info = await storage.appendUpload(name, id, req, range?.start);
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
  created(ctx, name, digest!);
}

/** Discard a body we do not use, so the connection can be reused. */
function drain(ctx: RequestContext): void {
  ctx.req.resume();
}

