import type { Server, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import { clientKey } from '../security/rate-limit.js';

/**
 * Request and upload limits. UploadSessionLimiter caps open upload sessions per client (user,
 * or address when anonymous), per repository and in total; the rest turns limit settings into Node HTTP server options, so slow-loris clients
 * are cut off while a slow upload that keeps sending bytes is not.
 */

export interface LimitRefusal {
  ok: false;
  status: 429;
  code: 'TOOMANYREQUESTS';
  message: string;
  headers: { 'Retry-After': string };
}

export interface UploadSlot {
  ok: true;
  /** Tie the slot to the session id storage created; release(id) then frees it. */
  attach(sessionId: string): void;
  /** Free the slot (creation failed, or a single-request upload finished). Idempotent. */
  release(): void;
}

export interface UploadLimitOptions {
  /** Open sessions per client (see uploadOwner). Default 100. */
  perClient?: number;
  /** Open sessions per repository. Default 100. */
  perRepository?: number;
  /** Open sessions in all. Default 1000. */
  total?: number;
  /** What Retry-After says when refusing. Default 10 s. */
  retryAfterSeconds?: number;
  now?: () => number;
}

interface Session {
  repository: string;
  /** Undefined for sessions restored from storage after a restart (their owner is not stored). */
  owner: string | undefined;
  lastActive: number;
  /** Expires after this idle time even when the upload TTL is longer (orphan of a dead process). */
  maxIdleMs?: number;
}

/**
 * Whom an upload session counts against: the user, or for anonymous callers the address (IPv6
 * by /64, as failed logins are counted), so one greedy pusher cannot take every slot.
 */
export function uploadOwner(user: string | undefined, address: string | undefined): string {
  return user !== undefined ? `user:${user}` : `address:${clientKey(address)}`;
}

export class UploadSessionLimiter {
  private readonly perClient: number;
  private readonly perRepository: number;
  private readonly total: number;
  private readonly retryAfter: number;
  private readonly now: () => number;
  private readonly sessions = new Map<string, Session>();
  /** Slots held by sessions and by not-yet-attached acquisitions, per repository. */
  private readonly counts = new Map<string, number>();
  /** The same per owner. */
  private readonly owners = new Map<string, number>();
  private held = 0;

  constructor(options: UploadLimitOptions = {}) {
    this.perClient = options.perClient ?? 100;
    this.perRepository = options.perRepository ?? 100;
    this.total = options.total ?? 1000;
    this.retryAfter = options.retryAfterSeconds ?? 10;
    this.now = options.now ?? Date.now;
    if (!(this.perClient >= 1) || !(this.perRepository >= 1) || !(this.total >= 1)) throw new RangeError('upload limits must be at least 1');
  }

  /** Take a slot before creating an upload session; a refusal is the 429 to send. */
  acquire(repository: string, owner?: string): UploadSlot | LimitRefusal {
    const inRepo = this.counts.get(repository) ?? 0;
    const mine = owner === undefined ? 0 : (this.owners.get(owner) ?? 0);
    if (this.held >= this.total || inRepo >= this.perRepository || mine >= this.perClient) {
      // The client's own cap first: it is the one the caller can do something about.
      const scope = mine >= this.perClient ? 'for this client' : this.held >= this.total ? 'on this registry' : 'for this repository';
      return {
        ok: false,
        status: 429,
        code: 'TOOMANYREQUESTS',
        message: `too many uploads in progress ${scope}; retry later`,
        headers: { 'Retry-After': String(this.retryAfter) },
      };
    }
    this.take(repository, owner);
    let state: 'held' | 'attached' | 'released' = 'held';
    return {
      ok: true,
      attach: (sessionId) => {
        if (state !== 'held') return;
        state = 'attached';
        const old = this.sessions.get(sessionId);
        if (old) this.give(old.repository, old.owner); // same id attached twice: keep one slot
        this.sessions.set(sessionId, { repository, owner, lastActive: this.now() });
      },
      release: () => {
        if (state !== 'held') return;
        state = 'released';
        this.give(repository, owner);
      },
    };
  }

  /** The session completed, was cancelled or purged. False when it was not tracked. */
  release(sessionId: string): boolean {
    const s = this.sessions.get(sessionId);
    if (!s) return false;
    this.sessions.delete(sessionId);
    this.give(s.repository, s.owner);
    return true;
  }

  /** Count a session that already exists (found on disk after a restart), even over the limit. */
  restore(repository: string, sessionId: string, lastActive = this.now(), maxIdleMs?: number): void {
    if (this.sessions.has(sessionId)) return;
    this.take(repository, undefined);
    this.sessions.set(sessionId, { repository, owner: undefined, lastActive, ...(maxIdleMs !== undefined ? { maxIdleMs } : {}) });
  }

  /** Note activity (PATCH) so expire() leaves the session alone. */
  touch(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s) s.lastActive = this.now();
  }

  /** Release sessions idle longer than maxIdleMs (the upload TTL); returns their ids to purge. */
  expire(maxIdleMs: number): string[] {
    const now = this.now();
    const gone: string[] = [];
    for (const [id, s] of this.sessions) {
      if (s.lastActive < now - Math.min(maxIdleMs, s.maxIdleMs ?? Infinity)) {
        this.sessions.delete(id);
        this.give(s.repository, s.owner);
        gone.push(id);
      }
    }
    return gone;
  }

  /** Slots in use, in one repository or in all. */
  active(repository?: string): number {
    return repository === undefined ? this.held : (this.counts.get(repository) ?? 0);
  }

  /** Slots one owner (uploadOwner) holds. */
  activeFor(owner: string): number {
    return this.owners.get(owner) ?? 0;
  }

  private take(repository: string, owner: string | undefined): void {
    this.held++;
    bump(this.counts, repository, 1);
    if (owner !== undefined) bump(this.owners, owner, 1);
  }

  private give(repository: string, owner: string | undefined): void {
    this.held--;
    bump(this.counts, repository, -1);
    if (owner !== undefined) bump(this.owners, owner, -1);
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}

// ---- HTTP-level limits ----

export interface HttpLimits {
  /** Request line plus headers, bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Longest request target (path and query). Default 8192. */
  maxUrlLength?: number;
  /** Time to receive the complete request headers (slow-loris on headers). Default 30 s. */
  headersTimeoutMs?: number;
  /** A connection with no bytes in either direction for this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** Idle keep-alive connections between requests. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Open connections at most; more are answered 503 + Retry-After and closed. Default 1000. */
  maxConnections?: number;
}

/** Options for http.createServer / https.createServer. */
export function httpServerOptions(limits: HttpLimits = {}): ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes ?? 16 * 1024,
    // No limit on a whole request: a multi-GB upload over a slow link may take hours, and
    // stalls are caught by the idle timeout instead.
    requestTimeout: 0,
    headersTimeout: limits.headersTimeoutMs ?? 30_000,
    keepAliveTimeout: limits.keepAliveTimeoutMs ?? 5_000,
    // Node checks headersTimeout only this often (default 30 s, which would let it overrun).
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor((limits.headersTimeoutMs ?? 30_000) / 2))),
  };
}

