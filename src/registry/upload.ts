import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { DigestMismatchError, NetworkError } from '../errors.js';
import { Digester, VerifyingStream } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { drain, type Transport } from '../transport/http.js';

/** What an upload needs to know about its repository. */
export interface UploadTarget {
  transport: Transport;
  registry: string;
  name: string;
  scopes: string[];
}

export interface UploadSession {
  location: string;
  /** `OCI-Chunk-Min-Length` from the registry, when it sets one. */
  minChunk?: number;
}

/** POST /blobs/uploads/: open an upload session (Location is where bytes go). */
export async function startUpload(t: UploadTarget): Promise<UploadSession> {
  const res = await t.transport.request({
    method: 'POST',
    registry: t.registry,
    path: `/v2/${t.name}/blobs/uploads/`,
    headers: { 'content-length': '0' },
    scopes: t.scopes,
    ok: [202],
  });
  await drain(res);
  return { location: locationOf(t, res.header('location'), res.url), minChunk: positive(res.header('oci-chunk-min-length')) };
}

export function locationOf(t: UploadTarget, location: string | undefined, base: string): string {
  if (!location) throw new NetworkError(`${t.registry}/${t.name}: upload response has no Location`);
  return new URL(location, base).toString();
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Best effort: tell the registry an upload session is abandoned. */
export async function cancelUpload(t: UploadTarget, location: string): Promise<void> {
  try {
    const res = await t.transport.request({ method: 'DELETE', registry: t.registry, path: location, scopes: t.scopes, ok: [200, 202, 204, 404] });
    await drain(res);
  } catch {
    // the session expires on its own
  }
}

/**
 * Open an upload session for `body`. The body may fail while the session is being opened
 * (nobody reads it yet): catch that now and cancel, or the upload would wait forever.
 */
async function startUploadFor(t: UploadTarget, body: Readable): Promise<Awaited<ReturnType<typeof startUpload>>> {
  let early: unknown;
  const onEarly = (e: unknown): void => {
    early ??= e;
  };
  body.on('error', onEarly);
  let session: Awaited<ReturnType<typeof startUpload>>;
  try {
    session = await startUpload(t);
  } finally {
    body.off('error', onEarly);
  }
  if (early !== undefined) {
    await cancelUpload(t, session.location);
    throw early;
  }
  return session;
}

/** Counts bytes for progress reporting. */
class Counter extends Transform {
  constructor(private readonly onProgress?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.onProgress?.(chunk.length);
    cb(null, chunk);
  }
}

/**
 * Upload a blob of known digest. Default: one streamed PUT (monolithic after POST). With a
 * chunk size, PATCH chunks of that size (at least the registry's OCI-Chunk-Min-Length); each
 * chunk is held in memory so a failed chunk can be re-sent. The bytes are verified against
 * `desc.digest` while they stream; on mismatch the session is cancelled.
 */
export async function uploadBlob(
  t: UploadTarget,
  desc: Descriptor,
  body: Readable,
  options: { chunkSize?: number; onProgress?: (n: number) => void },
): Promise<void> {
  const session = await startUploadFor(t, body);
  // The copy engine already streams through a verifier for this digest: hashing again would
  // cost ~0.15 s of CPU per 100 MiB for nothing.
  const alreadyVerified =
    body instanceof VerifyingStream && body.expected.digest === desc.digest && body.expected.size === desc.size;
  const verify = alreadyVerified ? body : new VerifyingStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` });
  let verifyError: unknown;
  verify.on('error', (e) => {
    verifyError = e;
  });
  if (verify !== body) body.on('error', (e) => verify.destroy(e));
  const verified = verify === body ? body : body.pipe(verify);
  // Every stream hop costs per chunk (~8,000 chunks per 500 MiB): count only when asked to.
  const source = options.onProgress ? verified.pipe(new Counter(options.onProgress)) : verified;
  verify.on('error', (e) => source.destroy(e));
  try {
    const chunk = options.chunkSize ? Math.max(options.chunkSize, session.minChunk ?? 0) : 0;
    if (chunk > 0 && desc.size > chunk) {
      const location = await patchChunks(t, session.location, source, chunk);
      await finish(t, location, desc.digest);
    } else {
      const res = await t.transport.request({
        method: 'PUT',
        registry: t.registry,
        path: withDigest(session.location, desc.digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body: source,
        scopes: t.scopes,
        ok: [201, 204],
      });
      await drain(res);
    }
  } catch (e) {
    await cancelUpload(t, session.location);
    if (verifyError instanceof DigestMismatchError) throw verifyError;
    throw e;
  }
  if (verifyError) throw verifyError;
}

/** Upload a blob whose digest is computed while it streams (one PATCH, then PUT ?digest=). */
export async function uploadComputed(
  t: UploadTarget,
  body: Readable,
  mediaType: string,
  onProgress?: (n: number) => void,
): Promise<Descriptor> {
  const session = await startUploadFor(t, body);
  const digester = new Digester();
  const hashing = new Transform({
    transform(chunk: Buffer, _e, cb) {
      digester.update(chunk);
      onProgress?.(chunk.length);
      cb(null, chunk);
    },
  });
  body.on('error', (e) => hashing.destroy(e));
  try {
    const res = await t.transport.request({
      method: 'PATCH',
      registry: t.registry,
      path: session.location,
      headers: { 'content-type': 'application/octet-stream' },
      body: body.pipe(hashing),
      scopes: t.scopes,
      ok: [202, 204],
    });
    await drain(res);
    const location = res.header('location') ? locationOf(t, res.header('location'), res.url) : session.location;
    const digest = digester.digest();
    await finish(t, location, digest);
    return { mediaType, digest, size: digester.bytes };
  } catch (e) {
    await cancelUpload(t, session.location);
    throw e;
  }
}

async function finish(t: UploadTarget, location: string, digest: string): Promise<void> {
  const res = await t.transport.request({
    method: 'PUT',
    registry: t.registry,
    path: withDigest(location, digest),
    headers: { 'content-length': '0' },
    body: Buffer.alloc(0),
    scopes: t.scopes,
    ok: [201, 204],
  });
  await drain(res);
}

async function patchChunks(t: UploadTarget, start: string, source: Readable, chunkSize: number): Promise<string> {
  let location = start;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const send = async (data: Buffer): Promise<void> => {
    const res = await t.transport.request({
      method: 'PATCH',
      registry: t.registry,
      path: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        'content-range': `${offset}-${offset + data.length - 1}`,
      },
      body: data,
      scopes: t.scopes,
      ok: [202, 204],
    });
    await drain(res);
    if (res.header('location')) location = locationOf(t, res.header('location'), res.url);
    offset += data.length;
  };
  for await (const c of source) {
    const chunk = c as Buffer;
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= chunkSize) {
      const all = Buffer.concat(pending);
      await send(all.subarray(0, chunkSize));
      const rest = all.subarray(chunkSize);
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
    }
  }
  if (pendingBytes > 0) await send(Buffer.concat(pending));
  return location;
}

function positive(v: string | undefined): number | undefined {
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
