import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';

export interface S3ConnectOptions {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Normally from the SDK's chain (AWS_ACCESS_KEY_ID..., profiles, instance roles); tests pass them. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** ms since epoch (S3 keeps whole seconds). */
  modified: number;
}

export interface HeadInfo {
  size: number;
  modified: number;
  metadata: Record<string, string>;
}

/**
 * The SDK announces on every Node 20 start that a future release will need Node 22. That is
 * not actionable for a registry operator and must not reach their logs: drop that one warning,
 * and only while the client is built (where the SDK emits it).
 */
function withoutNodeVersionWarning<T>(build: () => T): T {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && text.startsWith('NodeVersionSupportWarning')) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return build();
  } finally {
    process.emitWarning = original;
  }
}

export function createS3Client(options: S3ConnectOptions): S3Client {
  const config: S3ClientConfig = {
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    // Checksums only where S3 demands them: the newer default (CRC32 trailers on every PUT)
    // is not understood by many S3-compatible stores.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.forcePathStyle) config.forcePathStyle = true;
  if (options.credentials) config.credentials = options.credentials;
  return withoutNodeVersionWarning(() => new S3Client(config));
}

export function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}

/** The handful of object operations the registry needs, on one bucket. */
export class Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {}

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
  }

  async head(key: string): Promise<HeadInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { size: r.ContentLength ?? 0, modified: r.LastModified?.getTime() ?? 0, metadata: r.Metadata ?? {} };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Small objects only (manifests, tags, records). */
  async getBytes(key: string): Promise<{ bytes: Buffer; contentType?: string } | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      const bytes = Buffer.from(await r.Body!.transformToByteArray());
      return r.ContentType !== undefined ? { bytes, contentType: r.ContentType } : { bytes };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async getText(key: string): Promise<string | undefined> {
    return (await this.getBytes(key))?.bytes.toString('utf8');
  }

  /** Undefined when missing; `range` is inclusive. */
  async getStream(key: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.name, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      return r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async put(key: string, body: Buffer | string, options: { contentType?: string; metadata?: Record<string, string> } = {}): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.name,
        Key: key,
        Body: body,
        // Explicit, also for empty bodies (link and marker objects), which the SDK otherwise flags.
        ContentLength: Buffer.byteLength(body),
        ContentType: options.contentType ?? 'application/octet-stream',
        ...(options.metadata ? { Metadata: options.metadata } : {}),
      }),
    );
  }

  /**
   * Stream of unknown length into one object: a single PUT below the part size, else a
   * multipart upload that only becomes visible when complete. If `body` fails (client gone,
   * digest mismatch), nothing becomes visible.
   */
  async upload(key: string, body: Readable, options: { metadata?: Record<string, string> } = {}): Promise<void> {
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.name, Key: key, Body: body, ContentType: 'application/octet-stream', ...(options.metadata ? { Metadata: options.metadata } : {}) },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await up.done();
  }

  /** Server-side copy (S3 limit: 5 GiB per request). */
  async copy(from: string, to: string): Promise<void> {
    const source = `${this.name}/${from.split('/').map(encodeURIComponent).join('/')}`;
    await this.client.send(new CopyObjectCommand({ Bucket: this.name, Key: to, CopySource: source }));
  }

  async *list(prefix: string, max?: number): AsyncGenerator<ObjectInfo> {
    let token: string | undefined;
    let n = 0;
    do {
      const r = await this.client.send(
        // No MaxKeys even with `max`: some S3-compatible stores fail on truncated listings of nested keys.
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
        if (max !== undefined && ++n >= max) return;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async listAll(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for await (const o of this.list(prefix)) out.push(o);
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 1) {
        await this.delete(batch[0]!);
        continue;
      }
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
    }
  }
}
