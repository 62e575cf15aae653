import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Upload ids that every instance sharing the secret can check without a bucket round trip, and
 * that clients cannot forge or guess: 64 random bits, then the first 64 bits of
 * HMAC-SHA256(secret, repository + nonce). 32 hex characters in all, the format the HTTP layer
 * already accepts. Binding the repository means an id from one repository is unknown in another.
 */
export class UploadIds {
  private readonly secret: Buffer;

  constructor(secret: Buffer | string) {
    this.secret = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8');
    if (this.secret.length < 16) throw new RangeError('the upload secret must be at least 16 bytes');
  }

  private mac(repo: string, nonce: string): Buffer {
    return createHmac('sha256', this.secret).update(`${repo}\n${nonce}`).digest().subarray(0, 8);
  }

  create(repo: string): string {
    const nonce = randomBytes(8).toString('hex');
    return nonce + this.mac(repo, nonce).toString('hex');
  }

  verify(repo: string, id: string): boolean {
    if (!/^[0-9a-f]{32}$/.test(id)) return false;
    const given = Buffer.from(id.slice(16), 'hex');
    return timingSafeEqual(given, this.mac(repo, id.slice(0, 16)));
  }
}
