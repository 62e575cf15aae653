import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { createS3Client } from '../../src/server/storage/s3/bucket.js';
import { S3Storage, type S3StorageOptions } from '../../src/server/storage/s3/s3.js';

export const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const SECRET = 'test-upload-secret-0123456789abcdef';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** Environment for a spawned `regctl serve` (credentials for s3rver, nothing else). */
  env: Record<string, string>;
  /** A storage on this bucket; each call gets a fresh prefix unless one is given. */
  storage(options?: Partial<S3StorageOptions>): S3Storage;
  close(): Promise<void>;
}

/** s3rver in-process on 127.0.0.1 (tests only: it keeps objects as files in a temp directory). */
export async function startS3(): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'regctl-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = 'registry-test';
  const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    env: { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' },
    storage(options = {}) {
      return new S3Storage({
        bucket,
        prefix: `t-${randomBytes(6).toString('hex')}`,
        uploadSecret: SECRET,
        client,
        ...options,
      });
    },
    async close() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
