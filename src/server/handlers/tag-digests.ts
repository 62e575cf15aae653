import { OciError } from '../protocol/errors.js';
import { methodNotAllowed, type RequestContext } from './context.js';
import { sendJson } from '../http/http-io.js';
import { paginate } from './listing.js';

/**
 * regctl's tag-digests extension: `GET /v2/NAME/tags/list?digests=1` answers the usual tag list
 * plus each tag's manifest descriptor, so a client can tell whether a whole repository is up to
 * date with one request instead of one manifest HEAD per tag. `n` and `last` page it as usual.
 * Advertised in the `Regctl-Features` header on `/v2/` and on every such tag list; standard clients
 * never send `digests` and see nothing new. Backends without `listTagDescriptors` (s3) answer
 * the plain list, which clients take as "not supported".
 */
export const FEATURES_HEADER = 'Regctl-Features';
export const TAG_DIGESTS = 'tag-digests';

/** Whether this tag-list request asks for the extension and the storage can answer it. */
export function wantsTagDigests(ctx: RequestContext): boolean {
  return ctx.url.searchParams.get('digests') === '1' && typeof ctx.storage.listTagDescriptors === 'function';
}

/** GET /v2/NAME/tags/list?digests=1 */
export async function handleTagDigests(ctx: RequestContext, name: string): Promise<void> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') methodNotAllowed(ctx, ['GET', 'HEAD']);
  const entries = await ctx.storage.listTagDescriptors!(name);
  if (!entries) throw new OciError('NAME_UNKNOWN', `repository ${name} not found`, { detail: { name } });
  const sorted = entries.map(([t]) => t);
  const { page, more, n } = paginate(sorted, ctx.url);
  const byTag = new Map(entries);
  const digests: Record<string, { mediaType: string; digest: string; size: number }> = {};
  for (const t of page) {
    const d = byTag.get(t)!;
    digests[t] = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  }
  const headers: Record<string, string> = { [FEATURES_HEADER]: TAG_DIGESTS };
  if (more) headers.Link = `</v2/${name}/tags/list?digests=1&n=${n!}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
  sendJson(ctx.res, 200, { name, tags: page, digests }, headers, ctx.req.method);
}
