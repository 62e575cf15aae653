import type { LeftoverReport } from './fs-startup.js';
import type { RegistryStorage } from './types.js';

export interface OpenStorageOptions {
  /** Filesystem root (the default backend). */
  root?: string;
  /** "s3://BUCKET[/PREFIX]" selects the S3 backend; absent or a plain path: the filesystem. */
  storage?: string;
  s3?: {
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    redirect?: boolean;
    /** Shared by every instance; signs upload ids. Generated (with a warning) when missing. */
    uploadSecret?: string | Buffer;
  };
  /** Neither root nor storage: keep everything in memory (tests, throwaway servers). */
  memory?: boolean;
  /** Don't create or clean anything (filesystem on a read-only mount). */
  readOnly?: boolean;
  /**
   * Create the root and clear a dead server's leftovers (default: unless readOnly). `serve gc`
   * passes false: a running server may be using those scratch files.
   */
  prepare?: boolean;
  /** What start-up cleared from the filesystem root (crash leftovers). */
  onLeftovers?: (report: LeftoverReport) => void;
  /** Told about things the operator should know (e.g. a generated upload secret). */
  onWarning?: (message: string) => void;
}

export interface StorageLocation {
  kind: 's3';
  bucket: string;
  prefix: string;
}

/** Parse "s3://bucket/some/prefix"; undefined for anything that is not an s3:// URL. */
export function parseStorageUrl(url: string): StorageLocation | undefined {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) return undefined;
  const bucket = m[1]!;
  // S3's bucket grammar (3-63 chars, lowercase, digits, dots, hyphens).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new RangeError(`invalid S3 bucket name "${bucket}"`);
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((p) => p === '..' || p === '.') || prefix.startsWith('/')) throw new RangeError(`invalid S3 prefix "${prefix}"`);
  return { kind: 's3', bucket, prefix };
}

/**
 * The one storage factory (serve, serve gc, the runtime and createRegistryServer all call it).
 * The S3 backend and the AWS SDK are imported only here, only when chosen: the filesystem path
 * pays nothing for them.
 */
export async function openStorage(options: OpenStorageOptions): Promise<RegistryStorage> {
  const location = options.storage !== undefined ? parseStorageUrl(options.storage) : undefined;
  if (options.storage !== undefined && !location && /^[a-z0-9]+:\/\//i.test(options.storage)) {
    throw new RangeError(`unsupported storage "${options.storage}": use s3://BUCKET[/PREFIX] or a directory`);
  }
  if (!location) {
    const root = options.storage ?? options.root;
    if (root === undefined) {
      if (!options.memory) throw new RangeError('no storage root given');
      const { MemoryStorage } = await import('./memory.js');
      return new MemoryStorage();
    }
    const { FilesystemStorage } = await import('./fs.js');
    const fs = new FilesystemStorage(root);
    if (options.prepare ?? !options.readOnly) {
      const report = await fs.init();
      options.onLeftovers?.(report);
    }
    return fs;
  }
  let secret = options.s3?.uploadSecret;
  if (secret === undefined || secret.length === 0) {
    const { randomBytes } = await import('node:crypto');
    secret = randomBytes(32);
    options.onWarning?.(
      'no upload secret given (--s3-upload-secret-file or REGCTL_SERVE_UPLOAD_SECRET): generated one for this process. With several instances behind a load balancer, give them all the same secret, or uploads that move between instances fail.',
    );
  }
  const { S3Storage } = await import('./s3/s3.js');
  const s3 = new S3Storage({
    bucket: location.bucket,
    prefix: location.prefix,
    uploadSecret: secret,
    ...(options.s3?.endpoint ? { endpoint: options.s3.endpoint } : {}),
    ...(options.s3?.region ? { region: options.s3.region } : {}),
    ...(options.s3?.forcePathStyle ? { forcePathStyle: true } : {}),
    ...(options.s3?.redirect ? { redirect: true } : {}),
  });
  try {
    await s3.init();
  } catch (e) {
    await s3.close();
    throw e;
  }
  return s3;
}

export interface ServeStorageFlags {
  storage: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3Redirect?: boolean;
  /** A file holding the upload secret (never the secret itself on the command line). */
  s3UploadSecretFile?: string;
  readOnly?: boolean;
}

/**
 * `regctl serve --storage s3://...`: the flags and environment turned into a backend. Bad
 * input is a UsageError; a bucket that cannot be used is one RegctlError line.
 */
export async function openServeStorage(flags: ServeStorageFlags, env: NodeJS.ProcessEnv, onWarning: (m: string) => void): Promise<RegistryStorage> {
  const { RegctlError, UsageError } = await import('../../errors.js');
  let location: StorageLocation | undefined;
  try {
    location = parseStorageUrl(flags.storage);
  } catch (e) {
    throw new UsageError(`--storage: ${(e as Error).message}`);
  }
  if (!location) throw new UsageError(`--storage must be s3://BUCKET[/PREFIX], got "${flags.storage}" (use --root for a directory)`);
  if (flags.s3Endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(flags.s3Endpoint)) {
    throw new UsageError(`--s3-endpoint must be an http(s) URL, got "${flags.s3Endpoint}"`);
  }
  let secret: string | undefined = env.REGCTL_SERVE_UPLOAD_SECRET;
  if (flags.s3UploadSecretFile !== undefined) {
    const { readFile } = await import('node:fs/promises');
    try {
      secret = (await readFile(flags.s3UploadSecretFile, 'utf8')).trim();
    } catch (e) {
      throw new UsageError(`cannot read --s3-upload-secret-file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (secret !== undefined && secret !== '' && Buffer.byteLength(secret) < 16) {
    throw new UsageError('the upload secret must be at least 16 characters (e.g. openssl rand -hex 32)');
  }
  try {
    return await openStorage({
      storage: flags.storage,
      s3: {
        ...(flags.s3Endpoint ? { endpoint: flags.s3Endpoint } : {}),
        ...(flags.s3Region ? { region: flags.s3Region } : {}),
        ...(flags.s3ForcePathStyle ? { forcePathStyle: true } : {}),
        ...(flags.s3Redirect ? { redirect: true } : {}),
        ...(secret ? { uploadSecret: secret } : {}),
      },
      ...(flags.readOnly ? { readOnly: true } : {}),
      onWarning,
    });
  } catch (e) {
    throw new RegctlError('STORAGE', `cannot use storage ${flags.storage}: ${(e as Error).message}`);
  }
}
