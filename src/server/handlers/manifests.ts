import { digestOf } from '../../oci/digest.js';
import { isIndex, type Descriptor, type Manifest } from '../../oci/manifest.js';
import { OciError, type TagCondition } from '../protocol/errors.js';
import { methodNotAllowed, requireDelete, requireWritable, type RequestContext } from './context.js';
import { readBody, sendEmpty } from '../http/http-io.js';
import { acceptManifest, servedMediaType } from '../content/manifest-content.js';
import { checkDigestSyntax, checkTag, isDigestRef } from '../content/syntax.js';
import { isValidTag } from '../../ref/reference.js';
import type { ManifestRecord } from '../storage/types.js';

/** `?tag=` parameters one manifest PUT may carry (the URL length limit alone allows ~700). */
export const MAX_TAG_PARAMS = 100;

/** GET/HEAD/PUT/DELETE /v2/NAME/manifests/REFERENCE */
export async function handleManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return getManifest(ctx, name, reference, method === 'HEAD');
  if (method === 'PUT') return putManifest(ctx, name, reference);
  if (method === 'DELETE') return deleteManifest(ctx, name, reference);
  methodNotAllowed(ctx, ['GET', 'HEAD', 'PUT', 'DELETE']);
}

async function resolve(ctx: RequestContext, name: string, reference: string): Promise<string> {
  if (isDigestRef(reference)) {
    checkDigestSyntax(reference);
    return reference;
  }
  // A tag that breaks the grammar cannot exist.
  if (!isValidTag(reference)) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found`);
  const digest = await ctx.storage.resolveTag(name, reference);
  if (!digest) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${name}`, { detail: { tag: reference } });
  return digest;
}

async function getManifest(ctx: RequestContext, name: string, reference: string, head: boolean): Promise<void> {
  const { storage } = ctx;
  let m;
  if (storage.getManifestByTag && !isDigestRef(reference) && isValidTag(reference)) {
    m = await storage.getManifestByTag(name, reference);
    if (!m) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${name}`, { detail: { tag: reference } });
  } else {
    m = await storage.getManifest(name, await resolve(ctx, name, reference));
  }
  if (!m) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${name}`);
  ctx.res.writeHead(200, {
    'Content-Type': servedMediaType(m),
    'Content-Length': m.bytes.length,
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
  });
  ctx.res.end(head ? undefined : m.bytes);
}

async function putManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  requireWritable(ctx);
  const { req, storage, url } = ctx;
  const byDigest = isDigestRef(reference);
  if (byDigest) checkDigestSyntax(reference);
  else checkTag(reference);
  const tags = byDigest ? [] : [reference];
  const tagParams: string[] = [];
  const given = url.searchParams.getAll('tag');
  if (given.length > MAX_TAG_PARAMS) {
    throw new OciError('DENIED', `at most ${MAX_TAG_PARAMS} tag parameters per manifest PUT (got ${given.length})`, { status: 400, detail: { limit: MAX_TAG_PARAMS } });
  }
  for (const t of given) {
    checkTag(t);
    if (!tagParams.includes(t)) tagParams.push(t);
    if (!tags.includes(t)) tags.push(t);
  }

  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const bytes = await readBody(req, ctx.policy.maxManifestBytes);
  ctx.setBytesIn?.(bytes.length);
  const { manifest, mediaType } = acceptManifest(bytes, contentType);

  const algorithm = byDigest ? (reference.slice(0, reference.indexOf(':')) as 'sha256' | 'sha512') : 'sha256';
  const digest = digestOf(bytes, algorithm);
  if (byDigest && digest !== reference) {
    throw new OciError('DIGEST_INVALID', `manifest body has digest ${digest}, not ${reference}`, { detail: { expected: reference, actual: digest } });
  }
  const ifTag = byDigest ? undefined : tagCondition(ctx, reference);
  await checkReferences(ctx, name, manifest);

  const record: ManifestRecord = { digest, mediaType, bytes };
  if (manifest.subject) record.subject = manifest.subject.digest;
  const artifactType = manifest.artifactType ?? (isIndex(manifest) ? undefined : manifest.config.mediaType);
  if (artifactType) record.artifactType = artifactType;
  if (manifest.annotations) record.annotations = manifest.annotations;
  await storage.putManifest(name, record, tags, {
    ...(ctx.policy.maxTagsPerRepository === undefined ? {} : { maxTags: ctx.policy.maxTagsPerRepository }),
    ...(ifTag ? { ifTag } : {}),
  });

  const headers: Record<string, string | string[]> = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest };
  if (manifest.subject) headers['OCI-Subject'] = manifest.subject.digest;
  // One OCI-Tag line per `?tag=` applied: how a client learns the registry took tag
  // parameters (distribution-spec after 1.1) instead of pushing each tag again.
  if (tagParams.length > 0) headers['OCI-Tag'] = tagParams;
  sendEmpty(ctx.res, 201, headers);
}

