import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { UsageError } from '../../errors.js';

/**
 * `regctl serve` settings from three places, highest first: command-line flags, environment
 * variables (REGCTL_SERVE_<NAME>), a config file (YAML or JSON; `--config FILE` or
 * REGCTL_SERVE_CONFIG), then defaults. resolveServeSettings is pure: the CLI gathers the inputs.
 *
 * Flags must come in only when the user gave them (no commander defaults for these options),
 * else a default would beat the environment and the file.
 */

export interface ServeSettings {
  port: number;
  address: string;
  /** Undefined: the server's default ($XDG_DATA_HOME/regctl/registry). */
  root?: string;
  htpasswd?: string;
  access?: string;
  tlsCert?: string;
  tlsKey?: string;
  readOnly: boolean;
  noDelete: boolean;
  logFormat: 'text' | 'json';
  realm: string;
  /** 0 = no periodic gc. */
  gcIntervalMs: number;
  gcGraceMs: number;
  /** Retention rules (YAML or JSON) the periodic gc and `serve gc` apply (docs/retention.md). */
  retention?: string;
  uploadTtlMs: number;
  maxUploadsPerRepository: number;
  /** Open upload sessions per user (per address for anonymous clients). */
  maxUploadsPerClient: number;
  maxUploads: number;
  maxManifestBytes: number;
  maxTagsPerRepository: number;
  maxHeaderBytes: number;
  maxUrlLength: number;
  idleTimeoutMs: number;
  headersTimeoutMs: number;
  /** Open client connections at most (lowered to what the open-file limit allows). */
  maxConnections: number;
  /** Failed logins allowed per client address per minute. */
  loginAttemptsPerMinute: number;
  metrics: boolean;
  /** The web UI and sign-in pages for browsers (`--no-ui` turns them off). */
  ui: boolean;
  /** Pull-through upstreams, `PREFIX=URL` each (docs/mirror.md). */
  mirror?: string[];
  /** Names matching no local repository pull through this upstream prefix (docker registry-mirrors mode). */
  mirrorDefault?: string;
  /** A cached tag is re-checked upstream after this long. */
  mirrorTagTtlMs: number;
  /** Cached bytes kept at most (least recently pulled evicted first). */
  mirrorMaxSize?: number;
  /** Upstream credentials, docker config.json format. */
  mirrorAuth?: string;
}

type Kind = 'port' | 'string' | 'path' | 'bool' | 'duration' | 'size' | 'count' | 'logFormat' | 'list';

interface Spec {
  key: keyof ServeSettings;
  /** kebab-case name: the flag (`--tls-cert`), the file key, and (upper-cased) the env suffix. */
  name: string;
  kind: Kind;
  default?: ServeSettings[keyof ServeSettings];
}

const SPECS: Spec[] = [
  { key: 'port', name: 'port', kind: 'port', default: 5000 },
  { key: 'address', name: 'address', kind: 'string', default: '127.0.0.1' },
  { key: 'root', name: 'root', kind: 'path' },
  { key: 'htpasswd', name: 'htpasswd', kind: 'path' },
  { key: 'access', name: 'access', kind: 'path' },
  { key: 'tlsCert', name: 'tls-cert', kind: 'path' },
  { key: 'tlsKey', name: 'tls-key', kind: 'path' },
  { key: 'readOnly', name: 'read-only', kind: 'bool', default: false },
  { key: 'noDelete', name: 'no-delete', kind: 'bool', default: false },
  { key: 'logFormat', name: 'log-format', kind: 'logFormat', default: 'text' },
  { key: 'realm', name: 'realm', kind: 'string', default: 'regctl' },
  { key: 'gcIntervalMs', name: 'gc-interval', kind: 'duration', default: 0 },
  { key: 'gcGraceMs', name: 'gc-grace', kind: 'duration', default: 3_600_000 },
  { key: 'retention', name: 'retention', kind: 'path' },
  { key: 'uploadTtlMs', name: 'upload-ttl', kind: 'duration', default: 24 * 3_600_000 },
  { key: 'maxUploadsPerRepository', name: 'max-uploads-per-repository', kind: 'count', default: 100 },
  { key: 'maxUploadsPerClient', name: 'max-uploads-per-client', kind: 'count', default: 100 },
  { key: 'maxUploads', name: 'max-uploads', kind: 'count', default: 1000 },
  { key: 'maxManifestBytes', name: 'max-manifest-size', kind: 'size', default: 4 * 1024 * 1024 },
  { key: 'maxTagsPerRepository', name: 'max-tags-per-repository', kind: 'count', default: 20_000 },
  { key: 'maxHeaderBytes', name: 'max-header-size', kind: 'size', default: 16 * 1024 },
  { key: 'maxUrlLength', name: 'max-url-length', kind: 'count', default: 8192 },
  { key: 'idleTimeoutMs', name: 'idle-timeout', kind: 'duration', default: 60_000 },
  { key: 'headersTimeoutMs', name: 'headers-timeout', kind: 'duration', default: 30_000 },
  { key: 'maxConnections', name: 'max-connections', kind: 'count', default: 1000 },
  { key: 'loginAttemptsPerMinute', name: 'login-attempts-per-minute', kind: 'count', default: 10 },
  { key: 'metrics', name: 'metrics', kind: 'bool', default: true },
  { key: 'ui', name: 'ui', kind: 'bool', default: true },
  { key: 'mirror', name: 'mirror', kind: 'list' },
  { key: 'mirrorDefault', name: 'mirror-default', kind: 'string' },
  { key: 'mirrorTagTtlMs', name: 'mirror-tag-ttl', kind: 'duration', default: 5 * 60_000 },
  { key: 'mirrorMaxSize', name: 'mirror-max-size', kind: 'size' },
  { key: 'mirrorAuth', name: 'mirror-auth', kind: 'path' },
];

