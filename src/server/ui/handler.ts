import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isValidDigest } from '../../oci/digest.js';
import { isIndex, parseManifest, type Descriptor, type Manifest } from '../../oci/manifest.js';
import { formatPlatform } from '../../oci/platform.js';
import { matchRepositoryNames } from '../../ref/name-match.js';
import { isValidTag } from '../../ref/reference.js';
import type { RequestContext } from '../handlers/context.js';
import { readBody } from '../http/http-io.js';
import { listableReferrer } from '../content/manifest-content.js';
import { CSRF_COOKIE, readCookie, SESSION_COOKIE, type SessionStore } from '../security/sessions.js';
import type { ManifestIndex, TagRow } from '../storage/manifest-index.js';
import { isAllowedRepository } from '../content/syntax.js';
import { ASSETS } from './assets.js';
import type { Html } from './html.js';
import { query } from './html.js';
import type { PageContext } from './layout.js';
import { imagePage, type ImageView } from './pages/image.js';
import { deletePage, messagePage, signInPage } from './pages/misc.js';
import { repositoriesPage, type MirrorPanel } from './pages/repositories.js';
import { repositoryPage, type Row } from './pages/repository.js';
import { groupTags } from './tag-groups.js';

/**
 * The web UI: server-rendered pages over the same storage and the same access decision as the
 * API (ctx.access, made by the front door; the UI never widens it). Why no front-end framework:
 * a handful of pages of tables and forms render faster on the server, need no build step and
 * keep every byte a client pushed behind one escaping template tag (html.ts).
 */

export interface UiOptions {
  sessions: SessionStore;
  /** Check a password (the front door's own check, rate limit included); absent: no users. */
  login?: (username: string, password: string, remote: string | undefined) => Promise<{ ok: true; user: string } | { ok: false; status: number; message: string }>;
  /** `--mirror`: its counters and upstreams for the repositories page (never credentials). */
  mirror?: MirrorPanel;
  /** Mark cookies Secure (the registry serves HTTPS). */
  secureCookies?: boolean;
}

export interface UiDeps extends UiOptions {
  index: ManifestIndex;
}

const REPOS_PER_PAGE = 50;
/** How long the repositories page waits for totals not yet in the index; later ones show "counting…". */
const SUMMARY_BUDGET_MS = 250;
const TAGS_PER_PAGE = 100;
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** Whether a request is the UI's: /ui/..., or a browser asking for `/`. */
export function isUiRequest(req: IncomingMessage, path: string): boolean {
  if (path === '/ui' || path.startsWith('/ui/')) return true;
  return path === '/' && (req.method === 'GET' || req.method === 'HEAD') && /\btext\/html\b/.test(String(req.headers.accept ?? ''));
}

class Page {
  constructor(
    readonly status: number,
    readonly body: Html | undefined,
    readonly headers: Record<string, string | string[]> = {},
  ) {}
}

const redirect = (to: string, headers: Record<string, string | string[]> = {}) => new Page(303, undefined, { Location: to, ...headers });

