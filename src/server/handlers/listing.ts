import { MediaType } from '../../oci/mediatypes.js';
import { OciError } from '../protocol/errors.js';
import { methodNotAllowed, type RequestContext } from './context.js';
import { sendJson } from '../http/http-io.js';
import type { Descriptor } from '../../oci/manifest.js';
import { listableReferrer } from '../content/manifest-content.js';
import { checkDigestSyntax } from '../content/syntax.js';

/**
 * One page of a sorted list: entries after `last`, at most `n`. n=0 is an empty page;
 * `last` past the end is an empty page. `more` says whether a next page exists.
 */
export function paginate(sorted: string[], url: URL): { page: string[]; more: boolean; n?: number } {
  const nParam = url.searchParams.get('n');
  const last = url.searchParams.get('last');
  let n: number | undefined;
  if (nParam !== null && nParam !== '') {
    if (!/^\d+$/.test(nParam)) throw new OciError('UNSUPPORTED', `invalid n "${nParam.slice(0, 20)}": expected a non-negative integer`, { status: 400 });
    n = Number(nParam);
  }
  let start = 0;
  if (last !== null && last !== '') start = upperBound(sorted, last);
  const end = n === undefined ? sorted.length : Math.min(sorted.length, start + n);
  return { page: sorted.slice(start, end), more: n !== undefined && n > 0 && end < sorted.length, n };
}

/** Index of the first entry greater than `value`. */
function upperBound(sorted: string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

function onlyGet(ctx: RequestContext): void {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') methodNotAllowed(ctx, ['GET', 'HEAD']);
}

/** GET /v2/NAME/tags/list */
export async function handleTags(ctx: RequestContext, name: string): Promise<void> {
  onlyGet(ctx);
  const tags = await ctx.storage.listTags(name);
  if (!tags) throw new OciError('NAME_UNKNOWN', `repository ${name} not found`, { detail: { name } });
  const { page, more, n } = paginate(tags, ctx.url);
  const headers: Record<string, string> = {};
  if (more) headers.Link = nextLink(`/v2/${name}/tags/list`, n!, page[page.length - 1]!);
  sendJson(ctx.res, 200, { name, tags: page }, headers, ctx.req.method);
}

/** GET /v2/_catalog */
export async function handleCatalog(ctx: RequestContext): Promise<void> {
  onlyGet(ctx);
  let repos = await ctx.storage.listRepositories();
  // Only what the caller may read; filtered before paging so pages stay full and `last` works.
  if (ctx.access && !ctx.access.unrestricted) repos = ctx.access.filterCatalog(repos);
  const { page, more, n } = paginate(repos, ctx.url);
  const headers: Record<string, string> = {};
  if (more) headers.Link = nextLink('/v2/_catalog', n!, page[page.length - 1]!);
  sendJson(ctx.res, 200, { repositories: page }, headers, ctx.req.method);
}

/** GET /v2/NAME/referrers/DIGEST[?artifactType=] */
export async function handleReferrers(ctx: RequestContext, name: string, digest: string): Promise<void> {
  onlyGet(ctx);
  checkDigestSyntax(digest);
  let manifests = listable(name, await ctx.storage.listReferrers(name, digest));
  const headers: Record<string, string> = {};
  const artifactType = ctx.url.searchParams.get('artifactType');
  if (artifactType !== null) {
    manifests = manifests.filter((d) => d.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  const body = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  sendJson(ctx.res, 200, body, { ...headers, 'Content-Type': MediaType.ociIndex }, ctx.req.method);
}

/** Referrers whose stored record is unusable (stored by an older version, edited on disk) are left out, never a 500. */
const reported = new Set<string>();
function listable(name: string, stored: Descriptor[]): Descriptor[] {
  const out: Descriptor[] = [];
  for (const d of stored) {
    const ok = listableReferrer(d);
    if (ok) {
      out.push(ok);
      continue;
    }
    const digest = typeof (d as { digest?: unknown })?.digest === 'string' ? (d as { digest: string }).digest.slice(0, 80) : '?';
    // Once per record per process: a popular image must not flood the log.
    if (reported.size < 1000 && !reported.has(`${name}@${digest}`)) {
      reported.add(`${name}@${digest}`);
      process.emitWarning(`referrer ${digest} in ${name} is not listable (invalid stored record); left out of the referrers list`, { code: 'REGCTL_BAD_REFERRER' });
    }
  }
  return out;
}
