import { readFile } from 'node:fs/promises';
import AjvModule, { type ErrorObject } from 'ajv';
import semver from 'semver';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { ExitCode, RegctlError } from '../errors.js';
import { SYNC_SCHEMA } from './schema.js';

/** A sync file that cannot be used: one line `FILE:LINE: what is wrong`, exit 2. */
export class SyncFileError extends RegctlError {
  constructor(message: string) {
    super('SYNC_FILE_INVALID', message, { exitCode: ExitCode.usage });
  }
}

export interface SyncTagsFilter {
  include?: RegExp[];
  exclude?: RegExp[];
  semver?: string;
  latest?: number;
}

export interface SyncEntry {
  source: string;
  target: string;
  repoMatch?: RegExp;
  tags: SyncTagsFilter;
  platform?: string;
  referrers: boolean;
  retag?: 'semver';
  /** Where the entry starts in the file (for messages). */
  line: number;
}

export interface SyncFile {
  entries: SyncEntry[];
  concurrency?: number;
  rateLimit: { minRemaining: number; onLow: 'stop' | 'wait'; waitMs: number };
}

/** Bigger files are refused before parsing (a sync file is a few kilobytes). */
const MAX_FILE = 1024 * 1024;
const MAX_WAIT_MS = 6 * 3600_000;

export async function loadSyncFile(path: string): Promise<SyncFile> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_FILE) throw new SyncFileError(`${path}: a sync file is at most 1 MiB`);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof SyncFileError) throw e;
    throw new SyncFileError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseSyncFile(text, path);
}

type Ajv = import('ajv').default;
let validator: ReturnType<Ajv['compile']> | undefined;

function validate(data: unknown): ErrorObject[] {
  if (!validator) {
    // ajv is CommonJS: its class is the default export's `default` under NodeNext.
    const AjvClass = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as new (o: object) => Ajv;
    validator = new AjvClass({ allErrors: true, strict: true }).compile(SYNC_SCHEMA);
  }
  return validator(data) ? [] : mostUseful(validator.errors ?? []);
}

/**
 * The errors worth reporting first: an unknown key before a missing one (a typo such as `targt`
 * is both, and its name is the useful part), and a failed `anyOf` instead of each branch's own
 * complaint.
 */
function mostUseful(errors: ErrorObject[]): ErrorObject[] {
  const anyOf = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const kept = errors.filter((e) => e.keyword === 'anyOf' || !anyOf.has(e.instancePath));
  const rank = (e: ErrorObject): number => (e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 2 : 1);
  return kept.map((e, i) => ({ e, i })).sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i).map((x) => x.e);
}