/**
 * Apply the timeouts that are properties rather than constructor options. The idle timeout is
 * a socket inactivity timer: every chunk received resets it, so an upload that is still sending
 * lives on; a client that stops sending is closed.
 */
export function applyServerTimeouts(server: Server, limits: HttpLimits = {}): void {
  const idle = limits.idleTimeoutMs ?? 60_000;
  server.headersTimeout = limits.headersTimeoutMs ?? 30_000;
  server.requestTimeout = 0;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs ?? 5_000;
  // With no 'timeout' listener Node destroys the socket when it fires.
  server.setTimeout(idle);
  watchHeaderDeadline(server, limits.headersTimeoutMs ?? 30_000);
  capConnections(server, limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
}

export const DEFAULT_MAX_CONNECTIONS = 1000;
/** File descriptors kept for everything but client connections (blob files, uploads, logs). */
const FD_RESERVE = 128;

/**
 * The connection cap actually usable under the process's open-file limit (Linux: read from
 * /proc/self/limits; elsewhere the configured value is trusted). `clamped` says it was lowered.
 */
export function effectiveMaxConnections(configured: number, limitsText?: string): { max: number; clamped: boolean; fdLimit?: number } {
  const m = /^Max open files\s+(\d+)/m.exec(limitsText ?? '');
  if (!m) return { max: configured, clamped: false };
  const fdLimit = Number(m[1]);
  // A connection may hold a file too (an upload's data file, a blob being sent): two each.
  const usable = Math.max(1, Math.floor((fdLimit - FD_RESERVE) / 2));
  return usable < configured ? { max: usable, clamped: true, fdLimit } : { max: configured, clamped: false, fdLimit };
}

const OVER_CAPACITY_BODY = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'too many connections; retry later' }] });
const OVER_CAPACITY = Buffer.from(
  `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(OVER_CAPACITY_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${OVER_CAPACITY_BODY}`,
);
const CONNECTIONS = Symbol('regctl.connections');

