/**
 * One error hierarchy for the whole project. Every error has a stable string `code`
 * (for --json output and tests) and an `exitCode` the CLI maps to the process exit status.
 */

export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  /** Content failed verification (digest mismatch, corrupt data). */
  integrity: 5,
  /** Interrupted by the user (Ctrl-C): 128 + SIGINT, what shells report for a killed process. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface RegctlErrorOptions {
  cause?: unknown;
  exitCode?: ExitCode;
}

export class RegctlError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, options: RegctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.error;
  }
}

/** Bad command-line input or a malformed reference: exit 2. */
export class UsageError extends RegctlError {
  constructor(message: string, options: Omit<RegctlErrorOptions, 'exitCode'> = {}) {
    super('USAGE', message, { ...options, exitCode: ExitCode.usage });
  }
}

/** The user interrupted the command (Ctrl-C): exit 130. `code` stays ABORTED for --json readers. */
export class InterruptedError extends RegctlError {
  constructor(message: string) {
    super('ABORTED', message, { exitCode: ExitCode.interrupted });
  }
}

/** A reference (image name, tag, digest) that does not follow the grammar. */
export class ReferenceError extends RegctlError {
  constructor(message: string) {
    super('INVALID_REFERENCE', message, { exitCode: ExitCode.usage });
  }
}

/** Bytes did not hash to the digest they were announced with. */
export class DigestMismatchError extends RegctlError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, what = 'content') {
    super('DIGEST_MISMATCH', `${what} digest mismatch: expected ${expected}, got ${actual}`, {
      exitCode: ExitCode.integrity,
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** One entry of the OCI error envelope `{"errors":[{code,message,detail}]}`. */
export interface OciErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface HttpErrorInit {
  status: number;
  method: string;
  /** Already redacted: never pass a URL with credentials in it. */
  url: string;
  errors?: OciErrorEntry[];
  message?: string;
  cause?: unknown;
}

function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404) return ExitCode.notFound;
  return ExitCode.error;
}

/** A registry answered with an unexpected HTTP status. */
export class HttpError extends RegctlError {
  readonly status: number;
  readonly method: string;
  readonly url: string;
  readonly errors: OciErrorEntry[];

  constructor(init: HttpErrorInit) {
    const first = init.errors?.[0];
    const registrySays = first ? `${first.code}${first.message ? `: ${first.message}` : ''}` : '';
    const message =
      init.message ??
      `${init.method} ${init.url}: HTTP ${init.status}${registrySays ? ` (${registrySays})` : ''}`;
    super(first?.code ?? `HTTP_${init.status}`, message, {
      cause: init.cause,
      exitCode: exitCodeForStatus(init.status),
    });
    this.status = init.status;
    this.method = init.method;
    this.url = init.url;
    this.errors = init.errors ?? [];
  }

  /** True when the registry reported this OCI error code (e.g. MANIFEST_UNKNOWN). */
  hasCode(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/** Something that should exist does not (manifest, blob, tag, repository, file). */
export class NotFoundError extends RegctlError {
  constructor(message: string, code = 'NOT_FOUND', options: Omit<RegctlErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: ExitCode.notFound });
  }
}

/** Missing or rejected credentials. */
export class AuthError extends RegctlError {
  constructor(message: string, code = 'UNAUTHORIZED', options: Omit<RegctlErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: ExitCode.auth });
  }
}

/** The network failed (connection refused, reset, TLS). Keeps the cause. */
export class NetworkError extends RegctlError {
  constructor(message: string, options: Omit<RegctlErrorOptions, 'exitCode'> = {}) {
    super('NETWORK', message, options);
  }
}

/** Input data (manifest JSON, archive, layout) is malformed. */
export class InvalidContentError extends RegctlError {
  constructor(message: string, code = 'INVALID_CONTENT', options: Omit<RegctlErrorOptions, 'exitCode'> = {}) {
    super(code, message, { ...options, exitCode: ExitCode.integrity });
  }
}

export function isRegctlError(e: unknown): e is RegctlError {
  return e instanceof RegctlError;
}

/**
 * A pull-through mirror's upstream failed: unreachable or 5xx (`unavailable`), 429
 * (`ratelimit`), refused credentials (`auth`), or sent bytes that do not match their digest
 * (`corrupt`). The message names the upstream by its prefix, never with credentials.
 */
export class UpstreamError extends RegctlError {
  readonly kind: 'unavailable' | 'ratelimit' | 'auth' | 'corrupt';
  readonly upstream: string;
  readonly status: number | undefined;
  constructor(kind: UpstreamError['kind'], message: string, options: { upstream: string; status?: number; cause?: unknown }) {
    super(`UPSTREAM_${kind.toUpperCase()}`, message, options.cause !== undefined ? { cause: options.cause } : {});
    this.kind = kind;
    this.upstream = options.upstream;
    this.status = options.status;
  }
}
