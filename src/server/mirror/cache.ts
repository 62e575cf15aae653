import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, parseDigest } from '../../oci/digest.js';
import { isIndex } from '../../oci/manifest.js';
import { MANIFEST_ACCEPT } from '../../oci/mediatypes.js';
import { isValidTag } from '../../ref/reference.js';
import { UpstreamError } from '../../errors.js';
import type { RequestContext } from '../handlers/context.js';
import { OciError } from '../protocol/errors.js';
import { handleBlob } from '../handlers/blobs.js';
import { parseRangeHeader, sendJson } from '../http/http-io.js';
import { acceptManifest, servedMediaType } from '../content/manifest-content.js';
import type { ManifestRecord, StoredManifest } from '../storage/types.js';
import { checkDigestSyntax, isDigestRef } from '../content/syntax.js';
import type { BlobFetcher } from './blob-fetch.js';
import type { CacheIndex } from './cache-index.js';
import type { MirrorTarget } from './namespaces.js';
import type { UpstreamClient } from './upstream.js';

/**
 * The caching rules: manifests by digest and blobs are immutable (fetched once, verified,
 * kept); a tag is trusted for `tagTtlMs`, then re-checked with one HEAD (no download when
 * unchanged); when upstream is down or rate-limiting, a cached tag is served stale, marked by
 * the `Regctl-Mirror: stale` header and a log line.
 */

export const MIRROR_HEADER = 'Regctl-Mirror';

export interface MirrorStats {
  hits: number;
  misses: number;
  upstreamBytes: number;
  staleServes: number;
  upstreamErrors: number;
}

export interface CacheDeps {
  index: CacheIndex;
  fetcher: BlobFetcher;
  client: (t: MirrorTarget) => UpstreamClient;
  tagTtlMs: number;
  stats: MirrorStats;
  log: (message: string) => void;
  /** Content entered the cache (eviction check). */
  added: () => void;
  now: () => number;
}