const QUOTED_DIGEST = /^"((?:sha256|sha512):[0-9a-f]{64,128})"$/;

/**
 * Compare-and-swap on a PUT by tag (advertised as `tag-cas` on /v2/): `If-Match: "DIGEST"`
 * applies the PUT only while the tag points at DIGEST, `If-None-Match: *` only while the tag
 * does not exist; otherwise 412 TAG_MOVED. One quoted digest (the ETag a GET returned), no lists.
 */
function tagCondition(ctx: RequestContext, tag: string): TagCondition | undefined {
  const ifMatch = ctx.req.headers['if-match'];
  const ifNoneMatch = ctx.req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new OciError('UNSUPPORTED', 'send If-Match or If-None-Match, not both', { status: 400 });
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new OciError('UNSUPPORTED', 'If-None-Match on a manifest PUT takes only *', { status: 400 });
    return { tag, digest: undefined };
  }
  if (ifMatch === undefined) return undefined;
  const m = QUOTED_DIGEST.exec(ifMatch.trim());
  if (!m) throw new OciError('UNSUPPORTED', 'If-Match on a manifest PUT takes one quoted digest, e.g. "sha256:..."', { status: 400 });
  checkDigestSyntax(m[1]!);
  return { tag, digest: m[1]! };
}

/** Blobs (and index children) a manifest names must already be in the repository. */
async function checkReferences(ctx: RequestContext, name: string, m: Manifest): Promise<void> {
  const missing = (d: Descriptor) =>
    new OciError('MANIFEST_BLOB_UNKNOWN', `${isIndex(m) ? 'manifest' : 'blob'} ${d.digest} is not in ${name}`, { detail: { digest: d.digest } });
  // Each digest once: an index of 27,000 copies of one child costs one lookup, not 27,000.
  const once = (list: Descriptor[]) => [...new Map(list.map((d) => [d.digest, d])).values()];
  if (isIndex(m)) {
    for (const d of once(m.manifests)) {
      await ctx.storage.touchBlob?.(name, d.digest);
      if (!(await ctx.storage.getManifest(name, d.digest))) throw missing(d);
    }
    return;
  }
  for (const d of once([m.config, ...m.layers.filter((l) => !(l.urls && l.urls.length > 0))])) {
    // Foreign (non-distributable) layers live elsewhere, at their urls.
    if (d.urls && d.urls.length > 0) continue;
    // Touched, not just looked at: a gc running now must not take what this manifest needs.
    const info = ctx.storage.touchBlob ? await ctx.storage.touchBlob(name, d.digest) : await ctx.storage.statBlob(name, d.digest);
    if (!info) throw missing(d);
  }
}

async function deleteManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  requireDelete(ctx);
  if (isDigestRef(reference)) {
    checkDigestSyntax(reference);
    if (!(await ctx.storage.deleteManifest(name, reference))) throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${name}`);
  } else {
    if (!isValidTag(reference) || !(await ctx.storage.deleteTag(name, reference))) {
      throw new OciError('MANIFEST_UNKNOWN', `tag ${reference} not found in ${name}`);
    }
  }
  sendEmpty(ctx.res, 202);
}
