import type { Readable } from 'node:stream';
import { Digester, parseDigest } from '../../oci/digest.js';
import { OciError } from '../protocol/errors.js';
import { KeyedMutex } from './mutex.js';
import type { BlobInfo, UploadInfo } from './types.js';

/**
 * What a backend provides for upload sessions: bytes in, bytes back, commit. It never hashes;
 * VerifiedUploads (the one place that verifies an upload's digest) sits above it.
 */
export interface UploadBytes {
  /** Append to the session (416 unless `offset` equals its size); consume `chunks` once. */
  appendBytes(repo: string, id: string, chunks: AsyncIterable<Buffer>, offset?: number): Promise<UploadInfo>;
  /** The bytes a commit would store; throws BLOB_UPLOAD_UNKNOWN, or BLOB_UPLOAD_INVALID when it cannot complete. */
  uploadSize(repo: string, id: string): Promise<number>;
  /** The session's bytes in order, for a hash the running one cannot give (restart, another instance). */
  readUpload(repo: string, id: string): Promise<Readable>;
  /** Make the verified bytes the blob `digest` in `repo`; the session ends. `size` is what was verified. */
  commitUpload(repo: string, id: string, digest: string, size: number): Promise<BlobInfo>;
}

/** A sha256 over exactly the first `bytes` bytes of a session, as they streamed past. */
interface Running {
  digester: Digester;
}

/** Running hashes kept at most (sessions abandoned elsewhere); a dropped one costs a re-read. */
const MAX_RUNNING = 10_000;

/**
 * Hash while streaming, compare, then let the backend commit. The sha256 of a session is kept
 * running in memory while its bytes pass on their way to the backend (one pass, no copy); when
 * it cannot be trusted (a restart, a failed append, bytes appended by another instance, or a
 * sha512 digest) the session is read back once and hashed.
 */
export class VerifiedUploads {
  private readonly running = new Map<string, Running>();
  private readonly locks = new KeyedMutex();

  constructor(private readonly store: UploadBytes) {}

  append(repo: string, id: string, body: Readable, offset?: number): Promise<UploadInfo> {
    return this.locks.run(id, async () => {
      // No running hash yet: start one, kept only if the session turns out to have been empty.
      const state = this.running.get(id) ?? { digester: new Digester('sha256') };
      const before = state.digester.bytes;
      this.running.delete(id);
      let info: UploadInfo;
      try {
        info = await this.store.appendBytes(repo, id, hashing(body, state.digester), offset);
      } catch (e) {
        // Refused before any byte moved (a 416): the running hash is still exact.
        if (state.digester.bytes === before && before > 0) this.keep(id, state);
        throw e;
      }
      // Trust the hash only if it covers every byte of the session (nothing appended elsewhere).
      if (info.size === state.digester.bytes) this.keep(id, state);
      return info;
    });
  }

  complete(repo: string, id: string, digest: string): Promise<BlobInfo> {
    return this.locks.run(id, async () => {
      const size = await this.store.uploadSize(repo, id);
      const { algorithm } = parseDigest(digest);
      const state = this.running.get(id);
      // A digest consumes the running hash: a failed attempt re-reads next time.
      this.running.delete(id);
      let actual: string;
      if (algorithm === 'sha256' && state && state.digester.bytes === size) {
        actual = state.digester.digest();
      } else {
        const d = new Digester(algorithm);
        for await (const c of await this.store.readUpload(repo, id)) d.update(c as Buffer);
        if (d.bytes !== size) throw new OciError('BLOB_UPLOAD_INVALID', 'the upload session changed while it was verified; start again');
        actual = d.digest();
      }
      if (actual !== digest) {
        throw new OciError('DIGEST_INVALID', `uploaded content has digest ${actual}, not ${digest}`, { detail: { expected: digest, actual } });
      }
      return this.store.commitUpload(repo, id, digest, size);
    });
  }

  private keep(id: string, state: Running): void {
    if (this.running.size >= MAX_RUNNING) this.running.delete(this.running.keys().next().value!);
    this.running.set(id, state);
  }

  /** The session is gone (cancelled, purged): its running hash too. */
  forget(id: string): void {
    this.running.delete(id);
  }
}

/**
 * The request body's chunks, each hashed as it passes. Not destroyed when the consumer stops
 * early: a destroyed request takes its socket, and the answer (507 for a full disk) with it.
 */
async function* hashing(body: Readable, digester: Digester): AsyncGenerator<Buffer> {
  for await (const chunk of body.iterator({ destroyOnReturn: false })) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    digester.update(buf);
    yield buf;
  }
}
