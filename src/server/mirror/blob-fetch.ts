import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Digester, parseDigest } from '../../oci/digest.js';
import { UpstreamError } from '../../errors.js';
import type { RegistryStorage } from '../storage/types.js';
import type { UpstreamClient } from './upstream.js';

/**
 * One upstream download per missing blob, however many clients ask at once (single flight).
 * The bytes go to a temporary file while they are hashed; every waiter tails that file, so
 * each client streams as fast as the download arrives. The last byte is held back until the
 * whole blob matched its digest: a corrupted blob is never served complete (waiters see the
 * connection cut) and never stored. Once verified the file becomes a blob of the cache
 * repository: on the file system by a hard link (no copy), elsewhere through the storage's
 * ordinary upload path (which verifies again).
 */

export interface FlightEvents {
  /** Bytes received from upstream (metrics). */
  onBytes?(n: number): void;
  onStored?(repo: string, digest: string, size: number): void;
  onError?(error: unknown, repo: string, digest: string): void;
}

export class BlobFlight {
  size: number | undefined;
  written = 0;
  verified = false;
  failed: Error | undefined;
  private readers = 0;
  private finished = false;
  private waiters: Array<() => void> = [];
  readonly started: Promise<void>;

  constructor(
    readonly digest: string,
    readonly path: string,
    private readonly file: FileHandle,
    start: (flight: BlobFlight) => Promise<void>,
    private readonly onDone: () => void,
  ) {
    this.started = start(this);
  }

  /** Wake everyone tailing the file. */
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, off, chunk.length - off, this.written + off);
      off += bytesWritten;
    }
    this.written += chunk.length;
    this.notify();
  }

  /** The blob's bytes `start`..`end` (inclusive) as they arrive; throws if the download fails. */
  async *read(start: number, end: number): AsyncGenerator<Buffer> {
    this.readers++;
    const fh = await open(this.path, 'r').catch((e: unknown) => {
      this.release();
      throw e;
    });
    try {
      let pos = start;
      while (pos <= end) {
        if (this.failed) throw this.failed;
        if (this.verified && pos >= this.written) break;
        // Hold the last byte until the digest matched.
        const available = this.verified ? this.written : this.written - 1;
        if (pos < available) {
          const want = Math.min(available, end + 1, pos + 256 * 1024) - pos;
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, pos);
          if (bytesRead === 0) throw new Error('cache file shorter than written');
          pos += bytesRead;
          yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
        } else {
          await this.changed();
        }
      }
    } finally {
      await fh.close().catch(() => undefined);
      this.release();
    }
  }

  /** The download (and storing) is over; the file goes when its last reader has finished. */
  finish(): void {
    this.finished = true;
    this.notify();
    this.onDone();
    this.cleanup();
  }

  private release(): void {
    this.readers--;
    this.cleanup();
  }

  private cleanup(): void {
    if (this.finished && this.readers === 0) {
      void this.file.close().catch(() => undefined).then(() => rm(this.path, { force: true }));
    }
  }
}

