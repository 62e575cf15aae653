import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { NotFoundError, RegctlError, UsageError } from '../../errors.js';
import { sharedBcryptPool, type BcryptPool } from './bcrypt-pool.js';
import { acquireLockFile, LockBusyError, writeFileAtomic } from '../storage/fs-file-ops.js';

/**
 * htpasswd files with bcrypt entries, as `htpasswd -B` writes them: `user:$2y$05$<53 chars>`.
 * The server loads one with HtpasswdFile (reloaded when the file changes); `regctl serve user`
 * edits one with addUser/removeUser/listUsers. No message built here contains a password or hash.
 */

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
/** bcrypt ignores everything past 72 bytes; refusing is better than a silently shorter password. */
export const MAX_PASSWORD_BYTES = 72;
export const DEFAULT_COST = 10;

export class HtpasswdError extends RegctlError {
  constructor(message: string) {
    super('HTPASSWD_INVALID', message, { exitCode: 2 });
  }
}

type Line = { kind: 'entry'; username: string; hash: string; text: string } | { kind: 'other'; text: string };

/** Split a file into lines, recognising `user:hash` entries and keeping everything else verbatim. */
function readLines(text: string): Line[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((raw): Line => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return { kind: 'other', text: line };
    const colon = trimmed.indexOf(':');
    if (colon <= 0) return { kind: 'other', text: line };
    return { kind: 'entry', username: trimmed.slice(0, colon), hash: trimmed.slice(colon + 1), text: line };
  });
}

/** What a non-bcrypt hash is, for the error message (never the hash itself). */
function schemeName(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'apr1 (MD5)';
  if (hash.startsWith('{SHA}')) return 'SHA-1';
  if (hash.startsWith('$1$')) return 'MD5-crypt';
  if (hash.startsWith('$5$')) return 'SHA-256-crypt';
  if (hash.startsWith('$6$')) return 'SHA-512-crypt';
  if (hash.startsWith('$2')) return 'malformed bcrypt';
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'DES crypt';
  return 'unknown or plain-text';
}

/**
 * Strict parse for serving: every entry must be bcrypt, user names unique. Blank lines and
 * `#` comments are allowed. Throws HtpasswdError naming the file, line and user.
 */
export function parseHtpasswd(text: string, source = 'htpasswd file'): Map<string, string> {
  const users = new Map<string, string>();
  const lines = readLines(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `${source} line ${i + 1}`;
    if (line.kind === 'other') {
      const t = line.text.trim();
      if (t !== '' && !t.startsWith('#')) throw new HtpasswdError(`${where}: expected USER:HASH`);
      continue;
    }
    if (!BCRYPT_HASH.test(line.hash)) {
      throw new HtpasswdError(
        `${where}: user "${line.username}" has a ${schemeName(line.hash)} hash; only bcrypt entries are supported (htpasswd -B, or regctl serve user add)`,
      );
    }
    if (users.has(line.username)) throw new HtpasswdError(`${where}: user "${line.username}" appears twice`);
    users.set(line.username, line.hash);
  }
  return users;
}

export function validateUsername(username: string): void {
  // The name is not echoed: a password pasted into the wrong prompt must not end up on screen.
  if (username.length === 0) throw new UsageError('user name is empty');
  if (username.length > 255) throw new UsageError('user name is longer than 255 characters');
  // eslint-disable-next-line no-control-regex
  if (/[:\s\x00-\x1f\x7f]/.test(username)) throw new UsageError('user name may not contain ":", spaces or control characters');
  if (username.startsWith('#')) throw new UsageError('user name may not start with "#"');
}

export function validatePassword(password: string): void {
  if (password.length === 0) throw new UsageError('password is empty');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new UsageError(`password is longer than ${MAX_PASSWORD_BYTES} bytes (bcrypt would ignore the rest)`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00\r\n]/.test(password)) throw new UsageError('password may not contain NUL or line breaks');
}

export interface HtpasswdOptions {
  /** Stat the file for changes at most this often (ms). Default 1000; 0 checks on every verify. */
  checkIntervalMs?: number;
  /** Remember successful verifications this long after their last use (ms) so clients don't pay bcrypt per request. Default 60000; 0 disables. */
  cacheTtlMs?: number;
  /** Called when a changed file fails to load; the previous users stay in force. */
  onReloadError?: (error: Error) => void;
  now?: () => number;
  /** Where compares run (default: the process's shared worker pool). */
  pool?: BcryptPool;
}