export async function handleUi(ctx: RequestContext, deps: UiDeps, path: string): Promise<void> {
  const { req, res } = ctx;
  const method = req.method ?? 'GET';
  const asset = ASSETS.get(path);
  if (asset) {
    res.writeHead(200, { 'Content-Type': asset.contentType, 'Content-Length': asset.body.length, 'Cache-Control': 'public, max-age=31536000, immutable', ...SECURITY_HEADERS });
    res.end(method === 'HEAD' ? undefined : asset.body);
    return;
  }
  const setCookies: string[] = [];
  const page = await route(ctx, deps, path, method, setCookies);
  const headers: Record<string, string | string[]> = { ...SECURITY_HEADERS, 'Cache-Control': 'no-store', ...page.headers };
  if (setCookies.length) headers['Set-Cookie'] = setCookies;
  if (!page.body) {
    res.writeHead(page.status, { ...headers, 'Content-Length': 0 });
    res.end();
    return;
  }
  const body = Buffer.from(page.body.value);
  res.writeHead(page.status, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
  res.end(method === 'HEAD' ? undefined : body);
}

async function route(ctx: RequestContext, deps: UiDeps, path: string, method: string, setCookies: string[]): Promise<Page> {
  const pc = pageContext(ctx, deps, setCookies);
  const get = method === 'GET' || method === 'HEAD';
  const params = ctx.url.searchParams;
  if (path === '/ui') return redirect('/ui/');
  if (get && (path === '/' || path === '/ui/')) return repositories(ctx, deps, pc, params);
  if (get && path === '/ui/repo') return repository(ctx, deps, pc, params);
  if (get && path === '/ui/image') return image(ctx, deps, pc, params);
  if (get && path === '/ui/delete') return deleteConfirm(ctx, deps, pc, params);
  if (get && path === '/ui/signin') {
    if (!deps.login) return new Page(404, messagePage(pc, 'Not found', 'This registry has no users to sign in as.'));
    return new Page(200, signInPage(pc, safeNext(params.get('next'))));
  }
  if (method === 'POST' && (path === '/ui/delete' || path === '/ui/signin' || path === '/ui/signout')) {
    const form = new URLSearchParams((await readBody(ctx.req, 16 * 1024)).toString('utf8'));
    if (!sameOrigin(ctx.req) || !deps.sessions.checkCsrf(pc.csrfKey, form.get('csrf') ?? undefined)) {
      return new Page(403, messagePage(pc, 'Request refused', 'The form expired or came from another site. Go back, reload the page and try again.'));
    }
    if (path === '/ui/delete') return deleteNow(ctx, deps, pc, form);
    if (path === '/ui/signin') return signIn(ctx, deps, pc, form, setCookies);
    deps.sessions.end(cookieHeader(ctx.req));
    setCookies.push(cookie(SESSION_COOKIE, '', 0, deps.secureCookies));
    return redirect('/ui/');
  }
  if (!get && method !== 'POST') return new Page(405, messagePage(pc, 'Method not allowed', `${method.slice(0, 10)} is not used here.`), { Allow: 'GET, HEAD, POST' });
  return new Page(404, messagePage(pc, 'Not found', 'There is no such page.'));
}

type Ctx = PageContext & { csrfKey: string };

function cookieHeader(req: IncomingMessage): string | undefined {
  const c = req.headers.cookie;
  return Array.isArray(c) ? c.join('; ') : c;
}

function cookie(name: string, value: string, maxAgeSeconds: number, secure?: boolean): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

function pageContext(ctx: RequestContext, deps: UiDeps, setCookies: string[]): Ctx {
  const header = cookieHeader(ctx.req);
  const user = ctx.access?.user;
  const session = readCookie(header, SESSION_COOKIE);
  let csrfKey: string;
  if (user !== undefined && session !== undefined && deps.sessions.userFor(header) === user) csrfKey = `s:${session}`;
  else {
    let anon = readCookie(header, CSRF_COOKIE);
    if (anon === undefined) {
      anon = randomBytes(24).toString('base64url');
      setCookies.push(cookie(CSRF_COOKIE, anon, 12 * 3600, deps.secureCookies));
    }
    csrfKey = `a:${anon}`;
  }
  const host = String(ctx.req.headers.host ?? '');
  const { path, search } = { path: ctx.req.url?.split('?')[0] ?? '/', search: ctx.url.search };
  return {
    ...(user !== undefined ? { user } : {}),
    signIn: deps.login !== undefined,
    csrf: deps.sessions.csrfToken(csrfKey),
    csrfKey,
    host: /^[A-Za-z0-9.\-[\]:]{1,300}$/.test(host) ? host : 'REGISTRY',
    here: (path + search).slice(0, 1000),
  };
}

/** A POST must come from our own pages: an Origin, when sent, must name this host. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return req.headers['sec-fetch-site'] === undefined || req.headers['sec-fetch-site'] === 'same-origin';
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function safeNext(next: string | null): string {
  return next && /^\/ui(\/|\?|$)/.test(next) && !next.includes('//') && !next.includes('\\') ? next.slice(0, 1000) : '/ui/';
}

function pageParam(params: URLSearchParams): number {
  const p = params.get('page');
  return p && /^\d{1,6}$/.test(p) && Number(p) >= 1 ? Number(p) : 1;
}

function canRead(ctx: RequestContext, repo: string): boolean {
  return ctx.access ? ctx.access.canRead(repo) : true;
}

function canDelete(ctx: RequestContext, repo: string): boolean {
  if (ctx.policy.readOnly || !ctx.policy.deleteEnabled) return false;
  return ctx.access ? ctx.access.can('delete', repo) : true;
}

/** The repository named by ?name=, when valid and readable; otherwise the 404 page (nothing leaks). */
function readableRepo(ctx: RequestContext, pc: Ctx, params: URLSearchParams): string | Page {
  const name = params.get('name') ?? '';
  if (!isAllowedRepository(name) || !canRead(ctx, name)) {
    return new Page(404, messagePage(pc, 'Not found', pc.user === undefined && pc.signIn ? 'No such repository, or you need to sign in to see it.' : 'No such repository.'));
  }
  return name;
}

async function repositories(ctx: RequestContext, deps: UiDeps, pc: Ctx, params: URLSearchParams): Promise<Page> {
  const q = (params.get('q') ?? '').slice(0, 255);
  let names = await deps.index.repositories();
  if (ctx.access && !ctx.access.unrestricted) names = ctx.access.filterCatalog(names);
  const readable = names.length;
  const hits = q ? matchRepositoryNames(names, q) : names;
  const pages = Math.max(1, Math.ceil(hits.length / REPOS_PER_PAGE));
  const page = Math.min(pageParam(params), pages);
  const slice = hits.slice((page - 1) * REPOS_PER_PAGE, page * REPOS_PER_PAGE);
  // Totals not ready within the budget (a cold index: a restart, a 10,000-tag repository) keep
  // being computed into the index; this page says "counting…" for them instead of waiting.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), SUMMARY_BUDGET_MS);
  });
  const summaries = await Promise.all(slice.map((n) => Promise.race([deps.index.repository(n).catch(() => undefined), late])));
  clearTimeout(timer);
  const rows = slice.map((name, i) => {
    const s = summaries[i];
    return s === 'late' ? { name, counting: true } : { name, ...(s ? { summary: s } : {}) };
  });
  // The cache counters speak for every mirrored repository: shown to callers who may read them
  // all (no access control, or the access rules give this caller everything), never otherwise.
  const mirror = deps.mirror && (!ctx.access || ctx.access.unrestricted) ? deps.mirror : undefined;
  return new Page(200, repositoriesPage({ ...pc, q }, { rows, total: hits.length, page, pages, q, needSignIn: pc.signIn && pc.user === undefined && readable === 0, ...(mirror ? { mirror } : {}) }));
}

