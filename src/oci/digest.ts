import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, ReferenceError } from '../errors.js';

/** Algorithms we can verify, with the exact length of their hex encoding. */
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * Parse and validate `alg:hex`. Only registered algorithms with lowercase hex of the right
 * length pass, so a digest is always safe to use as a path component.
 */
export function parseDigest(digest: string): ParsedDigest {
  const colon = digest.indexOf(':');
  if (colon <= 0) throw new ReferenceError(`invalid digest "${truncate(digest)}": expected ALGORITHM:HEX`);
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const len = HEX_LENGTH[algorithm];
  if (len === undefined) {
    throw new ReferenceError(`invalid digest "${truncate(digest)}": unsupported algorithm "${truncate(algorithm)}" (sha256 or sha512)`);
  }
  if (hex.length !== len || !/^[0-9a-f]+$/.test(hex)) {
    throw new ReferenceError(`invalid digest "${truncate(digest)}": ${algorithm} needs ${len} lowercase hex characters`);
  }
  return { algorithm: algorithm as DigestAlgorithm, hex };
}

export function isValidDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** A running digest for bytes that arrive in pieces. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  bytes = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

export interface VerifyOptions {
  /** Expected digest; the stream errors with DigestMismatchError at the end if it differs. */
  digest: string;
  /** Expected size; the stream errors if more or fewer bytes arrive. */
  size?: number;
  /** Named in error messages, e.g. "blob sha256:ab..". */
  what?: string;
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end (before the
 * consumer sees 'end') if the content does not match. Use it between source and sink so a
 * mismatch aborts the pipeline before anything is committed.
 */
export class VerifyingStream extends Transform {
  private readonly digester: Digester;
  private readonly want: VerifyOptions;

  constructor(expected: VerifyOptions) {
    super();
    this.want = expected;
    this.digester = new Digester(parseDigest(expected.digest).algorithm);
  }

  get bytes(): number {
    return this.digester.bytes;
  }

  /** What this stream checks against, so a consumer can skip hashing the same bytes twice. */
  get expected(): Readonly<VerifyOptions> {
    return this.want;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digester.update(chunk);
    if (this.want.size !== undefined && this.digester.bytes > this.want.size) {
      cb(new DigestMismatchError(this.want.digest, `more than ${this.want.size} bytes`, this.want.what ?? 'content'));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const what = this.want.what ?? 'content';
    if (this.want.size !== undefined && this.digester.bytes !== this.want.size) {
      cb(new DigestMismatchError(this.want.digest, `${this.digester.bytes} of ${this.want.size} bytes`, what));
      return;
    }
    const actual = this.digester.digest();
    if (actual !== this.want.digest) {
      cb(new DigestMismatchError(this.want.digest, actual, what));
      return;
    }
    cb();
  }
}

function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
