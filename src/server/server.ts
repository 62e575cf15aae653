import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccessLogEntry } from './http/access-log-entry.js';
import type { RequestContext, ServerPolicy } from './handlers/context.js';
import { OciError } from './protocol/errors.js';
import { meterResponse } from './ops/response-meter.js';
import { handleBlob } from './handlers/blobs.js';
import { handleCatalog, handleReferrers, handleTags } from './handlers/listing.js';
import { handleManifest, handleRepository } from './handlers/manifests.js';
import { handleSearch } from './handlers/search.js';
import { FEATURES_HEADER, handleTagDigests, TAG_DIGESTS, wantsTagDigests } from './handlers/tag-digests.js';
import { handleUpload, handleUploadStart } from './handlers/uploads.js';
import { answerEarlySafely, API_VERSION_HEADER, sendError, sendJson, storageFullError } from './http/http-io.js';
import type { Admitted } from './http/guard.js';
import { handleClientError, type UploadSessionLimiter } from './ops/limits.js';
import { splitTarget, stripUserinfo } from './protocol/request-target.js';
import { route, type Route } from './protocol/router.js';
import { ManifestIndex } from './storage/manifest-index.js';
import type { RegistryStorage } from './storage/types.js';
import { handleUi, isUiRequest, type UiDeps, type UiOptions } from './ui/handler.js';
import { checkRepository } from './content/syntax.js';

export interface RegistryServerOptions {
  /** Directory for the filesystem backend (created if missing). */
  root?: string;
  /** Any storage backend; wins over `root`. Neither: in-memory. */
  storage?: RegistryStorage;
  readOnly?: boolean;
  /** DELETE of blobs, manifests and tags (default true). */
  deleteEnabled?: boolean;
  /** Larger manifests get 413 (default 4 MiB, the spec's minimum). */
  maxManifestBytes?: number;
  /** A push that would give a repository more tags gets 400 DENIED (default 20,000). */
  maxTagsPerRepository?: number;
  /** Upload sessions idle this long are removed (default 24 h; 0 = never). */
  uploadTtlMs?: number;
  /** Called after each response with one access-log entry. */
  onRequest?: (entry: AccessLogEntry) => void;
  /** How long close() waits for in-flight requests before cutting connections (default 30 s). */
  shutdownGraceMs?: number;
  /**
   * The security/operations front door (http/guard.ts createGuard): answers /healthz, /metrics,
   * 414, 401, 403 and 429 itself; its decision (user, readable repositories, mount) reaches the
   * handlers. Required unless `open` says, explicitly, that everyone may do everything.
   */
  guard?: (req: IncomingMessage, res: ServerResponse) => Promise<Admitted | undefined>;
  /**
   * Serve every request anonymously, with no front door (tests, a registry embedded behind
   * the caller's own checks). Without it, a missing `guard` is an error, never an open server.
   */
  open?: true;
  /** Caps on open upload sessions (429 TOOMANYREQUESTS + Retry-After beyond them). */
  uploadLimiter?: UploadSessionLimiter;
  /** Told about failures that are the server's, not the client's (answered with 500). */
  onError?: (error: unknown, request: { method: string; path: string }) => void;
  /** The web UI (browsers asking for `/` and everything under /ui/); absent: no UI. */
  ui?: UiOptions;
  /**
   * Asked before the registry's own handlers (mirror/index.ts PullThroughMirror): answers
   * (true) for the names it serves, e.g. pull-through from upstream registries.
   */
  mirror?: { handle(ctx: RequestContext, r: Route): Promise<boolean>; close?(): Promise<void> };
  /** Build the listening server (e.g. node:https with TLS options); default node:http. */
  createServer?: (options: ServerOptions, listener: (req: IncomingMessage, res: ServerResponse) => void) => Server;
}

/**
 * An embeddable registry. `createRegistryServer` resolves to:
 *  - `server`: a node:http Server, not yet listening (tests call `listen(0)`);
 *  - `handler`: the request listener, to mount in another server;
 *  - `listen(port, host)`: start listening, resolves to the bound address and base URL;
 *  - `close()`: graceful stop (no new connections, in-flight requests finish, then storage closes).
 */
export interface RegistryServer {
  server: Server;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  storage: RegistryStorage;
  /** What the UI's list pages read (tags, sizes, platforms, push times); kept current by this server's writes. */
  index?: ManifestIndex;
  listen(port?: number, host?: string): Promise<{ port: number; host: string; url: string }>;
  close(): Promise<void>;
}