async function repository(ctx: RequestContext, deps: UiDeps, pc: Ctx, params: URLSearchParams): Promise<Page> {
  const name = readableRepo(ctx, pc, params);
  if (name instanceof Page) return name;
  const all = await deps.index.tags(name);
  if (!all) return new Page(404, messagePage(pc, 'Not found', 'No such repository.'));
  const filter = (params.get('filter') ?? '').slice(0, 128);
  const f = filter.toLowerCase();
  const rows = f ? all.filter((r) => r.tag.toLowerCase().includes(f)) : all;
  const flat = f ? flatten(rows) : (flatCache.get(all) ?? flatten(all));
  if (!f) flatCache.set(all, flat);
  const pages = Math.max(1, Math.ceil(flat.length / TAGS_PER_PAGE));
  const page = Math.min(pageParam(params), pages);
  const out: Row[] = [];
  let last = '';
  for (const e of flat.slice((page - 1) * TAGS_PER_PAGE, page * TAGS_PER_PAGE)) {
    if (e.header !== last) out.push(e.header === 'others' ? { kind: 'others' } : { kind: 'line', line: e.header.slice(5) });
    last = e.header;
    out.push(e.row);
  }
  return new Page(200, repositoryPage(pc, { name, rows: out, total: rows.length, page, pages, filter, canDelete: canDelete(ctx, name) }));
}

