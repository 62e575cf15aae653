import { createHash, randomBytes } from 'node:crypto';
import { pipeline as pipelineCb, Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OciError, uploadRangeError } from '../../errors.js';
import { KeyedMutex } from '../mutex.js';
import type { BlobInfo, UploadInfo } from '../types.js';
import { mapLimit, type Bucket, type ObjectInfo } from './bucket.js';
import type { KeyLayout } from './keys.js';
import type { UploadIds } from './upload-ids.js';

interface SessionRecord {
  repository: string;
  startedAt: number;
}

interface Part {
  key: string;
  /** Unique suffix of the part (and of its checksum object). */
  name: string;
  offset: number;
  size: number;
}

interface Session {
  record: SessionRecord;
  parts: Part[];
  /** Bytes received: the end of the contiguous run of parts from offset 0. */
  size: number;
  /** Parts that overlap or leave a gap (two instances appended at once): cannot complete. */
  broken: boolean;
}

/** S3 CopyObject handles at most 5 GiB in one request. */
const MAX_COPY = 5 * 1024 ** 3;

/** Counts and hashes what passes; `check` makes it fail at the end unless the digest matches. */
class Hasher extends Transform {
  private readonly hash;
  bytes = 0;
  result?: string;

  constructor(
    private readonly algorithm: string,
    private readonly expect?: string,
  ) {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (this.expect !== undefined && this.result !== this.expect) cb(digestInvalid(this.expect, this.result));
    else cb();
  }
}

function digestInvalid(expected: string, actual: string): OciError {
  return new OciError('DIGEST_INVALID', `uploaded content has digest ${actual}, not ${expected}`, { detail: { expected, actual } });
}

/**
 * Upload sessions kept entirely in the bucket, so any instance can continue any session:
 * each append is its own object `parts/OFFSET-NONCE`; the received size is derived from the
 * listing; completion streams the parts in order through the hash into the content store.
 * A chunk whose request fails midway leaves no part (the object only appears when whole), so
 * the session stays at its previous size and the client resumes from there.
 */