const DAY = 24 * 60 * 60 * 1000;

export async function createRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  if (!options.guard && options.open !== true) {
    throw new TypeError('createRegistryServer needs a guard (http/guard.ts createGuard, as `regctl serve` builds it) or open: true to serve everyone anonymously');
  }
  // A read-only registry may sit on a read-only mount: create and clean nothing.
  // open.ts is imported when needed only: it is the one door to the S3 backend (and its SDK).
  const storage = options.storage ?? (await (await import('./storage/open-storage.js')).openStorage({ ...(options.root !== undefined ? { root: options.root } : { memory: true }), readOnly: options.readOnly ?? false }));
  const policy: ServerPolicy = {
    readOnly: options.readOnly ?? false,
    deleteEnabled: options.deleteEnabled ?? true,
    maxManifestBytes: options.maxManifestBytes ?? 4 * 1024 * 1024,
    maxTagsPerRepository: options.maxTagsPerRepository ?? 20_000,
  };
  const ttl = options.uploadTtlMs ?? DAY;
  let ui: UiDeps | undefined;
  if (options.ui) {
    const index = new ManifestIndex(storage);
    index.attach();
    // The first view of a large registry does not wait for all of it: totals fill in the background.
    void index.warmUp();
    ui = { ...options.ui, index };
  }
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];

  const reportError = (e: unknown, req: IncomingMessage) => {
    try {
      options.onError?.(e, { method: req.method ?? '-', path: logPath(req.url) });
    } catch {
      // a failing error reporter must not take the server down either
    }
  };

  // The one guard around a request's lifetime: everything the request can run (front door,
  // handler, body reading, response listeners, logging) ends in this function's catch or in a
  // listener wrapped by safely(); nothing thrown reaches the event loop.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    // The socket is gone (null) once a request is destroyed: read what the log needs now.
    const remote = req.socket?.remoteAddress ?? '-';
    // The one count of response bytes; the guard's metrics and access log read the same one.
    const meter = meterResponse(res);
    inFlight++;
    let done = false;
    const finish = safely(req, reportError, () => {
      if (done) return;
      done = true;
      inFlight--;
      if (inFlight === 0) {
        for (const w of idleWaiters) w();
        idleWaiters = [];
      }
      if (options.onRequest) {
        options.onRequest({
          time: new Date().toISOString(),
          remote,
          method: req.method ?? '-',
          path: logPath(req.url),
          status: res.statusCode,
          bytes: req.method === 'HEAD' ? 0 : meter.bytesOut,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          userAgent: req.headers['user-agent'],
        });
      }
    });
    res.on('finish', finish);
    res.on('close', finish);
    // An 'error' without a listener is thrown by the emitter: these are answered (or moot) here.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    answerEarlySafely(req, res);
    for (const [k, v] of Object.entries(API_VERSION_HEADER)) res.setHeader(k, v);
    const run = async () => {
      let admitted: Admitted | undefined;
      if (options.guard) {
        admitted = await options.guard(req, res);
        if (!admitted) return;
      }
      const ctx: Omit<RequestContext, 'url'> = { req, res, storage, policy };
      if (admitted) {
        ctx.access = admitted.decision;
        ctx.setBytesIn = (n) => admitted.setBytesIn(n);
      }
      if (options.uploadLimiter) ctx.uploads = options.uploadLimiter;
      await dispatch(ctx, ui, options.mirror);
    };
    run().catch((e: unknown) => {
      try {
        const full = storageFullError(e);
        const err = e instanceof OciError ? e : (full ?? internalError(e));
        // A client that went away mid-request is not a server failure; a full disk is
        // reported (once, here) because an operator must act on it.
        if (!(e instanceof OciError) && (full || (!req.destroyed && !res.destroyed))) reportError(e, req);
        sendError(req, res, err);
      } catch (inner) {
        reportError(inner, req);
        res.destroy();
      }
    });
  };

  // requestTimeout 0: a multi-GB upload that is still moving must never be cut off.
  const serverOptions: ServerOptions = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 };
  const server = (options.createServer ?? createServer)(serverOptions, handler);
  server.requestTimeout = 0;
  // Requests Node cannot even parse still get the OCI error envelope.
  server.on('clientError', handleClientError);

  // ttl 0 keeps sessions forever. Otherwise purge at start and every min(ttl, 1 h).
  const purge = () => {
    storage.purgeUploads(ttl).catch(() => undefined);
    options.uploadLimiter?.expire(ttl);
  };
  // Sessions left on disk by an earlier run count against the limits until they end.
  if (options.uploadLimiter && storage.listUploads) {
    for (const u of await storage.listUploads().catch(() => [])) options.uploadLimiter.restore(u.repository, u.id, u.modified, u.maxIdleMs);
  }
  let timer: NodeJS.Timeout | undefined;
  if (ttl > 0 && !policy.readOnly) {
    purge();
    // Every 10 minutes at most: sessions of a crashed process expire after 10 minutes idle.
    timer = setInterval(purge, Math.max(Math.min(ttl, 10 * 60 * 1000), 20));
    timer.unref();
  }

  let closing: Promise<void> | undefined;
  return {
    server,
    handler,
    storage,
    ...(ui ? { index: ui.index } : {}),
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ port: addr.port, host: addr.address, url: `http://${h}:${addr.port}` });
        });
      });
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        ui?.index.stop();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          const grace = options.shutdownGraceMs ?? 30_000;
          await Promise.race([
            new Promise<void>((r) => idleWaiters.push(r)),
            new Promise<void>((r) => setTimeout(r, grace).unref()),
          ]);
        }
        server.closeAllConnections();
        if (server.listening) await stopped;
        await options.mirror?.close?.();
        await storage.close();
      })();
      return closing;
    },
  };
}