interface FileIdentity {
  mtimeMs: number;
  size: number;
  ino: number;
}

const CACHE_MAX = 1024;

/** A loaded htpasswd file that verifies credentials and follows edits to the file. */
export class HtpasswdFile {
  readonly path: string;
  private users: Map<string, string>;
  private identity: FileIdentity;
  private lastCheck: number;
  private reloading: Promise<void> | undefined;
  private readonly options: Required<Omit<HtpasswdOptions, 'onReloadError' | 'pool'>> & Pick<HtpasswdOptions, 'onReloadError'>;
  private readonly pool: BcryptPool;
  /** HMAC key for the success cache: the cache never holds a password or a plain digest of one. */
  private readonly cacheKey = randomBytes(32);
  private readonly cache = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly dummyHashes = new Map<number, string>();

  private constructor(path: string, users: Map<string, string>, identity: FileIdentity, options: HtpasswdOptions) {
    this.path = path;
    this.users = users;
    this.identity = identity;
    this.options = {
      checkIntervalMs: options.checkIntervalMs ?? 1000,
      cacheTtlMs: options.cacheTtlMs ?? 60_000,
      now: options.now ?? Date.now,
      onReloadError: options.onReloadError,
    };
    this.pool = options.pool ?? sharedBcryptPool();
    this.lastCheck = this.options.now();
  }

  /** Load and validate; throws HtpasswdError (bad content) or NotFoundError (no file). */
  static async open(path: string, options: HtpasswdOptions = {}): Promise<HtpasswdFile> {
    const { users, identity } = await load(path);
    return new HtpasswdFile(path, users, identity, options);
  }

  usernames(): string[] {
    return [...this.users.keys()].sort();
  }