export class S3UploadSessions {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly bucket: Bucket,
    private readonly keys: KeyLayout,
    private readonly ids: UploadIds,
    /** Make a verified blob visible in the repository (link objects, catalog). */
    private readonly link: (repo: string, digest: string, size: number) => Promise<void>,
  ) {}

  async create(repo: string): Promise<UploadInfo> {
    const id = this.ids.create(repo);
    const record: SessionRecord = { repository: repo, startedAt: Date.now() };
    await this.bucket.put(this.keys.uploadInfo(id), JSON.stringify(record), { contentType: 'application/json' });
    return { id, repository: repo, size: 0, startedAt: record.startedAt };
  }

  private async load(repo: string, id: string): Promise<Session | undefined> {
    if (!this.ids.verify(repo, id)) return undefined;
    const [raw, listed] = await Promise.all([this.bucket.getText(this.keys.uploadInfo(id)), this.bucket.listAll(this.keys.uploadParts(id))]);
    if (raw === undefined) return undefined;
    let record: SessionRecord;
    try {
      record = JSON.parse(raw) as SessionRecord;
    } catch {
      return undefined;
    }
    if (record.repository !== repo) return undefined;
    return { record, ...arrangeParts(listed) };
  }

  private info(id: string, s: Session): UploadInfo {
    return { id, repository: s.record.repository, size: s.size, startedAt: s.record.startedAt };
  }

  async stat(repo: string, id: string): Promise<UploadInfo | undefined> {
    const s = await this.load(repo, id);
    return s ? this.info(id, s) : undefined;
  }

  private async require(repo: string, id: string): Promise<Session> {
    const s = await this.load(repo, id);
    if (!s) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session');
    return s;
  }

  append(repo: string, id: string, body: Readable, offset?: number): Promise<UploadInfo> {
    return this.locks.run(id, async () => {
      const s = await this.require(repo, id);
      if (offset !== undefined && offset !== s.size) throw uploadRangeError(s.size);
      // OFFSET-TIME-NONCE: ordered by offset; the time (ms) makes idleness precise (S3 keeps seconds).
      const name = `${String(s.size).padStart(16, '0')}-${Date.now()}-${randomBytes(4).toString('hex')}`;
      const key = this.keys.uploadParts(id) + name;
      const hasher = new Hasher('sha256');
      const tee = body.pipe(hasher);
      body.once('error', (e) => tee.destroy(e));
      body.once('aborted', () => tee.destroy(new Error('client aborted the request')));
      await this.bucket.upload(key, tee);
      if (hasher.bytes === 0) {
        await this.bucket.delete(key);
      } else {
        // The chunk's sha256 lets a one-chunk upload commit by server-side copy, without re-reading it.
        await this.bucket.put(`${this.keys.upload(id)}sums/${name}`, `${hasher.result}`, { contentType: 'text/plain' });
      }
      s.size += hasher.bytes;
      return this.info(id, s);
    });
  }

  complete(repo: string, id: string, digest: string): Promise<BlobInfo> {
    return this.locks.run(id, async () => {
      const s = await this.require(repo, id);
      if (s.broken) throw new OciError('BLOB_UPLOAD_INVALID', 'the upload received overlapping chunks; start again');
      const content = this.keys.content(digest);
      const algorithm = digest.slice(0, digest.indexOf(':'));
      const only = s.parts.length === 1 ? s.parts[0]! : undefined;
      const onlySum = only && algorithm === 'sha256' ? await this.bucket.getText(`${this.keys.upload(id)}sums/${only.name}`) : undefined;
      if (onlySum !== undefined && onlySum !== digest) throw digestInvalid(digest, onlySum);
      const exists = (await this.bucket.head(content)) !== undefined;
      if (onlySum === digest) {
        // Verified when it was received: copy inside the store (or nothing, if the content is there).
        if (!exists) {
          if (only!.size <= MAX_COPY) await this.bucket.copy(only!.key, content);
          else await this.bucket.upload(content, this.concat(s.parts));
        }
      } else if (exists) {
        // Same digest already stored: only prove these bytes are that content.
        await pipeline(this.concat(s.parts), new Hasher(algorithm, digest), devNull());
      } else {
        // The hash check fails the stream before its end, so a wrong blob never becomes visible.
        await this.bucket.upload(content, this.checked(s.parts, algorithm, digest));
      }
      await this.link(repo, digest, s.size);
      if (exists && !(await this.bucket.head(content))) {
        // GC on another instance removed the unreferenced content between our check and our
        // link: the session's parts are still here, so store it again.
        await this.bucket.upload(content, this.checked(s.parts, algorithm, digest));
      }
      await this.remove(id);
      return { digest, size: s.size };
    });
  }

  /** The parts through the digest check; a failure anywhere (a part gone, a mismatch) fails the result. */
  private checked(parts: Part[], algorithm: string, digest: string): Readable {
    const hasher = new Hasher(algorithm, digest);
    pipelineCb(this.concat(parts), hasher, () => undefined);
    return hasher;
  }

  /** The parts in order, as one stream, fetched one at a time. */
  private concat(parts: Part[]): Readable {
    const bucket = this.bucket;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const p of parts) {
        const stream = await bucket.getStream(p.key);
        if (!stream) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'part of the upload session vanished');
        for await (const c of stream) yield c as Buffer;
      }
    }
    const out = Readable.from(chunks(), { objectMode: false });
    return out;
  }

  async cancel(repo: string, id: string): Promise<boolean> {
    if (!this.ids.verify(repo, id)) return false;
    const raw = await this.bucket.getText(this.keys.uploadInfo(id));
    if (raw === undefined) return false;
    try {
      if ((JSON.parse(raw) as SessionRecord).repository !== repo) return false;
    } catch {
      // an unreadable record goes too
    }
    await this.remove(id);
    return true;
  }

  async remove(id: string): Promise<void> {
    const keys = (await this.bucket.listAll(this.keys.upload(id))).map((o) => o.key);
    // The record last: while parts remain, the session is still listed (and purged later).
    const info = this.keys.uploadInfo(id);
    await this.bucket.deleteMany(keys.filter((k) => k !== info));
    await this.bucket.delete(info);
  }

  /** Every session with its repository, size and last activity in ms (for purge and GC). */
  async list(): Promise<Array<{ id: string; repository: string; size: number; modified: number }>> {
    const prefix = this.keys.uploads();
    const groups = new Map<string, { size: number; modified: number }>();
    for await (const o of this.bucket.list(prefix)) {
      const id = o.key.slice(prefix.length).split('/')[0]!;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { size: 0, modified: 0 }));
      if (o.key.startsWith(this.keys.uploadParts(id))) {
        g.size += o.size;
        const t = Number(o.key.slice(o.key.lastIndexOf('/') + 1).split('-')[1]);
        g.modified = Math.max(g.modified, Number.isSafeInteger(t) ? t : o.modified);
      }
    }
    return mapLimit([...groups], 16, async ([id, g]) => {
      let repository = '';
      let started = 0;
      try {
        const record = JSON.parse((await this.bucket.getText(this.keys.uploadInfo(id))) ?? '{}') as Partial<SessionRecord>;
        repository = record.repository ?? '';
        started = record.startedAt ?? 0;
      } catch {
        // unreadable or missing record: an orphan, aged by its parts only
      }
      return { id, repository, size: g.size, modified: Math.max(g.modified, started) };
    });
  }

  async purge(maxAgeMs: number): Promise<number> {
    const cutoff = Date.now() - maxAgeMs;
    let n = 0;
    for (const u of await this.list()) {
      if (u.modified >= cutoff || this.locks.isLocked(u.id)) continue;
      await this.remove(u.id);
      n++;
    }
    return n;
  }
}

function arrangeParts(listed: ObjectInfo[]): { parts: Part[]; size: number; broken: boolean } {
  const parts: Part[] = [];
  let size = 0;
  let broken = false;
  // Keys sort by zero-padded offset, so the listing is already in order.
  for (const o of listed) {
    const name = o.key.slice(o.key.lastIndexOf('/') + 1);
    const offset = Number(name.slice(0, 16));
    if (!Number.isSafeInteger(offset)) continue;
    if (offset === size && !broken) {
      parts.push({ key: o.key, name, offset, size: o.size });
      size += o.size;
    } else {
      broken = true;
    }
  }
  return { parts, size, broken };
}

function devNull(): Writable {
  return new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
}