/** Wrap a response listener so that a throw inside it is reported instead of crashing the process. */
function safely(req: IncomingMessage, report: (e: unknown, req: IncomingMessage) => void, fn: () => void): () => void {
  return () => {
    try {
      fn();
    } catch (e) {
      report(e, req);
    }
  };
}

/** The request path for logs: no query, no userinfo of an absolute-form target. */
export function logPath(url: string | undefined): string {
  return stripUserinfo((url ?? '/').split('?')[0]!);
}

/**
 * `tag-cas`: conditional manifest PUT by tag; `tag-delete`: DELETE /v2/NAME/manifests/TAG removes
 * that tag only; `repo-delete`: DELETE /v2/NAME/_repository removes the repository.
 */
function features(storage: RegistryStorage): string {
  return [
    ...(storage.tagCas ? ['tag-cas'] : []),
    'tag-delete',
    ...(storage.deleteRepository ? ['repo-delete'] : []),
    ...(storage.listTagDescriptors ? [TAG_DIGESTS] : []),
  ].join(', ');
}

function internalError(e: unknown): OciError {
  // Storage failures (disk full, permissions) are ours, not the client's; say little.
  const code = (e as NodeJS.ErrnoException)?.code;
  return new OciError('UNKNOWN', `internal error${code ? ` (${code})` : ''}`, { status: 500 });
}

async function dispatch(base: Omit<RequestContext, 'url'>, ui: UiDeps | undefined, mirror?: RegistryServerOptions['mirror']): Promise<void> {
  const { req, res } = base;
  // Route on the path exactly as sent (request-target.ts, shared with authorization): URL
  // parsing would resolve "..", "%2e" and "//" segments, and names must be judged as written.
  const { path, search } = splitTarget(req.url);
  const url = new URL('http://registry.invalid/');
  url.search = search;
  const ctx: RequestContext = { ...base, url };
  if (ui && isUiRequest(req, path)) return handleUi(ctx, ui, path);
  const r = route(path);
  if (!r) throw new OciError('UNSUPPORTED', `no such endpoint ${path.slice(0, 100)}`, { status: 404 });
  switch (r.kind) {
    case 'base':
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new OciError('UNSUPPORTED', 'GET only', { headers: { Allow: 'GET, HEAD' } });
      // What this server offers beyond the distribution API (regctl's clients look here).
      sendJson(res, 200, {}, { [FEATURES_HEADER]: features(base.storage) }, req.method);
      return;
    case 'catalog':
      return handleCatalog(ctx);
    case 'search':
      return handleSearch(ctx);
    default:
      break;
  }
  checkRepository(r.name);
  if (mirror && (await mirror.handle(ctx, r))) return;
  switch (r.kind) {
    case 'tags':
      return wantsTagDigests(ctx) ? handleTagDigests(ctx, r.name) : handleTags(ctx, r.name);
    case 'manifest':
      return handleManifest(ctx, r.name, r.reference);
    case 'repository':
      return handleRepository(ctx, r.name);
    case 'blob':
      return handleBlob(ctx, r.name, r.digest);
    case 'uploads':
      return handleUploadStart(ctx, r.name);
    case 'upload':
      return handleUpload(ctx, r.name, r.id);
    case 'referrers':
      return handleReferrers(ctx, r.name, r.digest);
  }
}