export const SERVE_SETTINGS: ReadonlyArray<{ key: keyof ServeSettings; flag: string; env: string; fileKey: string }> = SPECS.map((s) => ({
  key: s.key,
  flag: `--${s.name}`,
  env: envName(s.name),
  fileKey: s.name,
}));

export const CONFIG_ENV = 'REGCTL_SERVE_CONFIG';

function envName(name: string): string {
  return `REGCTL_SERVE_${name.toUpperCase().replace(/-/g, '_')}`;
}

export type SettingSource = 'flag' | 'env' | 'file' | 'default';

export interface ServeConfigInput {
  /** Settings given on the command line, keyed by ServeSettings key; undefined = not given. */
  flags?: Partial<Record<keyof ServeSettings, unknown>>;
  env?: Record<string, string | undefined>;
  /** A parsed config file; relative paths in it are resolved against its directory. */
  file?: { path: string; data: unknown };
}

export interface ResolvedServeConfig {
  settings: ServeSettings;
  sources: Record<keyof ServeSettings, SettingSource>;
}

export function resolveServeSettings(input: ServeConfigInput): ResolvedServeConfig {
  const flags = input.flags ?? {};
  const env = input.env ?? {};
  const fileValues = input.file ? fileEntries(input.file) : new Map<string, unknown>();
  const settings: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};

  for (const spec of SPECS) {
    const flag = flags[spec.key];
    const envValue = env[envName(spec.name)];
    let value: unknown;
    if (flag !== undefined) {
      value = convert(spec, flag, `--${spec.name}`);
      sources[spec.key] = 'flag';
    } else if (envValue !== undefined && envValue !== '') {
      value = convert(spec, envValue, envName(spec.name));
      sources[spec.key] = 'env';
    } else if (fileValues.has(spec.name)) {
      value = convert(spec, fileValues.get(spec.name), `${input.file!.path}: ${spec.name}`);
      if (spec.kind === 'path' && typeof value === 'string' && !isAbsolute(value)) value = resolve(dirname(input.file!.path), value);
      sources[spec.key] = 'file';
    } else {
      value = spec.default;
      sources[spec.key] = 'default';
    }
    if (value !== undefined) settings[spec.key] = value;
  }

  const s = settings as unknown as ServeSettings;
  if ((s.tlsCert === undefined) !== (s.tlsKey === undefined)) {
    throw new UsageError(s.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  }
  if (s.mirrorDefault !== undefined && !(s.mirror ?? []).some((m) => m.split('=')[0]!.trim().toLowerCase() === s.mirrorDefault!.toLowerCase())) {
    throw new UsageError(`--mirror-default ${s.mirrorDefault} needs --mirror ${s.mirrorDefault}=URL`);
  }
  if (s.access !== undefined && s.htpasswd === undefined) {
    throw new UsageError('--access needs --htpasswd (access rules name users that must log in)');
  }
  return { settings: s, sources: sources as Record<keyof ServeSettings, SettingSource> };
}

