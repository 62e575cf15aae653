import { pipeline, Transform, type Readable } from 'node:stream';
import type { ImageSource, ImageTarget, ManifestHead, StreamedBlob } from '../content/types.js';
import { DigestMismatchError, InterruptedError, RegctlError, isRegctlError } from '../errors.js';
import { Digester, digestOf, parseDigest } from '../oci/digest.js';
import type { Descriptor, ManifestData } from '../oci/manifest.js';
import { Limiter } from './limiter.js';
import type { BlobOutcome, CopyCommonOptions, CopyEvent, CopyReport, ImageResult, PlanEntry, TagResult } from './types.js';
import { HoldbackVerifier } from './verify.js';
import { monotonicMs } from './clock.js';

type ComputedBlob = Extract<StreamedBlob, { kind: 'computed' }>;

export const DEFAULT_JOBS = 4;
/** Manifest requests go to two hosts (source and target), each with its own connection pool. */
export const DEFAULT_MANIFEST_JOBS = 32;
/** Emit blob progress at most every this many bytes (plus at the end). */
const PROGRESS_STEP = 256 * 1024;
/** After a failure or Ctrl-C, how long transfers in flight get to cancel their upload sessions. */
const SETTLE_MS = 10_000;

/**
 * State shared by every image of one copy command: the blob limiter, blobs already done or in
 * flight (so a blob shared by several images or tags transfers once), what the target is known
 * to hold, counters for the report, and the first failure (which stops everything else).
 */
export class CopySession {
  readonly source: ImageSource;
  readonly target: ImageTarget;
  readonly options: CopyCommonOptions;
  readonly limiter: Limiter;
  readonly manifestLimiter: Limiter;
  readonly dryRun: boolean;
  readonly plan: PlanEntry[] = [];
  readonly counts = { copied: 0, skipped: 0, mounted: 0, bytes: 0, manifestsPushed: 0, manifestsSkipped: 0, referrers: 0 };
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly targetManifests = new Map<string, Promise<boolean>>();
  private readonly inFlight = new Set<Readable>();
  /** Manifests whose referrers were already looked up (referrer graphs may share nodes). */
  readonly referrersSeen = new Set<string>();
  private failure: unknown;
  private readonly started = monotonicMs();

