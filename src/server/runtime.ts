import { constants as fsConstants } from 'node:fs';
import { readFileSync } from 'node:fs';
import { access as fsAccess } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createAuthorizer } from './security/authorize.js';
import { AccessPolicyFile } from './security/access.js';
import { HtpasswdFile } from './security/htpasswd.js';
import { LoginRateLimiter } from './security/rate-limit.js';
import { SessionStore } from './security/sessions.js';
import { loadTls, type TlsInfo } from './security/tls.js';
import { createRegistryServer, type RegistryServer } from './server.js';
import { describeLeftovers } from './storage/fs-startup.js';
import type { RegistryStorage } from './storage/types.js';
import { formatAccessLog, type AccessLogRecord } from './http/access-log.js';
import type { ServeSettings } from './ops/config.js';
import { blobReader, loadRetention } from './ops/retention.js';
import { scheduleGc, type GcReport, type GcSchedule } from './ops/gc.js';
import { createGuard } from './http/guard.js';
import { createHealthCheck, probeWritable } from './ops/health.js';
import { applyServerTimeouts, effectiveMaxConnections, httpServerOptions, UploadSessionLimiter, type HttpLimits } from './ops/limits.js';
import { RegistryMetrics } from './ops/metrics.js';
import { createMirror, registerMirrorMetrics, withEviction } from './mirror/setup.js';
import type { PullThroughMirror } from './mirror/index.js';

/**
 * `regctl serve` assembled from resolved settings (ops/config.ts): users, access rules, the
 * login limiter, upload limits, metrics, health, access log, TLS, timeouts and periodic gc,
 * following ops/README.md. No terminal code: the CLI prints what this returns.
 */

export interface ServeRuntimeOptions {
  settings: ServeSettings;
  /** Filesystem root (used unless `storage` is given). */
  root: string;
  /** Another backend (S3); then health checks list repositories instead of writing a file. */
  storage?: RegistryStorage;
  /** One formatted access-log line per request; absent: no access log. */
  log?: (line: string) => void;
  /** Start-up notes (what crash leftovers were removed). */
  info?: (message: string) => void;
  /** Reload failures of the htpasswd/access files, gc failures, TLS warnings. */
  warn?: (message: string) => void;
  onError?: (error: unknown, request: { method: string; path: string }) => void;
  onGcReport?: (report: GcReport) => void;
  /** Access-log records as data (tests). */
  onRecord?: (record: AccessLogRecord) => void;
}

export interface ServeRuntime {
  registry: RegistryServer;
  tls?: TlsInfo;
  uploads: UploadSessionLimiter;
  metrics?: RegistryMetrics;
  gc?: GcSchedule;
  /** The pull-through cache (--mirror). */
  mirror?: PullThroughMirror;
  /** Listen; the URL says https when TLS is on. */
  listen(port?: number, host?: string): Promise<{ port: number; host: string; url: string }>;
  close(): Promise<void>;
}