export class BlobFetcher {
  private readonly flights = new Map<string, BlobFlight>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly storage: RegistryStorage,
    private readonly tmpDir: string,
    private readonly events: FlightEvents = {},
  ) {}

  inFlight(repo: string, digest: string): BlobFlight | undefined {
    return this.flights.get(`${repo}@${digest}`);
  }

  get active(): number {
    return this.flights.size;
  }

  /** Resolves when no download or store is running (shutdown waits for it). */
  idle(): Promise<void> {
    if (this.flights.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private ended(key: string): void {
    this.flights.delete(key);
    if (this.flights.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** The flight for this blob: the running one, or a new download. Resolves once upstream answered. */
  async fetch(client: UpstreamClient, repo: string, remoteName: string, digest: string): Promise<BlobFlight | undefined> {
    const key = `${repo}@${digest}`;
    let flight = this.flights.get(key);
    if (!flight) {
      await mkdir(this.tmpDir, { recursive: true });
      const path = join(this.tmpDir, `${parseDigest(digest).hex.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
      const file = await open(path, 'w+');
      // Re-check after the awaits: another request may have started it meanwhile.
      flight = this.flights.get(key);
      if (flight) {
        await file.close();
        await rm(path, { force: true });
      } else if (await this.storage.statBlob(repo, digest)) {
        // A flight that just ended stored it: serve it from storage (undefined).
        await file.close();
        await rm(path, { force: true });
        return undefined;
      } else if ((flight = this.flights.get(key))) {
        await file.close();
        await rm(path, { force: true });
      } else {
        flight = new BlobFlight(digest, path, file, (f) => this.download(f, client, repo, remoteName), () => this.ended(key));
        this.flights.set(key, flight);
        // Failures are seen through `started` and `failed`; never unhandled.
        flight.started.catch(() => undefined);
      }
    }
    await flight.started;
    return flight;
  }

  /** Resolves when upstream's headers are in (size known); the body continues in the background. */
  private async download(f: BlobFlight, client: UpstreamClient, repo: string, remoteName: string): Promise<void> {
    let res;
    try {
      res = await client.request('GET', `/v2/${remoteName}/blobs/${f.digest}`, remoteName);
    } catch (e) {
      this.fail(f, e as Error, repo);
      throw e;
    }
    if (res.status !== 200 || !res.body) {
      res.abort();
      const e =
        res.status === 404
          ? client.error('unavailable', `blob ${f.digest} not found upstream`, 404)
          : client.error('unavailable', `upstream ${client.upstream.prefix} answered ${res.status} for blob ${f.digest}`, res.status);
      this.fail(f, e, repo);
      throw e;
    }
    const len = Number(res.headers.get('content-length'));
    if (Number.isSafeInteger(len) && len >= 0) f.size = len;
    const body = res.body;
    void (async () => {
      const digester = new Digester(parseDigest(f.digest).algorithm);
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          digester.update(chunk);
          await f.write(chunk);
          this.events.onBytes?.(chunk.length);
          if (f.size !== undefined && f.written > f.size) throw client.error('corrupt', `upstream sent more than the ${f.size} bytes announced for ${f.digest}`, 502);
        }
        if (f.size !== undefined && f.written !== f.size) throw client.error('unavailable', `upstream ended ${f.digest} after ${f.written} of ${f.size} bytes`, 502);
        const actual = digester.digest();
        if (actual !== f.digest) throw client.error('corrupt', `upstream ${client.upstream.prefix} sent bytes with digest ${actual} for ${f.digest}; not cached`, 502);
        f.size = f.written;
        f.verified = true;
        f.notify();
      } catch (e) {
        res.abort();
        this.fail(f, e as Error, repo);
        return;
      }
      try {
        await this.store(f, repo);
        this.events.onStored?.(repo, f.digest, f.written);
      } catch (e) {
        // Served, not kept: the next pull fetches again.
        this.events.onError?.(e, repo, f.digest);
      }
      f.finish();
    })();
  }

  private fail(f: BlobFlight, e: Error, repo: string): void {
    f.failed = e instanceof UpstreamError ? e : new UpstreamError('unavailable', `upstream download of ${f.digest} failed: ${e.message}`, { upstream: '?', cause: e });
    this.events.onError?.(f.failed, repo, f.digest);
    f.finish();
  }

  private async store(f: BlobFlight, repo: string): Promise<void> {
    // On the file system the verified download becomes the blob by a link: each byte is
    // written once. Elsewhere (S3, memory) it goes through the upload path (verified again).
    if (this.storage.adoptVerifiedFile && (await this.storage.adoptVerifiedFile(repo, f.digest, f.path, f.written))) return;
    const up = await this.storage.createUpload(repo);
    try {
      await this.storage.appendUpload(repo, up.id, createReadStream(f.path));
      await this.storage.completeUpload(repo, up.id, f.digest);
    } catch (e) {
      await this.storage.cancelUpload(repo, up.id).catch(() => undefined);
      throw e;
    }
  }
}