  /**
   * True when the user exists and the password matches. Unknown users cost a compare at the
   * file's highest cost too. Compares run on the worker pool; `client` (the caller's address)
   * bounds how many one client may have queued. Rejects with BcryptBusyError when the pool's
   * queue is full: a verified (cached) login never waits for it.
   */
  async verify(username: string, password: string, client?: string): Promise<boolean> {
    await this.maybeReload();
    const hash = this.users.get(username);
    if (hash === undefined) {
      await this.pool.compare(password, this.dummyHash(this.maxCost()), client);
      return false;
    }
    const key = this.options.cacheTtlMs > 0 ? this.cacheEntry(username, password, hash) : undefined;
    const now = this.options.now();
    if (key !== undefined) {
      const expires = this.cache.get(key);
      if (expires !== undefined) this.cache.delete(key);
      if (expires !== undefined && expires > now) {
        // Sliding and least-recently-used: a client in steady use never waits behind the
        // compare queue again (edits to the file clear the cache).
        this.cache.set(key, now + this.options.cacheTtlMs);
        return true;
      }
    }
    // bcrypt truncates at 72 bytes; a longer password must not match its prefix's hash.
    if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
      await this.pool.compare('', hash, client);
      return false;
    }
    if (key === undefined) return this.pool.compare(password, hash, client);
    // A client opening several connections at once (parallel layer pushes) pays for one compare.
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.pool.compare(password, hash, client).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const ok = await pending;
    if (ok) {
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, this.options.now() + this.options.cacheTtlMs);
    }
    return ok;
  }

  /** Reload now if the file changed (also what verify does, rate-limited by checkIntervalMs). */
  async reloadIfChanged(): Promise<void> {
    this.reloading ??= this.doReload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async maybeReload(): Promise<void> {
    const now = this.options.now();
    if (now - this.lastCheck < this.options.checkIntervalMs) return;
    this.lastCheck = now;
    await this.reloadIfChanged();
  }

  private async doReload(): Promise<void> {
    try {
      const s = await stat(this.path);
      if (s.mtimeMs === this.identity.mtimeMs && s.size === this.identity.size && s.ino === this.identity.ino) return;
      const { users, identity } = await load(this.path);
      this.users = users;
      this.identity = identity;
      this.cache.clear();
    } catch (e) {
      this.options.onReloadError?.(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private cacheEntry(username: string, password: string, hash: string): string {
    return createHmac('sha256', this.cacheKey).update(`${username}\0${password}\0${hash}`).digest('base64');
  }

  /**
   * The highest cost in the file: an unknown user then takes as long as the slowest known one,
   * so a slow answer never tells that a (high-cost, e.g. admin) user exists.
   */
  private maxCost(): number {
    let max = 0;
    for (const h of this.users.values()) max = Math.max(max, Number(h.slice(4, 6)));
    return max || DEFAULT_COST;
  }

  /**
   * A hash nobody's password matches, at a given cost. Random salt and digest characters make
   * a well-formed hash whose compare costs exactly as much as a real one, without hashing.
   */
  private dummyHash(cost: number): string {
    let h = this.dummyHashes.get(cost);
    if (!h) {
      const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
      const chars = Array.from(randomBytes(53), (b) => alphabet[b & 63]).join('');
      h = `$2b$${String(cost).padStart(2, '0')}$${chars}`;
      this.dummyHashes.set(cost, h);
    }
    return h;
  }
}

async function load(path: string): Promise<{ users: Map<string, string>; identity: FileIdentity }> {
  let text: string;
  let s;
  try {
    s = await stat(path);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`htpasswd file ${path} does not exist`);
    throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { users: parseHtpasswd(text, path), identity: { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino } };
}

// ---- editing (regctl serve user add|rm|list) ----

export interface UserEntry {
  username: string;
  /** False for entries the server would refuse (not bcrypt). */
  supported: boolean;
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export async function listUsers(path: string): Promise<UserEntry[]> {
  const text = await readOptional(path);
  return readLines(text)
    .flatMap((l) => (l.kind === 'entry' ? [{ username: l.username, supported: BCRYPT_HASH.test(l.hash) }] : []))
    .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}

/** Add or replace a user; returns whether it was added or its password replaced. */
export async function addUser(
  path: string,
  username: string,
  password: string,
  options: { cost?: number } = {},
): Promise<'added' | 'updated'> {
  validateUsername(username);
  validatePassword(password);
  const cost = options.cost ?? DEFAULT_COST;
  if (!Number.isInteger(cost) || cost < 4 || cost > 17) throw new UsageError('bcrypt cost must be an integer from 4 to 17');
  // $2y$ is what htpasswd -B writes; the algorithms are identical, other tools expect this prefix.
  const hash = (await bcrypt.hash(password, cost)).replace(/^\$2b\$/, '$2y$');
  return withLock(path, async () => {
    const lines = readLines(await readOptional(path));
    let result: 'added' | 'updated' = 'added';
    const out: Line[] = [];
    for (const l of lines) {
      if (l.kind === 'entry' && l.username === username) {
        if (result === 'added') out.push({ kind: 'entry', username, hash, text: `${username}:${hash}` });
        result = 'updated';
      } else {
        out.push(l);
      }
    }
    if (result === 'added') out.push({ kind: 'entry', username, hash, text: `${username}:${hash}` });
    await writeFileAtomic(path, out.map((l) => `${l.text}\n`).join(''), { mode: 0o600 });
    return result;
  });
}

/** Remove a user; false when there was no such user (the file is left untouched). */
export async function removeUser(path: string, username: string): Promise<boolean> {
  return withLock(path, async () => {
    const lines = readLines(await readOptional(path));
    const out = lines.filter((l) => !(l.kind === 'entry' && l.username === username));
    if (out.length === lines.length) return false;
    await writeFileAtomic(path, out.map((l) => `${l.text}\n`).join(''), { mode: 0o600 });
    return true;
  });
}

/** `FILE.lock` (storage/fs-file-ops.ts acquireLockFile), so two concurrent edits don't lose one another's change. */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  let release: () => Promise<void>;
  try {
    release = await acquireLockFile(lock, { timeoutMs: 5000 });
  } catch (e) {
    if (e instanceof LockBusyError) throw new HtpasswdError(`htpasswd file ${path} is locked by another edit (${lock})`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new HtpasswdError(`cannot create htpasswd file ${path}: directory does not exist`);
    throw new HtpasswdError(`cannot lock htpasswd file ${path}: ${code ?? 'error'}`);
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}
