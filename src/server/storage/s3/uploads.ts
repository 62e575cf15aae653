import pLimit from 'p-limit';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { OciError, uploadRangeError } from '../../protocol/errors.js';
import { KeyedMutex } from '../mutex.js';
import type { BlobInfo, UploadInfo } from '../types.js';
import { type Bucket, type ObjectInfo } from './bucket.js';
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

/**
 * Upload sessions kept entirely in the bucket, so any instance can continue any session:
 * each append is its own object `parts/OFFSET-NONCE`; the received size is derived from the
 * listing; completion (after storage/verified-uploads.ts checked the digest) copies a single
 * part inside the store, or streams the parts in order into it.
 * A chunk whose request fails midway leaves no part (the object only appears when whole), so
 * the session stays at its previous size and the client resumes from there.
 */
export class S3UploadSessions {
  private readonly locks = new KeyedMutex();
  /** Told when a session goes here, so its running hash goes too. */
  onRemove?: (id: string) => void;

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

  append(repo: string, id: string, chunks: AsyncIterable<Buffer>, offset?: number): Promise<UploadInfo> {
    return this.locks.run(id, async () => {
      const s = await this.require(repo, id);
      if (offset !== undefined && offset !== s.size) throw uploadRangeError(s.size);
      // OFFSET-TIME-NONCE: ordered by offset; the time (ms) makes idleness precise (S3 keeps seconds).
      const name = `${String(s.size).padStart(16, '0')}-${Date.now()}-${randomBytes(4).toString('hex')}`;
      const key = this.keys.uploadParts(id) + name;
      let bytes = 0;
      const counted = async function* (): AsyncGenerator<Buffer> {
        for await (const c of chunks) {
          bytes += c.length;
          yield c;
        }
      };
      await this.bucket.upload(key, Readable.from(counted(), { objectMode: false }));
      if (bytes === 0) await this.bucket.delete(key);
      s.size += bytes;
      return this.info(id, s);
    });
  }

  /** A session that can complete: its parts are contiguous from offset 0. */
  private async complete(repo: string, id: string): Promise<Session> {
    const s = await this.require(repo, id);
    if (s.broken) throw new OciError('BLOB_UPLOAD_INVALID', 'the upload received overlapping chunks; start again');
    return s;
  }

  async size(repo: string, id: string): Promise<number> {
    return (await this.complete(repo, id)).size;
  }

  async read(repo: string, id: string): Promise<Readable> {
    return this.concat((await this.complete(repo, id)).parts);
  }

  /** Store the verified bytes as the content of `digest` (unless there) and link it into `repo`. */
  commit(repo: string, id: string, digest: string, size: number): Promise<BlobInfo> {
    return this.locks.run(id, async () => {
      const s = await this.complete(repo, id);
      if (s.size !== size) throw new OciError('BLOB_UPLOAD_INVALID', 'the upload session changed while it was verified; start again');
      const content = this.keys.content(digest);
      const exists = (await this.bucket.head(content)) !== undefined;
      if (!exists) await this.store(content, s.parts);
      await this.link(repo, digest, s.size);
      if (exists && !(await this.bucket.head(content))) {
        // GC on another instance removed the unreferenced content between our check and our
        // link: the session's parts are still here, so store it again.
        await this.store(content, s.parts);
      }
      await this.remove(id);
      return { digest, size: s.size };
    });
  }

  /** One part: a copy inside the store, without moving the bytes. More: streamed in order. */
  private async store(content: string, parts: Part[]): Promise<void> {
    const only = parts.length === 1 ? parts[0]! : undefined;
    if (only && only.size <= MAX_COPY) await this.bucket.copy(only.key, content);
    else await this.bucket.upload(content, this.concat(parts));
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
    this.onRemove?.(id);
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
    return pLimit(16).map([...groups], async ([id, g]) => {
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