type Flat = Array<{ header: string; row: Row }>;
/** Grouped rows per (cached, immutable) tag list of the manifest index: a 10,000-tag repository is grouped once. */
const flatCache = new WeakMap<readonly TagRow[], Flat>();

function flatten(rows: readonly TagRow[]): Flat {
  const groups = groupTags(rows);
  const flat: Flat = [];
  for (const l of groups.lines) for (const r of l.releases) flat.push({ header: `line:${l.line}`, row: { kind: 'release', row: r } });
  for (const r of groups.others) flat.push({ header: 'others', row: { kind: 'other', row: r } });
  return flat;
}

async function resolve(ctx: RequestContext, name: string, ref: string): Promise<string | undefined> {
  if (isValidDigest(ref)) return ref;
  if (!isValidTag(ref)) return undefined;
  return ctx.storage.resolveTag(name, ref);
}

async function image(ctx: RequestContext, deps: UiDeps, pc: Ctx, params: URLSearchParams): Promise<Page> {
  const name = readableRepo(ctx, pc, params);
  if (name instanceof Page) return name;
  const ref = params.get('ref') ?? '';
  const digest = await resolve(ctx, name, ref);
  const stored = digest === undefined ? undefined : await ctx.storage.getManifest(name, digest);
  if (!digest || !stored) return new Page(404, messagePage(pc, 'Not found', 'No such tag or manifest in this repository.'));
  let m: Manifest;
  try {
    m = parseManifest(stored.bytes, stored.mediaType);
  } catch {
    return new Page(200, messagePage(pc, 'Unreadable manifest', 'This manifest cannot be shown (not an OCI or Docker v2 manifest).'));
  }
  const [summary, rows, referrers] = await Promise.all([
    deps.index.summary(name, digest),
    deps.index.tags(name),
    ctx.storage.listReferrers(name, digest),
  ]);
  const byType = new Map<string, Descriptor[]>();
  for (const d of referrers) {
    const ok = listableReferrer(d);
    if (!ok) continue;
    const t = ok.artifactType ?? 'unknown';
    byType.set(t, [...(byType.get(t) ?? []), ok]);
  }
  const view: ImageView = {
    name,
    ref,
    digest,
    mediaType: m.mediaType ?? stored.mediaType,
    manifestSize: stored.bytes.length,
    ...(summary ? { totalSize: summary.size } : {}),
    ...(summary?.artifactType ? { artifactType: summary.artifactType } : {}),
    tags: (rows ?? []).filter((r) => r.digest === digest).map((r) => r.tag),
    ...(m.annotations && typeof m.annotations === 'object' ? { annotations: stringMap(m.annotations) } : {}),
    ...(m.subject ? { subject: m.subject.digest } : {}),
    // Grouped by artifactType in name order: storage lists referrers in no particular order.
    referrers: [...byType].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([artifactType, items]) => ({ artifactType, items })),
    canDelete: canDelete(ctx, name),
  };
  if (isIndex(m)) {
    view.index = await Promise.all(
      m.manifests.slice(0, 1000).map(async (d) => ({
        digest: d.digest,
        platform: d.platform ? formatPlatform(d.platform) : (d.artifactType ?? 'unknown'),
        mediaType: d.mediaType,
        size: (await deps.index.summary(name, d.digest).catch(() => undefined))?.size ?? d.size,
      })),
    );
  } else {
    const json = await deps.index.readConfig(name, m.config.mediaType, m.config.digest, m.config.size);
    view.config = { descriptor: m.config, ...(json ? { json } : {}) };
    view.layers = m.layers.slice(0, 1000);
  }
  return new Page(200, imagePage(pc, view));
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = typeof x === 'string' ? x : JSON.stringify(x);
  return out;
}

