import { pipeline } from 'node:stream/promises';
import { OciError } from '../protocol/errors.js';
import { methodNotAllowed, requireDelete, type RequestContext } from './context.js';
import { parseRangeHeader, sendEmpty } from '../http/http-io.js';
import { checkDigestSyntax } from '../content/syntax.js';

/** GET/HEAD/DELETE /v2/NAME/blobs/DIGEST */
export async function handleBlob(ctx: RequestContext, name: string, digest: string): Promise<void> {
  const { req, res, storage } = ctx;
  const method = req.method ?? 'GET';
  if (method === 'DELETE') {
    requireDelete(ctx);
    checkDigestSyntax(digest);
    // A manifest's bytes are a blob too, but removing them would leave its tags (and a cached
    // copy) pointing at nothing: a manifest goes through the manifests endpoint.
    if (await storage.getManifest(name, digest)) {
      throw new OciError('UNSUPPORTED', `${digest} is a manifest in ${name}: delete it with DELETE /v2/${name}/manifests/${digest}`, {
        headers: { Allow: 'GET, HEAD' },
        detail: { digest },
      });
    }
    if (!(await storage.deleteBlob(name, digest))) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${name}`);
    sendEmpty(res, 202);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') methodNotAllowed(ctx, ['GET', 'HEAD', 'DELETE']);
  checkDigestSyntax(digest);
  // A HEAD usually decides that an upload can be skipped: mark the blob used so a gc running
  // now keeps it until the manifest that needs it arrives.
  const touch = method === 'HEAD' && !ctx.policy.readOnly && storage.touchBlob;
  const info = touch ? await storage.touchBlob!(name, digest) : await storage.statBlob(name, digest);
  if (!info) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${name}`, { detail: { digest } });
  if (method === 'GET' && storage.blobRedirectUrl) {
    // The bytes come from elsewhere (object store); the client verifies them against the digest.
    const location = await storage.blobRedirectUrl(name, digest);
    if (location) {
      sendEmpty(res, 307, { Location: location, 'Docker-Content-Digest': digest });
      return;
    }
  }
  const range = parseRangeHeader(req.headers.range, info.size);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    // Content-addressed: never changes.
    'Cache-Control': 'max-age=31536000',
  };
  let status = 200;
  if (range) {
    status = 206;
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${info.size}`;
    headers['Content-Length'] = range.end - range.start + 1;
  } else {
    headers['Content-Length'] = info.size;
  }
  if (method === 'HEAD') {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  if (storage.openBlobSender) {
    const send = await storage.openBlobSender(name, digest, range);
    res.writeHead(status, headers);
    try {
      await send(res);
      res.end();
    } catch {
      // Client went away mid-download (or the file came up short): the connection must not
      // look like a complete response.
      res.destroy();
    }
    return;
  }
  const stream = await storage.readBlob(name, digest, range);
  res.writeHead(status, headers);
  try {
    await pipeline(stream, res);
  } catch {
    // Client went away mid-download: nothing to answer.
  }
}
