import type { Command } from 'commander';

/** Flags, environment and config file -> ServeSettings, shared by serve, serve user and serve gc. */

export interface ServeFlags {
  config?: string;
  root?: string;
  log: boolean;
  storage?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3Redirect?: boolean;
  s3UploadSecretFile?: string;
}

/** $XDG_DATA_HOME/regctl/registry, else ~/.local/share/regctl/registry. */
export async function defaultRoot(env: NodeJS.ProcessEnv): Promise<string> {
  const { homedir } = await import('node:os');
  const { join, isAbsolute } = await import('node:path');
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'regctl', 'registry');
}

// ---- settings: flags > REGCTL_SERVE_* > --config file > defaults (ops/config.ts) ----
// No commander defaults on these options: a default would beat the environment and the file.
// [flag, help]; the flag's camelCase name is the settings key unless SETTING_KEYS says otherwise.
export const SETTING_OPTIONS: Array<[string, string]> = [
  ['-p, --port <port>', 'TCP port (0 picks a free one; default 5000)'],
  ['-a, --address <addr>', 'address to listen on; 0.0.0.0 exposes the registry to the network (default 127.0.0.1)'],
  ['--root <dir>', 'storage directory (default $XDG_DATA_HOME/regctl/registry or ~/.local/share/regctl/registry)'],
  ['--read-only', 'refuse pushes and deletes (maintenance)'],
  ['--no-delete', 'refuse deletes of blobs, manifests and tags'],
  ['--log-format <format>', 'access log format: text or json (default text)'],
  ['--htpasswd <file>', 'require logins: users with bcrypt passwords (htpasswd -B format; manage with `regctl serve user`)'],
  ['--access <file>', 'per-repository access rules, JSON or YAML (see docs/serve-security.md)'],
  ['--tls-cert <file>', 'serve HTTPS (TLS 1.2+) with this PEM certificate (chain)'],
  ['--tls-key <file>', 'PEM private key of --tls-cert'],
  ['--realm <name>', 'realm in the Basic challenge (default regctl)'],
  ['--gc-interval <duration>', 'collect garbage periodically, e.g. 6h (default off)'],
  ['--gc-grace <duration>', 'gc keeps anything younger than this (default 1h)'],
  ['--retention <file>', 'retention rules (YAML or JSON) applied by gc: keep last N, keep tags, semver releases, untagged after (docs/retention.md)'],
  ['--upload-ttl <duration>', 'remove upload sessions idle this long (default 24h)'],
  ['--max-uploads-per-repository <n>', 'open upload sessions per repository (default 100)'],
  ['--max-uploads-per-client <n>', 'open upload sessions per user, or per address without login (default 100)'],
  ['--max-uploads <n>', 'open upload sessions in all (default 1000)'],
  ['--max-manifest-size <size>', 'largest manifest accepted (default 4MiB)'],
  ['--max-tags-per-repository <n>', 'tags one repository may hold (default 20000)'],
  ['--max-header-size <size>', 'largest request line plus headers (default 16KiB)'],
  ['--max-url-length <n>', 'longest request URL (default 8192)'],
  ['--idle-timeout <duration>', 'close connections silent this long; a slow upload that still sends is kept (default 60s)'],
  ['--max-connections <n>', 'open connections at most; more get 503 + Retry-After (default 1000, less if the open-file limit is lower)'],
  ['--headers-timeout <duration>', 'time allowed to send the request headers (default 30s)'],
  ['--login-attempts-per-minute <n>', 'failed logins allowed per client address per minute (default 10)'],
  ['--no-metrics', 'no Prometheus /metrics endpoint'],
  ['--no-ui', 'no web UI for browsers (the API is the same either way)'],
  ['--mirror <prefix=url>', 'pull through from an upstream registry, e.g. docker.io=https://registry-1.docker.io (repeatable; HOST/docker.io/library/alpine; see docs/mirror.md)'],
  ['--mirror-default <prefix>', 'docker registry-mirrors mode: names no local repository has pull through this --mirror prefix'],
  ['--mirror-tag-ttl <duration>', 'trust a cached tag this long before re-checking it upstream with a HEAD (default 5m)'],
  ['--mirror-max-size <size>', 'cached bytes kept at most, least recently pulled evicted first, e.g. 50GiB (default no limit)'],
  ['--mirror-auth <file>', 'upstream credentials, docker config.json format ("auths" keyed by prefix or host)'],
];

/** Options that may be given more than once (collected into a list). */
export const REPEATABLE_OPTIONS = new Set(['--mirror <prefix=url>']);

const SETTING_KEYS: Record<string, string> = {
  delete: 'noDelete',
  maxManifestSize: 'maxManifestBytes',
  maxHeaderSize: 'maxHeaderBytes',
  gcInterval: 'gcIntervalMs',
  gcGrace: 'gcGraceMs',
  uploadTtl: 'uploadTtlMs',
  idleTimeout: 'idleTimeoutMs',
  headersTimeout: 'headersTimeoutMs',
  mirrorTagTtl: 'mirrorTagTtlMs',
};

function attributeOf(flags: string): string {
  const long = /--(?:no-)?([a-z0-9-]+)/.exec(flags)![1]!;
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The settings the user gave on this command line, keyed as ServeSettings. */
function givenSettings(cmd: Command): Record<string, unknown> {
  const values = cmd.optsWithGlobals() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // A sub-command (gc, user) sees options given before its name on the parent.
  const given = (attr: string) => [cmd, cmd.parent, cmd.parent?.parent].some((c) => c?.getOptionValueSource(attr) === 'cli');
  for (const [flags] of SETTING_OPTIONS) {
    const attr = attributeOf(flags);
    if (!given(attr)) continue;
    // --no-delete is stored by commander as delete=false.
    out[SETTING_KEYS[attr] ?? attr] = attr === 'delete' ? values[attr] === false : values[attr];
  }
  return out;
}

export async function settingsFor(cmd: Command, env: NodeJS.ProcessEnv, extra: Record<string, unknown> = {}) {
  const { resolveServeConfig } = await import('../../../server/ops/config.js');
  const config = (cmd.optsWithGlobals() as { config?: string }).config;
  return resolveServeConfig({ flags: { ...givenSettings(cmd), ...extra, ...(config !== undefined ? { config } : {}) }, env });
}