export async function createServeRuntime(options: ServeRuntimeOptions): Promise<ServeRuntime> {
  const { settings } = options;
  const warn = options.warn ?? (() => undefined);
  // Checked first: a bad rule file stops start-up (exit 2) before anything listens.
  const retention = settings.retention !== undefined ? await loadRetention(settings.retention) : undefined;
  if (retention && !(settings.gcIntervalMs > 0)) warn('retention rules apply only with --gc-interval (or when running regctl serve gc)');
  const users = settings.htpasswd
    ? await HtpasswdFile.open(settings.htpasswd, { onReloadError: (e) => warn(`htpasswd file not reloaded: ${e.message}`) })
    : undefined;
  const accessFile = settings.access
    ? await AccessPolicyFile.open(settings.access, { onReloadError: (e) => warn(`access file not reloaded: ${e.message}`) })
    : undefined;
  const sessions = settings.ui ? new SessionStore() : undefined;
  const authorize = createAuthorizer({
    ...(users ? { users } : {}),
    ...(sessions ? { sessions } : {}),
    ...(accessFile ? { access: accessFile } : {}),
    realm: settings.realm,
    limiter: new LoginRateLimiter({ refillPerMinute: settings.loginAttemptsPerMinute, burst: settings.loginAttemptsPerMinute }),
  });
  const tls = settings.tlsCert ? await loadTls(settings.tlsCert, settings.tlsKey!) : undefined;
  for (const w of tls?.warnings ?? []) warn(w);

  const uploads = new UploadSessionLimiter({
    perClient: settings.maxUploadsPerClient,
    perRepository: settings.maxUploadsPerRepository,
    total: settings.maxUploads,
  });
  const limits: HttpLimits = {
    maxHeaderBytes: settings.maxHeaderBytes,
    maxUrlLength: settings.maxUrlLength,
    idleTimeoutMs: settings.idleTimeoutMs,
    headersTimeoutMs: settings.headersTimeoutMs,
    maxConnections: connectionCap(settings.maxConnections, warn),
  };
  const storage =
    options.storage ??
    (await (await import('./storage/open-storage.js')).openStorage({
      root: options.root,
      readOnly: settings.readOnly,
      onLeftovers: (report) => {
        const leftovers = describeLeftovers(report);
        if (leftovers) options.info?.(leftovers);
      },
    }));
  const store = storage;
  const metrics = settings.metrics
    ? new RegistryMetrics({
        uploadsInProgress: () => uploads.active(),
        ...(store.stats ? { storageStats: () => store.stats!() } : {}),
      })
    : undefined;
  const health = createHealthCheck({
    checkStorage: options.storage
      ? async () => {
          await store.listRepositories();
        }
      : settings.readOnly
        ? () => fsAccess(options.root, fsConstants.R_OK)
        : () => probeWritable(options.root),
  });
  const log = options.log || options.onRecord
    ? (r: AccessLogRecord) => {
        options.onRecord?.(r);
        options.log?.(formatAccessLog(r, settings.logFormat));
      }
    : undefined;
  const guard = createGuard({
    authorize,
    ...(metrics ? { metrics } : {}),
    health,
    limits,
    ...(log ? { log, onLogError: (e: unknown) => warn(`access log line not written: ${e instanceof Error ? e.message : String(e)}`) } : {}),
  });

  const mirror = settings.mirror && settings.mirror.length > 0 ? await createMirror(settings, store, options) : undefined;
  if (mirror && metrics) registerMirrorMetrics(metrics.registry, mirror.stats);

  const createServer = (base: ServerOptions, listener: (req: IncomingMessage, res: ServerResponse) => void) => {
    const merged = { ...base, ...httpServerOptions(limits) };
    const server = tls ? createHttpsServer({ ...merged, ...tls.options }, listener) : createHttpServer(merged, listener);
    applyServerTimeouts(server, limits);
    return server;
  };
  const registry = await createRegistryServer({
    storage: store,
    readOnly: settings.readOnly,
    deleteEnabled: !settings.noDelete,
    maxManifestBytes: settings.maxManifestBytes,
    maxTagsPerRepository: settings.maxTagsPerRepository,
    uploadTtlMs: settings.uploadTtlMs,
    guard,
    uploadLimiter: uploads,
    createServer,
    ...(mirror ? { mirror } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
    ...(sessions
      ? {
          ui: {
            sessions,
            ...(mirror ? { mirror: { stats: mirror.stats, upstreams: mirror.upstreams, ...(mirror.defaultPrefix !== undefined ? { defaultPrefix: mirror.defaultPrefix } : {}) } } : {}),
            ...(tls ? { secureCookies: true } : {}),
            // Sign-in goes through the front door's own check: same users, bcrypt pool and rate limit.
            ...(users
              ? {
                  login: async (username: string, password: string, remote: string | undefined) => {
                    const d = await authorize({
                      method: 'GET',
                      path: '/v2/',
                      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
                      ...(remote !== undefined ? { remoteAddress: remote } : {}),
                    });
                    if (d.ok && d.user !== undefined) return { ok: true as const, user: d.user };
                    return { ok: false as const, status: d.ok ? 401 : d.status, message: d.ok ? 'invalid username or password' : d.message };
                  },
                }
              : {}),
          },
        }
      : {}),
  });

  let gc: GcSchedule | undefined;
  if (settings.gcIntervalMs > 0 && !settings.readOnly && store.gcStore) {
    gc = scheduleGc(mirror ? withEviction(store.gcStore(), mirror) : store.gcStore(), settings.gcIntervalMs, {
      graceMs: settings.gcGraceMs,
      ...(retention ? { retention: { policy: retention, deleteTag: (repo: string, tag: string) => store.deleteTag(repo, tag), readBlob: blobReader(store), log: (line: string) => options.info?.(line) } } : {}),
      onReport: (r) => {
        if (r.retention) metrics?.observeRetention(r.retention);
        // gc removed manifests behind the index's back: rebuild tag maps on next use.
        registry.index?.invalidate();
        options.onGcReport?.(r);
      },
      onError: (e) => warn(`gc failed: ${e instanceof Error ? e.message : String(e)}`),
    });
  }

  return {
    registry,
    ...(tls ? { tls: tls.info } : {}),
    uploads,
    ...(metrics ? { metrics } : {}),
    ...(gc ? { gc } : {}),
    ...(mirror ? { mirror } : {}),
    async listen(port = 0, host = '127.0.0.1') {
      const bound = await registry.listen(port, host);
      return tls ? { ...bound, url: bound.url.replace(/^http:/, 'https:') } : bound;
    },
    async close() {
      await gc?.stop();
      await registry.close();
    },
  };
}

/** --max-connections, lowered (with a warning) when the open-file limit could not carry it. */
function connectionCap(configured: number, warn: (m: string) => void): number {
  let text: string | undefined;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    // not Linux: trust the setting
  }
  const cap = effectiveMaxConnections(configured, text);
  if (cap.clamped) warn(`--max-connections ${configured} is more than the open-file limit (${cap.fdLimit}) allows; using ${cap.max} (raise it with ulimit -n)`);
  return cap.max;
}