/**
 * At most `max` connections are handed to HTTP. One more gets a fixed 503 + Retry-After written
 * straight to the socket (no parser, no request object: it costs almost nothing) and is closed
 * once the client has had a moment to read it, instead of the process running out of file
 * descriptors and failing everyone. With TLS the count is kept on handshaken connections (the
 * answer must be encrypted to be read).
 */
function capConnections(server: Server, max: number): void {
  if ((server as Server & { [CONNECTIONS]?: boolean })[CONNECTIONS]) return;
  (server as Server & { [CONNECTIONS]?: boolean })[CONNECTIONS] = true;
  const isTls = typeof (server as Server & { setSecureContext?: unknown }).setSecureContext === 'function';
  const event = isTls ? 'secureConnection' : 'connection';
  let open = 0;
  const emit = server.emit;
  // The HTTP machinery is itself a 'connection' listener: refusing means not emitting to it.
  server.emit = function (this: Server, name: string | symbol, ...args: unknown[]): boolean {
    if (name !== event) return (emit as (...a: unknown[]) => boolean).apply(this, [name, ...args]);
    const socket = args[0] as Duplex;
    if (open >= max) {
      refuse(socket);
      return true;
    }
    open++;
    socket.once('close', () => open--);
    return (emit as (...a: unknown[]) => boolean).apply(this, [name, ...args]);
  } as Server['emit'];
}

function refuse(socket: Duplex): void {
  socket.on('error', () => undefined);
  // Read and drop what the client sends (its request) so closing does not reset the answer away.
  socket.resume();
  socket.end(OVER_CAPACITY);
  const timer = setTimeout(() => socket.destroy(), 1000);
  timer.unref();
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}

const HEADER_TIMER = Symbol('regctl.headerDeadline');
type TimedSocket = Duplex & { [HEADER_TIMER]?: NodeJS.Timeout };

/**
 * Our own deadline for complete request headers, on top of Node's headersTimeout: Node's
 * periodic check can miss a slow-loris connection while other connections are open (seen on
 * Node 20 with an idle keep-alive connection beside it). Armed when a connection opens and
 * after each response; cleared when a request's headers are complete.
 */
function watchHeaderDeadline(server: Server, ms: number): void {
  if (!(ms > 0)) return;
  const arm = (socket: TimedSocket) => {
    clearTimeout(socket[HEADER_TIMER]);
    const timer = setTimeout(() => {
      if (socket.destroyed) return;
      handleClientError(Object.assign(new Error('request headers timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
      // Do not wait for the client to read the answer.
      setTimeout(() => socket.destroy(), 1000).unref();
    }, ms);
    timer.unref();
    socket[HEADER_TIMER] = timer;
  };
  // TLS: the socket requests arrive on is the TLS socket, ready after the handshake.
  const isTls = typeof (server as Server & { setSecureContext?: unknown }).setSecureContext === 'function';
  server.on(isTls ? 'secureConnection' : 'connection', (socket: TimedSocket) => {
    // One close listener per connection (not per re-arm: keep-alive sockets serve many requests).
    socket.once('close', () => clearTimeout(socket[HEADER_TIMER]));
    arm(socket);
  });
  server.on('request', (req: { socket: TimedSocket | null }, res: { once(e: 'finish', f: () => void): unknown }) => {
    // Keep the socket itself: req.socket is null once the request has been destroyed.
    const socket = req.socket;
    if (!socket) return;
    clearTimeout(socket[HEADER_TIMER]);
    res.once('finish', () => {
      if (!socket.destroyed) arm(socket);
    });
  });
}

/** 414 for an overlong request target, before any routing; undefined when it is fine. */
export function checkUrlLength(url: string | undefined, limits: HttpLimits = {}): { status: 414; code: 'UNSUPPORTED'; message: string } | undefined {
  const max = limits.maxUrlLength ?? 8192;
  if (url !== undefined && url.length > max) return { status: 414, code: 'UNSUPPORTED', message: `request URL longer than ${max} characters` };
  return undefined;
}

/**
 * For server.on('clientError'): answer requests Node could not parse (headers too large,
 * malformed request line) with the OCI error envelope instead of a bare status, then close.
 */
export function handleClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A request whose headers parsed but whose body is malformed (a bad chunk) already has a
  // response object; if that has not started its answer, answer here instead of going silent.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const [status, text] = tooLarge ? [431, 'Request Header Fields Too Large'] : timeout ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const message = tooLarge ? 'request headers too large' : timeout ? 'request headers not received in time' : 'malformed HTTP request';
  const body = JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message }] });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