async function deleteConfirm(ctx: RequestContext, deps: UiDeps, pc: Ctx, params: URLSearchParams): Promise<Page> {
  const name = readableRepo(ctx, pc, params);
  if (name instanceof Page) return name;
  if (!canDelete(ctx, name)) return new Page(403, messagePage(pc, 'Not allowed', 'You may not delete in this repository.'));
  const ref = params.get('ref') ?? '';
  const digest = await resolve(ctx, name, ref);
  if (!digest || !(await ctx.storage.getManifest(name, digest))) return new Page(404, messagePage(pc, 'Not found', 'No such tag or manifest in this repository.'));
  deps.index.invalidate(name);
  const tags = ((await deps.index.tags(name)) ?? []).filter((r) => r.digest === digest).map((r) => r.tag);
  return new Page(200, deletePage(pc, { name, ...(isValidDigest(ref) ? {} : { tag: ref }), digest, tags }));
}

async function deleteNow(ctx: RequestContext, deps: UiDeps, pc: Ctx, form: URLSearchParams): Promise<Page> {
  const name = readableRepo(ctx, pc, form);
  if (name instanceof Page) return name;
  if (!canDelete(ctx, name)) return new Page(403, messagePage(pc, 'Not allowed', 'You may not delete in this repository.'));
  const digest = form.get('digest') ?? '';
  const what = form.get('what');
  if (!isValidDigest(digest)) return new Page(400, messagePage(pc, 'Bad request', 'Invalid digest.'));
  if (what === 'tag') {
    const tag = form.get('tag') ?? '';
    if (!isValidTag(tag)) return new Page(400, messagePage(pc, 'Bad request', 'Invalid tag.'));
    // The tag must still point where the confirmation said: a re-push in between is not deleted.
    if ((await ctx.storage.resolveTag(name, tag)) !== digest) return new Page(409, messagePage(pc, 'Changed', 'The tag moved since the confirmation page was shown; nothing was deleted.'));
    await ctx.storage.deleteTag(name, tag);
  } else if (what === 'manifest') {
    if (!(await ctx.storage.deleteManifest(name, digest))) return new Page(404, messagePage(pc, 'Not found', 'The manifest is already gone.'));
  } else {
    return new Page(400, messagePage(pc, 'Bad request', 'Nothing to delete.'));
  }
  deps.index.invalidate(name);
  return redirect(`/ui/repo${query({ name })}`);
}

async function signIn(ctx: RequestContext, deps: UiDeps, pc: Ctx, form: URLSearchParams, setCookies: string[]): Promise<Page> {
  const next = safeNext(form.get('next'));
  if (!deps.login) return new Page(404, messagePage(pc, 'Not found', 'This registry has no users to sign in as.'));
  const username = form.get('username') ?? '';
  const password = form.get('password') ?? '';
  if (username === '' || username.includes(':') || username.length > 255 || password.length > 1024) {
    return new Page(401, signInPage(pc, next, 'Invalid user name or password.'));
  }
  const r = await deps.login(username, password, ctx.req.socket?.remoteAddress);
  if (!r.ok) return new Page(r.status === 401 ? 401 : r.status, signInPage(pc, next, r.status === 401 ? 'Invalid user name or password.' : r.message));
  const id = deps.sessions.create(r.user);
  setCookies.push(cookie(SESSION_COOKIE, id, Math.floor(deps.sessions.ttlMs / 1000), deps.secureCookies));
  return redirect(next);
}