/** Read and parse a config file (`.json` as JSON, anything else as YAML). */
export async function loadServeConfigFile(path: string): Promise<{ path: string; data: unknown }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    // yaml is loaded only for a YAML file: ~50 ms of every `regctl serve` start otherwise.
    const data = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : (await import('yaml')).parse(text, { uniqueKeys: true, maxAliasCount: 100 });
    return { path: resolve(path), data: data ?? {} };
  } catch (e) {
    throw new UsageError(`config file ${path}: cannot parse: ${e instanceof Error ? e.message.split('\n')[0] : 'syntax error'}`);
  }
}

/** Everything in one call: find the config file (flag `config` or REGCTL_SERVE_CONFIG), load, merge. */
export async function resolveServeConfig(input: { flags?: ServeConfigInput['flags'] & { config?: string }; env?: ServeConfigInput['env'] }): Promise<ResolvedServeConfig> {
  const { config, ...flags } = input.flags ?? {};
  const path = config ?? (input.env?.[CONFIG_ENV] || undefined);
  const file = path !== undefined ? await loadServeConfigFile(path) : undefined;
  return resolveServeSettings({ flags, env: input.env ?? {}, ...(file ? { file } : {}) });
}

function fileEntries(file: { path: string; data: unknown }): Map<string, unknown> {
  const { data } = file;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UsageError(`config file ${file.path}: expected a map of settings`);
  const known = new Map(SPECS.map((s) => [s.name, s.name] as const));
  // camelCase keys are accepted too (tlsCert for tls-cert).
  for (const s of SPECS) known.set(s.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), s.name);
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    const name = known.get(k);
    if (name === undefined) throw new UsageError(`config file ${file.path}: unknown setting "${clip(k)}"`);
    if (out.has(name)) throw new UsageError(`config file ${file.path}: setting "${name}" given twice`);
    if (v !== null && v !== undefined) out.set(name, v);
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

function convert(spec: Spec, raw: unknown, where: string): ServeSettings[keyof ServeSettings] {
  const bad = (expected: string): never => {
    throw new UsageError(`invalid ${where} ${JSON.stringify(clip(String(raw)))}: expected ${expected}`);
  };
  switch (spec.kind) {
    case 'port': {
      const n = toInteger(raw);
      return n !== undefined && n >= 0 && n <= 65535 ? n : bad('a port number 0-65535');
    }
    case 'count': {
      const n = toInteger(raw);
      return n !== undefined && n >= 1 ? n : bad('a whole number of at least 1');
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const t = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return true;
      if (['0', 'false', 'no', 'off'].includes(t)) return false;
      return bad('true or false');
    }
    case 'string':
    case 'path': {
      if (typeof raw !== 'string' || raw.trim() === '') return bad(spec.kind === 'path' ? 'a file or directory path' : 'a non-empty string');
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f]/.test(raw as string)) return bad('no control characters');
      return raw as string;
    }
    case 'list': {
      // Flags repeat; the environment separates with commas; a file gives a list or a map
      // (`mirror: {docker.io: https://registry-1.docker.io}`).
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === 'string'
          ? raw.split(',')
          : typeof raw === 'object' && raw !== null
            ? Object.entries(raw as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`)
            : bad('a list of PREFIX=URL');
      const out = (items as unknown[]).map((i) => (typeof i === 'string' ? i.trim() : bad('a list of PREFIX=URL'))).filter((i) => i !== '');
      // eslint-disable-next-line no-control-regex
      return out.some((i) => /[\x00-\x1f]/.test(i)) ? bad('no control characters') : out;
    }
    case 'logFormat':
      return raw === 'text' || raw === 'json' ? raw : bad('text or json');
    case 'duration': {
      // A bare number is seconds; otherwise 500ms, 30s, 5m, 1h, 7d, or sums like 1h30m.
      if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? Math.round(raw * 1000) : bad('a duration like 30s, 5m, 1h');
      const t = String(raw).trim().toLowerCase();
      if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
      const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
      if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) return bad('a duration like 30s, 5m, 1h');
      return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0));
    }
    case 'size': {
      if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw > 0 ? raw : bad('a size like 4MiB or 16384');
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(String(raw).trim().toLowerCase());
      const unit = m ? SIZE_UNITS[m[2]!] : undefined;
      if (!m || unit === undefined) return bad('a size like 4MiB or 16384');
      const n = Math.round(Number(m[1]) * unit);
      return n > 0 && Number.isSafeInteger(n) ? n : bad('a size like 4MiB or 16384');
    }
  }
}

function toInteger(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined;
  if (typeof raw === 'string' && /^\s*\d{1,15}\s*$/.test(raw)) return Number(raw);
  return undefined;
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