export async function serveMirroredManifest(ctx: RequestContext, deps: CacheDeps, t: MirrorTarget, reference: string): Promise<void> {
  const { storage } = ctx;
  const head = ctx.req.method === 'HEAD';
  if (isDigestRef(reference)) {
    checkDigestSyntax(reference);
    const local = await storage.getManifest(t.cacheName, reference);
    if (local) {
      deps.stats.hits++;
      deps.index.touch(t.cacheName, reference);
      return sendManifest(ctx, local, 'hit', head);
    }
    deps.stats.misses++;
    const fetched = await guard(deps, () => fetchManifest(ctx, deps, t, reference));
    await storage.putManifest(t.cacheName, fetched, []);
    deps.index.record(t.cacheName, fetched.digest, 'manifest', fetched.bytes.length);
    deps.added();
    return sendManifest(ctx, fetched, 'miss', head);
  }
  if (!isValidTag(reference)) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found`);
  const tag = reference;
  const known = deps.index.tag(t.cacheName, tag);
  const digest = known?.digest ?? (await storage.resolveTag(t.cacheName, tag));
  const local = digest ? await storage.getManifest(t.cacheName, digest) : undefined;
  if (local && known && deps.now() - known.checkedAt < deps.tagTtlMs) {
    deps.stats.hits++;
    deps.index.touch(t.cacheName, local.digest);
    return sendManifest(ctx, local, 'hit', head);
  }
  try {
    if (local) {
      // One small request: is the tag still where we have it?
      const res = await deps.client(t).request('HEAD', `/v2/${t.remoteName}/manifests/${tag}`, t.remoteName, MANIFEST_ACCEPT);
      res.abort();
      if (res.status === 200 && res.headers.get('docker-content-digest') === local.digest) {
        deps.index.setTag(t.cacheName, tag, local.digest);
        deps.index.touch(t.cacheName, local.digest);
        deps.stats.hits++;
        return sendManifest(ctx, local, 'revalidated', head);
      }
    }
    deps.stats.misses++;
    const fetched = await fetchManifest(ctx, deps, t, tag);
    await storage.putManifest(t.cacheName, fetched, [tag]);
    deps.index.setTag(t.cacheName, tag, fetched.digest);
    deps.index.record(t.cacheName, fetched.digest, 'manifest', fetched.bytes.length);
    deps.added();
    return sendManifest(ctx, fetched, 'miss', head);
  } catch (e) {
    if (local && e instanceof UpstreamError && (e.kind === 'unavailable' || e.kind === 'ratelimit')) {
      deps.stats.upstreamErrors++;
      deps.stats.staleServes++;
      deps.log(`mirror: serving cached ${t.cacheName}:${tag} stale (${e.message})`);
      deps.index.touch(t.cacheName, local.digest);
      return sendManifest(ctx, local, 'stale', head);
    }
    if (e instanceof UpstreamError) {
      deps.stats.upstreamErrors++;
      deps.log(`mirror: ${t.cacheName}:${tag} is not cached and ${e.message}`);
    }
    throw toOciError(deps, e, `${t.cacheName}:${tag}`);
  }
}

export async function serveMirroredBlob(ctx: RequestContext, deps: CacheDeps, t: MirrorTarget, digest: string): Promise<void> {
  const { storage, req, res } = ctx;
  checkDigestSyntax(digest);
  parseDigest(digest);
  // Only the cache repository's own blobs: a digest cached for another name is not confirmed
  // (nor linked) here; upstream says whether this repository has it.
  if (await storage.statBlob(t.cacheName, digest)) {
    deps.stats.hits++;
    deps.index.touch(t.cacheName, digest);
    res.setHeader(MIRROR_HEADER, 'hit');
    return handleBlob(ctx, t.cacheName, digest);
  }
  let flight = deps.fetcher.inFlight(t.cacheName, digest);
  if (req.method === 'HEAD') {
    let size = flight?.size;
    if (size === undefined) {
      const up = await guard(deps, () => deps.client(t).request('HEAD', `/v2/${t.remoteName}/blobs/${digest}`, t.remoteName));
      up.abort();
      if (up.status === 404) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${t.cacheName} (nor upstream)`, { detail: { digest } });
      const n = Number(up.headers.get('content-length'));
      if (up.status !== 200 || !Number.isSafeInteger(n)) throw toOciError(deps, deps.client(t).error('unavailable', `upstream ${t.upstream.prefix} answered ${up.status} to HEAD ${digest}`, up.status), digest);
      size = n;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Docker-Content-Digest': digest, 'Accept-Ranges': 'bytes', [MIRROR_HEADER]: 'miss' });
    res.end();
    return;
  }
  if (!flight) deps.stats.misses++;
  else deps.stats.hits++;
  try {
    flight = await deps.fetcher.fetch(deps.client(t), t.cacheName, t.remoteName, digest);
  } catch (e) {
    if (e instanceof UpstreamError && e.status === 404) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not in ${t.cacheName} (nor upstream)`, { detail: { digest } });
    throw toOciError(deps, e, digest);
  }
  if (!flight) return handleBlob(ctx, t.cacheName, digest);
  const size = flight.size;
  // Ranges are served from the partial file as its bytes arrive; without a known size, whole.
  const range = size !== undefined ? parseRangeHeader(req.headers.range, size) : undefined;
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    [MIRROR_HEADER]: 'miss',
  };
  let status = 200;
  if (range) {
    status = 206;
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    headers['Content-Length'] = range.end - range.start + 1;
  } else if (size !== undefined) {
    headers['Content-Length'] = size;
  }
  res.writeHead(status, headers);
  try {
    await pipeline(Readable.from(flight.read(range?.start ?? 0, range?.end ?? Number.POSITIVE_INFINITY)), res);
  } catch {
    // Corrupt or cut upstream bytes (or the client left): the response must not look complete.
    res.destroy();
  }
}

const MAX_TAG_LIST_BYTES = 4 << 20;

/**
 * `GET /v2/NAME/tags/list` of a mirrored name: asked of upstream each time (a small request;
 * `n`/`last` pass through, a next link names this server's path). When upstream is down or
 * rate-limiting, the tags the cache holds are listed instead, marked stale.
 */
export async function serveMirroredTags(ctx: RequestContext, deps: CacheDeps, t: MirrorTarget, name: string): Promise<void> {
  const client = deps.client(t);
  const query = new URLSearchParams();
  for (const key of ['n', 'last']) {
    const v = ctx.url.searchParams.get(key);
    if (v !== null) query.set(key, v);
  }
  const qs = query.size > 0 ? `?${query.toString()}` : '';
  let tags: string[];
  let link: string | undefined;
  try {
    const res = await client.request('GET', `/v2/${t.remoteName}/tags/list${qs}`, t.remoteName, 'application/json');
    if (res.status === 404) {
      res.abort();
      throw new OciError('NAME_UNKNOWN', `repository ${name} not found (nor at upstream ${t.upstream.prefix})`, { detail: { name } });
    }
    if (res.status !== 200 || !res.body) {
      res.abort();
      throw client.error(res.status === 429 ? 'ratelimit' : 'unavailable', `upstream ${t.upstream.prefix} answered ${res.status} for the tags of ${t.remoteName}`, res.status);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > MAX_TAG_LIST_BYTES) {
        res.abort();
        throw client.error('corrupt', `upstream tag list of ${t.remoteName} is larger than ${MAX_TAG_LIST_BYTES} bytes`, 502);
      }
      chunks.push(c);
    }
    deps.stats.upstreamBytes += n;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw client.error('corrupt', `upstream ${t.upstream.prefix} sent an unreadable tag list for ${t.remoteName}`, 502);
    }
    const raw = (body as { tags?: unknown } | null)?.tags;
    tags = Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && isValidTag(x)) : [];
    const next = /<([^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
    if (next) {
      const q = new URLSearchParams(next[1]!.includes('?') ? next[1]!.slice(next[1]!.indexOf('?') + 1) : '');
      const out = new URLSearchParams();
      for (const key of ['n', 'last']) {
        const v = q.get(key);
        if (v !== null) out.set(key, v);
      }
      link = `</v2/${name}/tags/list?${out.toString()}>; rel="next"`;
    }
  } catch (e) {
    if (e instanceof UpstreamError) {
      deps.stats.upstreamErrors++;
      const cached = e.kind === 'unavailable' || e.kind === 'ratelimit' ? await ctx.storage.listTags(t.cacheName) : undefined;
      if (cached) {
        deps.stats.staleServes++;
        deps.log(`mirror: listing the cached tags of ${t.cacheName} stale (${e.message})`);
        return sendJson(ctx.res, 200, { name, tags: cached }, { [MIRROR_HEADER]: 'stale' }, ctx.req.method);
      }
    }
    throw toOciError(deps, e, '');
  }
  sendJson(ctx.res, 200, { name, tags }, { [MIRROR_HEADER]: 'upstream', ...(link ? { Link: link } : {}) }, ctx.req.method);
}

async function fetchManifest(ctx: RequestContext, deps: CacheDeps, t: MirrorTarget, reference: string): Promise<ManifestRecord> {
  const client = deps.client(t);
  const res = await client.request('GET', `/v2/${t.remoteName}/manifests/${reference}`, t.remoteName, MANIFEST_ACCEPT);
  if (res.status === 404) {
    res.abort();
    throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${t.remoteName} at upstream ${t.upstream.prefix}`);
  }
  if (res.status !== 200 || !res.body) {
    res.abort();
    throw client.error('unavailable', `upstream ${t.upstream.prefix} answered ${res.status} for manifest ${reference}`, res.status);
  }
  const limit = ctx.policy.maxManifestBytes;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.abort();
      throw client.error('corrupt', `upstream manifest ${reference} is larger than ${limit} bytes`, 502);
    }
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  deps.stats.upstreamBytes += bytes.length;
  const byDigest = isDigestRef(reference);
  const digest = digestOf(bytes, byDigest ? parseDigest(reference).algorithm : 'sha256');
  const claimed = res.headers.get('docker-content-digest');
  if ((byDigest && digest !== reference) || (!byDigest && claimed?.startsWith('sha256:') && claimed !== digest)) {
    throw client.error('corrupt', `upstream ${t.upstream.prefix} sent manifest bytes with digest ${digest} for ${byDigest ? reference : claimed}; not cached`, 502);
  }
  let parsed;
  try {
    parsed = acceptManifest(bytes, (res.headers.get('content-type') ?? '').split(';')[0]!.trim());
  } catch (e) {
    throw client.error('corrupt', `upstream ${t.upstream.prefix} sent an unusable manifest for ${reference}: ${(e as Error).message}`, 502);
  }
  const record: ManifestRecord = { digest, mediaType: parsed.mediaType, bytes };
  const m = parsed.manifest;
  if (m.subject) record.subject = m.subject.digest;
  const artifactType = m.artifactType ?? (isIndex(m) ? undefined : m.config.mediaType);
  if (artifactType) record.artifactType = artifactType;
  if (m.annotations) record.annotations = m.annotations;
  return record;
}

function sendManifest(ctx: RequestContext, m: StoredManifest, how: string, head: boolean): void {
  ctx.res.writeHead(200, {
    'Content-Type': servedMediaType(m),
    'Content-Length': m.bytes.length,
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
    [MIRROR_HEADER]: how,
  });
  ctx.res.end(head ? undefined : m.bytes);
}

async function guard<T>(deps: CacheDeps, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UpstreamError) deps.stats.upstreamErrors++;
    throw toOciError(deps, e, '');
  }
}

/** An upstream failure as the client sees it: 429 stays 429, the rest is a 502 that says why. */
export function toOciError(deps: CacheDeps, e: unknown, what: string): unknown {
  if (!(e instanceof UpstreamError)) return e;
  const suffix = what ? ` (${what} is not cached)` : '';
  if (e.kind === 'ratelimit') return new OciError('TOOMANYREQUESTS', `${e.message}${suffix}`, { headers: { 'Retry-After': '60' } });
  return new OciError('UNKNOWN', `${e.message}${suffix}`, { status: 502 });
}