  constructor(options: CopyCommonOptions) {
    this.options = options;
    this.source = options.source;
    this.target = options.target;
    this.limiter = options.limiter ?? new Limiter(options.jobs ?? DEFAULT_JOBS);
    this.manifestLimiter = new Limiter(options.manifestJobs ?? DEFAULT_MANIFEST_JOBS);
    this.dryRun = options.dryRun ?? false;
    const abort = (): void => this.fail(new InterruptedError('copy interrupted: nothing was tagged after the interruption'));
    if (options.signal?.aborted) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });
  }

  emit(event: CopyEvent): void {
    this.options.onEvent?.(event);
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Throw the first failure if there was one, so no further work (and no tag) starts. */
  checkAlive(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Record the first failure and stop the transfers in flight. */
  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const s of this.inFlight) s.destroy();
    this.inFlight.clear();
  }

  /** Run the work of one command: time it, finish or abort the target, build the report. */
  async run(work: () => Promise<{ images: ImageResult[]; tags: TagResult[] }>): Promise<CopyReport> {
    const finish = this.options.finish ?? true;
    let result: { images: ImageResult[]; tags: TagResult[] };
    try {
      result = await work();
      this.checkAlive();
      if (finish && !this.dryRun) await this.target.commit?.();
    } catch (e) {
      this.fail(e);
      // Transfers still in flight cancel their upload sessions as they fail: wait for that
      // (bounded), or the command would end and leave sessions open at the registry.
      await this.settle(SETTLE_MS);
      if (finish && !this.dryRun) await this.target.abort?.().catch(() => {});
      throw this.failure;
    }
    const { images, tags } = result;
    return {
      source: this.source.description,
      target: this.target.description,
      ...(images.length === 1 ? { digest: images[0]!.digest } : {}),
      upToDate: images.every((i) => i.upToDate) && !tags.some((t) => t.outcome === 'pushed' || t.outcome === 'planned'),
      dryRun: this.dryRun,
      images,
      tags,
      blobs: { copied: this.counts.copied, skipped: this.counts.skipped, mounted: this.counts.mounted },
      manifests: { pushed: this.counts.manifestsPushed, skipped: this.counts.manifestsSkipped },
      referrers: this.counts.referrers,
      bytes: this.counts.bytes,
      seconds: Math.round(monotonicMs() - this.started) / 1000,
      ...(this.dryRun ? { plan: this.plan } : {}),
    };
  }

  /** Wait until every blob transfer started has ended, at most `ms`. */
  private async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.blobs.values()]), timeout]);
    clearTimeout(timer);
  }

  // ---- manifests ---------------------------------------------------------------------------

  async headSource(ref: string): Promise<ManifestHead | undefined> {
    return this.manifestLimiter.run(() => this.source.headManifest(ref));
  }

  async headTarget(ref: string): Promise<ManifestHead | undefined> {
    return this.manifestLimiter.run(() => this.target.headManifest(ref));
  }

  /**
   * Fetch manifest bytes from the source and check them: by digest they must hash to it; by
   * tag they must hash to what the source said they were.
   */
  async getManifest(ref: string, expectedDigest?: string): Promise<ManifestData> {
    this.checkAlive();
    const data = await this.manifestLimiter.run(() => this.source.getManifest(ref)).catch((e: unknown) => {
      throw withContext(e, `manifest ${ref} from ${this.source.description}`);
    });
    const expected = expectedDigest ?? (isDigestRef(ref) ? ref : data.digest);
    const algorithm = expected ? parseDigest(expected).algorithm : 'sha256';
    const actual = digestOf(data.bytes, algorithm);
    if (expected && actual !== expected) throw new DigestMismatchError(expected, actual, `manifest ${ref} from ${this.source.description}`);
    return { bytes: data.bytes, mediaType: data.mediaType, digest: actual };
  }

  /** Does the target hold this manifest (by digest)? One HEAD per digest per command. */
  manifestAtTarget(digest: string): Promise<boolean> {
    let p = this.targetManifests.get(digest);
    if (!p) {
      p = this.headTarget(digest).then((h) => h !== undefined && h.digest === digest);
      this.targetManifests.set(digest, p);
    }
    return p;
  }

  async putManifest(ref: string, data: ManifestData): Promise<void> {
    this.checkAlive();
    if (this.dryRun) {
      this.plan.push({ kind: ref === data.digest ? 'manifest' : 'tag', digest: data.digest, mediaType: data.mediaType, size: data.bytes.length, action: 'push', ...(ref === data.digest ? {} : { tag: ref }) });
      return;
    }
    await this.manifestLimiter.run(() => this.target.putManifest(ref, data)).catch((e: unknown) => {
      throw withContext(e, `pushing manifest ${ref === data.digest ? data.digest : `${data.digest} as tag ${ref}`} to ${this.target.description}`);
    });
    if (ref === data.digest) this.counts.manifestsPushed++;
    this.targetManifests.set(data.digest, Promise.resolve(true));
  }

  // ---- blobs -------------------------------------------------------------------------------

  /**
   * Make `desc` present at the target. Concurrent and repeated calls for one digest share one
   * transfer. `open` reads the bytes instead of source.getBlob (a streamed image's blobs).
   */
  copyBlob(desc: Descriptor, open?: () => Readable): Promise<void> {
    let p = this.blobs.get(desc.digest);
    if (!p) {
      this.emit({ type: 'blob-queued', digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
      p = this.limiter.run(() => this.transferBlob(desc, open)).catch((e: unknown) => {
        this.fail(e);
        throw e;
      });
      this.blobs.set(desc.digest, p);
    }
    return p;
  }

  private done(desc: Descriptor, outcome: BlobOutcome, bytes: number): void {
    this.counts[outcome]++;
    this.counts.bytes += bytes;
    this.emit({ type: 'blob-done', digest: desc.digest, size: desc.size, outcome, bytes });
  }

  /**
   * Store a blob whose digest is known only once it has streamed (target.putBlobComputed),
   * under the same limiter, events, Ctrl-C and failure rules as copyBlob. The bytes are hashed
   * here too: the digest the target reports must be the digest of what was sent.
   */
  copyComputed(blob: ComputedBlob): Promise<Descriptor> {
    this.emit({ type: 'blob-queued', digest: blob.key, size: blob.size, mediaType: blob.mediaType });
    const p = this.limiter.run(() => this.streamComputed(blob)).catch((e: unknown) => {
      this.fail(e);
      throw e;
    });
    // Tracked with the other transfers, so a failure waits for it to cancel its upload too.
    const settled = (): void => {};
    this.blobs.set(`computed ${blob.key}`, p.then(settled, settled));
    return p;
  }

  private async streamComputed(blob: ComputedBlob): Promise<Descriptor> {
    this.checkAlive();
    const what = `layer ${blob.key} (${blob.size} bytes, compressed on the way)`;
    const put = this.target.putBlobComputed?.bind(this.target);
    if (!put) throw new RegctlError('COPY_FAILED', `${this.target.description} cannot store ${what}`);
    let lastReported = 0;
    const body = blob.open((total) => {
      if (total - lastReported >= PROGRESS_STEP || total === blob.size) {
        lastReported = total;
        this.emit({ type: 'blob-progress', digest: blob.key, bytes: total, size: blob.size });
      }
    });
    this.inFlight.add(body);
    this.emit({ type: 'blob-start', digest: blob.key, size: blob.size, mediaType: blob.mediaType });
    const sent = new Digester();
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        sent.update(chunk);
        cb(null, chunk);
      },
    });
    let streamError: unknown;
    pipeline(body, tap, (err) => {
      if (err) streamError ??= err;
    });
    let desc: Descriptor;
    try {
      desc = await put(tap, blob.mediaType);
    } catch (e) {
      tap.destroy();
      // The source's own failure (e.g. a diff_id mismatch) explains the target's.
      throw withContext(streamError ?? e, `copying ${what} from ${this.source.description} to ${this.target.description}`);
    } finally {
      this.inFlight.delete(body);
    }
    if (streamError !== undefined) throw withContext(streamError, `copying ${what}`);
    const actual = sent.digest();
    if (desc.digest !== actual || desc.size !== sent.bytes) throw new DigestMismatchError(actual, desc.digest, `${what} as stored by ${this.target.description}`);
    this.blobs.set(desc.digest, Promise.resolve());
    this.counts.copied++;
    this.counts.bytes += blob.size;
    this.emit({ type: 'blob-done', digest: blob.key, size: blob.size, outcome: 'copied', bytes: blob.size });
    return desc;
  }

  private async transferBlob(desc: Descriptor, open?: () => Readable): Promise<void> {
    this.checkAlive();
    const what = `blob ${desc.digest} (${desc.size} bytes)`;
    const exists = await this.target.hasBlob(desc).catch((e: unknown) => {
      throw withContext(e, `checking ${what} at ${this.target.description}`);
    });
    if (exists) {
      if (this.dryRun) this.plan.push({ kind: 'blob', digest: desc.digest, size: desc.size, mediaType: desc.mediaType, action: 'exists' });
      this.done(desc, 'skipped', 0);
      return;
    }
    const from = this.options.mountFrom;
    if (from !== undefined && this.target.mountBlob) {
      if (this.dryRun) {
        this.plan.push({ kind: 'blob', digest: desc.digest, size: desc.size, mediaType: desc.mediaType, action: 'mount' });
        this.done(desc, 'mounted', 0);
        return;
      }
      this.checkAlive();
      // A refused or failed mount is not an error: the upload below is the fallback.
      const mounted = await this.target.mountBlob(desc, from).catch(() => false);
      if (mounted) {
        this.done(desc, 'mounted', 0);
        return;
      }
    }
    if (this.dryRun) {
      this.plan.push({ kind: 'blob', digest: desc.digest, size: desc.size, mediaType: desc.mediaType, action: 'copy' });
      this.done(desc, 'copied', desc.size);
      return;
    }
    await this.streamBlob(desc, what, open);
    this.done(desc, 'copied', desc.size);
  }

  /** source.getBlob -> HoldbackVerifier -> target.putBlob; the verifier's verdict wins over the target's. */
  private async streamBlob(desc: Descriptor, what: string, open?: () => Readable): Promise<void> {
    this.checkAlive();
    const body = await (open ? Promise.resolve().then(open) : this.source.getBlob(desc)).catch((e: unknown) => {
      throw withContext(e, `reading ${what} from ${this.source.description}`);
    });
    if (this.failed) {
      body.destroy();
      this.checkAlive();
    }
    this.inFlight.add(body);
    this.emit({ type: 'blob-start', digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
    let lastReported = 0;
    const verifier = new HoldbackVerifier({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` }, (total) => {
      if (total - lastReported >= PROGRESS_STEP || total === desc.size) {
        lastReported = total;
        this.emit({ type: 'blob-progress', digest: desc.digest, bytes: total, size: desc.size });
      }
    });
    let streamError: unknown;
    pipeline(body, verifier, (err) => {
      if (err) streamError ??= err;
    });
    verifier.on('error', (err) => {
      streamError ??= err;
    });
    try {
      await this.target.putBlob(desc, verifier);
    } catch (e) {
      verifier.destroy();
      // A verification failure explains the target's error (it saw a truncated body).
      const cause = streamError instanceof DigestMismatchError ? streamError : e;
      throw withContext(cause, `copying ${what} from ${this.source.description} to ${this.target.description}`);
    } finally {
      this.inFlight.delete(body);
    }
    if (streamError !== undefined) throw withContext(streamError, `copying ${what}`);
    if (!verifier.verified) {
      // The target finished without reading everything (it already had the blob): stop reading.
      verifier.destroy();
    }
  }
}

export function isDigestRef(ref: string): boolean {
  return /^[a-z0-9]+:[0-9a-f]+$/.test(ref);
}

/**
 * Say which blob/manifest failed and where, keeping the error's class and exit code (a
 * DigestMismatchError already names the content, so it passes through unchanged).
 */
export function withContext(e: unknown, context: string): unknown {
  if (e instanceof DigestMismatchError) return e;
  if (isRegctlError(e)) {
    if (e.message.startsWith(context)) return e;
    const wrapped = new RegctlError(e.code, `${context}: ${e.message}`, { cause: e, exitCode: e.exitCode });
    return wrapped;
  }
  const err = e as Error;
  return new RegctlError('COPY_FAILED', `${context}: ${err?.message ?? String(e)}`, { cause: e });
}
