import type { TransformCallback } from 'node:stream';
import { VerifyingStream, type VerifyOptions } from '../oci/digest.js';

/**
 * VerifyingStream that holds back the last chunk until the digest has been checked, so a
 * target never receives the complete bytes of a blob that fails verification: whatever it
 * does with a short body, it cannot store corrupt content under the announced digest.
 * It also reports bytes as they pass, for progress display.
 */
export class HoldbackVerifier extends VerifyingStream {
  private held: Buffer | undefined;
  /** True once every byte passed and the digest and size matched. */
  verified = false;
  private readonly onBytes: (total: number) => void;

  constructor(expected: VerifyOptions, onBytes: (total: number) => void = () => {}) {
    super(expected);
    this.onBytes = onBytes;
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    super._transform(chunk, enc, (err) => {
      if (err) {
        cb(err);
        return;
      }
      const previous = this.held;
      this.held = chunk;
      this.onBytes(this.bytes);
      cb(null, previous);
    });
  }

  override _flush(cb: TransformCallback): void {
    super._flush((err) => {
      if (err) {
        cb(err);
        return;
      }
      this.verified = true;
      if (this.held) this.push(this.held);
      this.held = undefined;
      cb();
    });
  }
}
