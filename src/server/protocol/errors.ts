/**
 * Errors the registry answers with. Every one becomes the OCI envelope
 * `{"errors":[{"code","message","detail"}]}`; the status defaults from the code (spec table).
 */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  /** regctl serve: a conditional tag update (If-Match / If-None-Match) found the tag elsewhere. */
  | 'TAG_MOVED'
  | 'UNKNOWN';

const DEFAULT_STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  // distribution answers 400 on PUT: the request is what is wrong, not the URL.
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  TAG_MOVED: 412,
  UNKNOWN: 500,
};

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers (e.g. Range on a 416 for an upload). */
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message: string, options: { status?: number; detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'OciError';
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** Thrown by storage when an upload chunk does not start where the session ends (HTTP 416). */
export function uploadRangeError(size: number, location?: string): OciError {
  const headers: Record<string, string> = { Range: `0-${Math.max(size - 1, 0)}` };
  if (location) headers.Location = location;
  return new OciError('BLOB_UPLOAD_INVALID', `chunk must start at offset ${size}`, { status: 416, headers, detail: { size } });
}

/**
 * A precondition on a tag: the tag must point at `digest` (If-Match), or not exist
 * (`digest` undefined, If-None-Match: *).
 */
export interface TagCondition {
  tag: string;
  digest: string | undefined;
}

/** Throws TAG_MOVED (412) when `current` (where the tag points now) does not meet `cond`. */
export function checkTagCondition(repo: string, cond: TagCondition, current: string | undefined): void {
  if (current === cond.digest) return;
  const now = current ?? 'nothing';
  const wanted = cond.digest ?? 'nothing (If-None-Match: *)';
  throw new OciError('TAG_MOVED', `tag ${cond.tag} of ${repo} points at ${now}, not ${wanted}`, { detail: { tag: cond.tag, current: current ?? null, expected: cond.digest ?? null } });
}
