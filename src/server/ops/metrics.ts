import type { IncomingMessage, ServerResponse } from 'node:http';
import { meterResponse } from './response-meter.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseRegistryRoute } from '../security/routes.js';

/**
 * Prometheus metrics for one server instance. Each RegistryMetrics owns its own prom-client
 * Registry (never the global default), so several servers in one process (tests) don't collide.
 * Labels are low-cardinality on purpose: a route kind, never a repository name or a digest.
 */

export interface StorageStats {
  /** Bytes of blob data stored (each blob once, however many repositories link it). */
  bytes: number;
  blobs: number;
}

export interface MetricsOptions {
  /** Called at scrape time (at most every storageStatsTtlMs); errors keep the previous values. */
  storageStats?: () => StorageStats | Promise<StorageStats>;
  /** Cache storage stats this long (ms); walking storage is not free. Default 30000. */
  storageStatsTtlMs?: number;
  /** Upload sessions open right now (e.g. UploadSessionLimiter.active()). */
  uploadsInProgress?: () => number;
  /** Node process metrics (CPU, memory, event loop lag, handles). Default true. */
  processMetrics?: boolean;
  /** Metric name prefix. Default `regctl_registry_`. */
  prefix?: string;
  now?: () => number;
}

export interface RequestObservation {
  method: string;
  /** A route kind (see routeLabel), not a URL. */
  route: string;
  status: number;
  bytesIn?: number;
  bytesOut?: number;
  durationSeconds?: number;
}

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route label for a request URL: base, catalog, tags, manifest, blob, uploads, upload, referrers, healthz, metrics, unknown, other. */
export function routeLabel(url: string): string {
  const r = parseRegistryRoute(url);
  if (r.kind !== 'other') return r.kind;
  const path = url.split('?')[0];
  return path === '/healthz' ? 'healthz' : path === '/metrics' ? 'metrics' : 'other';
}

export class RegistryMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route'>;
  private readonly bytesIn: Counter<'method' | 'route'>;
  private readonly bytesOut: Counter<'method' | 'route'>;
  private readonly retentionRemoved: Counter<'kind'>;
  private storageCache: { at: number; value: StorageStats } | undefined;
  private storagePending: Promise<StorageStats | undefined> | undefined;

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'regctl_registry_';
    const now = options.now ?? Date.now;
    const ttl = options.storageStatsTtlMs ?? 30_000;
    this.registry = new Registry();
    const registers = [this.registry];
    this.requests = new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests answered, by method, route kind and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from request to the end of the response',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.bytesIn = new Counter({
      name: `${prefix}http_request_bytes_total`,
      help: 'Request body bytes received',
      labelNames: ['method', 'route'],
      registers,
    });
    this.bytesOut = new Counter({
      name: `${prefix}http_response_bytes_total`,
      help: 'Response body bytes sent',
      labelNames: ['method', 'route'],
      registers,
    });
    this.retentionRemoved = new Counter({
      name: `${prefix}retention_removed_total`,
      help: 'Tags and manifests removed by --retention rules (kind: tag, manifest)',
      labelNames: ['kind'],
      registers,
    });
    this.retentionRemoved.inc({ kind: 'tag' }, 0);
    this.retentionRemoved.inc({ kind: 'manifest' }, 0);
    const uploads = options.uploadsInProgress;
    new Gauge({
      name: `${prefix}uploads_in_progress`,
      help: 'Blob upload sessions open',
      registers,
      collect() {
        if (uploads) this.set(uploads());
      },
    });
    const stats = options.storageStats;
    const self = this;
    const readStats = async (): Promise<StorageStats | undefined> => {
      if (!stats) return undefined;
      if (self.storageCache && now() - self.storageCache.at < ttl) return self.storageCache.value;
      // Concurrent scrapes share one walk of the storage.
      self.storagePending ??= (async () => {
        try {
          const value = await stats();
          self.storageCache = { at: now(), value };
          return value;
        } catch {
          return self.storageCache?.value;
        } finally {
          self.storagePending = undefined;
        }
      })();
      return self.storagePending;
    };
    new Gauge({
      name: `${prefix}storage_bytes`,
      help: 'Bytes of blob data in storage',
      registers,
      async collect() {
        const s = await readStats();
        if (s) this.set(s.bytes);
      },
    });
    new Gauge({
      name: `${prefix}storage_blobs`,
      help: 'Blobs in storage',
      registers,
      async collect() {
        const s = await readStats();
        if (s) this.set(s.blobs);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix });
  }

  observeRequest(o: RequestObservation): void {
    const method = METHODS.has(o.method.toUpperCase()) ? o.method.toUpperCase() : 'OTHER';
    this.requests.inc({ method, route: o.route, status: String(o.status) });
    if (o.durationSeconds !== undefined) this.duration.observe({ method, route: o.route }, o.durationSeconds);
    if (o.bytesIn) this.bytesIn.inc({ method, route: o.route }, o.bytesIn);
    if (o.bytesOut) this.bytesOut.inc({ method, route: o.route }, o.bytesOut);
  }

  /**
   * Observe one request when its response ends (or the connection closes). Call it first thing
   * in the request handler. Response bytes are counted as the body is written; request bytes
   * are what the handler reports with `setBytesIn` (it knows what it stored), else Content-Length.
   */
  instrument(req: IncomingMessage, res: ServerResponse): { setBytesIn(n: number): void } {
    const meter = meterResponse(res);
    meter.onEnd(() => {
      const length = Number(req.headers['content-length']);
      this.observeRequest({
        method: req.method ?? 'OTHER',
        route: routeLabel(req.url ?? '/'),
        status: meter.recordedStatus,
        bytesIn: meter.bytesIn ?? (Number.isSafeInteger(length) && length > 0 ? length : 0),
        bytesOut: meter.bytesOut,
        durationSeconds: (performance.now() - meter.startedMs) / 1000,
      });
    });
    return {
      setBytesIn(n: number) {
        meter.bytesIn = n;
      },
    };
  }

  /** Count what a (not dry) gc run's retention removed. */
  observeRetention(r: { removed: Array<{ kind: 'tag' | 'manifest' }> }): void {
    for (const x of r.removed) this.retentionRemoved.inc({ kind: x.kind });
  }

  /** The `/metrics` answer. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