/** Parse and validate a sync file's text; every error names the file and the line. */
export function parseSyncFile(text: string, name: string): SyncFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined): string => `${name}:${offset === undefined ? 1 : lineCounter.linePos(offset).line}`;
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new SyncFileError(`${at(e.pos[0])}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const errors = validate(data);
  if (errors.length > 0) {
    const e = errors[0]!;
    const path = pointer(e.instancePath);
    throw new SyncFileError(`${at(offsetOf(doc, path, e))}: ${where(path, e)}${describe(e)}`);
  }
  const raw = data as RawFile;
  const fail = (path: (string | number)[], message: string): never => {
    throw new SyncFileError(`${at(offsetOf(doc, path))}: ${where(path)}${message}`);
  };
  const entries = raw.sync.map((r, i): SyncEntry => {
    const base = ['sync', i];
    const regex = (key: (string | number)[], source: string): RegExp => {
      try {
        return new RegExp(source);
      } catch (e) {
        // V8 says "Invalid regular expression: /((/: Unterminated group": keep what follows the pattern.
        const why = (e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
        return fail([...base, ...key], `invalid regular expression "${source}": ${why}`);
      }
    };
    const list = (key: 'include' | 'exclude'): RegExp[] | undefined => {
      const v = r.tags?.[key];
      if (v === undefined) return undefined;
      return (Array.isArray(v) ? v : [v]).map((s, j) => regex(Array.isArray(v) ? ['tags', key, j] : ['tags', key], s));
    };
    if (r.tags?.semver !== undefined && semver.validRange(r.tags.semver) === null) fail([...base, 'tags', 'semver'], `invalid semver range "${r.tags.semver}"`);
    const entry: SyncEntry = {
      source: r.source,
      target: r.target,
      tags: { include: list('include'), exclude: list('exclude'), semver: r.tags?.semver, latest: r.tags?.latest },
      referrers: r.referrers ?? false,
      line: lineCounter.linePos(offsetOf(doc, base) ?? 0).line,
    };
    if (r['repo-match'] !== undefined) entry.repoMatch = regex(['repo-match'], r['repo-match']);
    if (r.platform !== undefined) entry.platform = r.platform;
    if (r.retag !== undefined) entry.retag = r.retag;
    return entry;
  });
  const rl = raw['rate-limit'] ?? {};
  const waitMs = rl.wait === undefined ? 600_000 : parseDuration(rl.wait);
  if (waitMs > MAX_WAIT_MS) fail(['rate-limit', 'wait'], 'at most 6h');
  return {
    entries,
    ...(raw.concurrency !== undefined ? { concurrency: raw.concurrency } : {}),
    rateLimit: { minRemaining: rl['min-remaining'] ?? 10, onLow: rl['on-low'] ?? 'stop', waitMs },
  };
}

interface RawFile {
  concurrency?: number;
  'rate-limit'?: { 'min-remaining'?: number; 'on-low'?: 'stop' | 'wait'; wait?: string };
  sync: {
    source: string;
    target: string;
    'repo-match'?: string;
    tags?: { include?: string | string[]; exclude?: string | string[]; semver?: string; latest?: number };
    platform?: string;
    referrers?: boolean;
    retag?: 'semver';
  }[];
}

/** `90s`, `15m`, `1h`, `250ms` in milliseconds (also --interval). */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new SyncFileError(`invalid duration "${text}" (e.g. 90s, 15m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function pointer(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** `sync[0].tags.semver: ` */
function where(path: (string | number)[], _e?: ErrorObject): string {
  if (path.length === 0) return '';
  return `${path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')}: `;
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${String(p.additionalProperty)}"`;
    case 'required':
      return `missing key "${String(p.missingProperty)}"`;
    case 'enum':
      return `must be one of: ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'anyOf':
      return 'must be a string or a list of strings';
    case 'type':
      if (e.instancePath === '') return 'expected a mapping with a "sync:" list of entries';
      return p.type === 'object' ? 'must be a mapping (key: value lines)' : p.type === 'array' ? 'must be a list (- item lines)' : `must be ${String(p.type)}`;
    case 'minItems':
      return `must list at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`;
    case 'pattern':
      return `invalid value (expected ${patternHint(String(p.pattern))})`;
    default:
      return e.message ?? 'invalid';
  }
}

function patternHint(pattern: string): string {
  if (pattern.includes('ms|s|m|h')) return 'a duration such as 90s, 15m or 1h';
  if (pattern.includes('a-z0-9_')) return 'os/arch[/variant], e.g. linux/amd64';
  return pattern;
}

/** Where in the text the value at `path` starts (an unknown key: the key itself). */
function offsetOf(doc: Document, path: (string | number)[], e?: ErrorObject): number | undefined {
  if (e?.keyword === 'additionalProperties') {
    const parent = doc.getIn(path, true);
    if (isMap(parent)) {
      const pair = parent.items.find((it) => (it.key as { value?: unknown } | null)?.value === (e.params as { additionalProperty: string }).additionalProperty);
      const range = (pair?.key as { range?: [number, number, number] } | null)?.range;
      if (range) return range[0];
    }
  }
  // The deepest node that exists along the path (a missing key: its parent).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return range[0];
  }
  return undefined;
}