/**
 * What clients need to do to use this registry, printed at start-up (and in docs/serve-security.md):
 * TLS -> trust the CA (regctl --ca-file, docker certs.d); plain HTTP off loopback -> mark insecure.
 */
export function clientHints(input: { registry: string; tls?: TlsInfo; loopback: boolean; users: boolean }): string[] {
  const { registry } = input;
  const lines: string[] = [];
  if (input.tls) {
    lines.push(`TLS: certificate for ${input.tls.names.join(', ') || input.tls.subject}, valid until ${input.tls.validTo.toISOString().slice(0, 10)}`);
    // A public CA needs nothing on the client; a private one (or a self-signed certificate) does.
    lines.push(`clients that do not already trust its CA (private CA, self-signed) need ca.crt:`);
    lines.push(`  regctl config set ${registry} --ca-file ca.crt`);
    lines.push(`  docker/podman: copy ca.crt to /etc/docker/certs.d/${registry}/ca.crt (podman: /etc/containers/certs.d/${registry}/ca.crt)`);
    lines.push(`  skopeo: --dest-cert-dir DIR / --src-cert-dir DIR (DIR holding ca.crt)`);
  } else if (!input.loopback) {
    lines.push(`plain HTTP: clients must mark ${registry} insecure (or use --tls-cert/--tls-key):`);
    lines.push(`  regctl config set ${registry} --insecure`);
    lines.push(`  docker: "insecure-registries": ["${registry}"] in /etc/docker/daemon.json; podman: [[registry]] location="${registry}" insecure=true`);
    lines.push(`  skopeo: --dest-tls-verify=false / --src-tls-verify=false`);
    if (input.users) lines.push(`warning: passwords cross the network in clear text without TLS`);
  }
  if (input.users) lines.push(`login: regctl login ${registry} -u USER --password-stdin`);
  return lines;
}
