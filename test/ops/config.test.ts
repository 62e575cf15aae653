import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadServeConfigFile, resolveServeConfig, resolveServeSettings, SERVE_SETTINGS } from '../../src/server/ops/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-serve-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('serve settings precedence', () => {
  const file = { path: '/etc/regctl/serve.yaml', data: { port: 7000, address: '0.0.0.0', htpasswd: 'users.htpasswd', 'read-only': true, gcInterval: '6h' } };

  it('defaults alone', () => {
    const { settings, sources } = resolveServeSettings({});
    expect(settings).toEqual({
      port: 5000,
      address: '127.0.0.1',
      readOnly: false,
      noDelete: false,
      logFormat: 'text',
      realm: 'regctl',
      gcIntervalMs: 0,
      gcGraceMs: 3_600_000,
      uploadTtlMs: 86_400_000,
      maxUploadsPerRepository: 100,
      maxUploadsPerClient: 100,
      maxUploads: 1000,
      maxManifestBytes: 4 * 1024 * 1024,
      maxTagsPerRepository: 20_000,
      maxHeaderBytes: 16384,
      maxUrlLength: 8192,
      idleTimeoutMs: 60_000,
      headersTimeoutMs: 30_000,
      maxConnections: 1000,
      loginAttemptsPerMinute: 10,
      metrics: true,
      ui: true,
      mirrorTagTtlMs: 300_000,
    });
    expect(new Set(Object.values(sources))).toEqual(new Set(['default']));
  });

  it.each([
    ['file only', {}, {}, 7000, 'file'],
    ['env beats file', {}, { REGCTL_SERVE_PORT: '6000' }, 6000, 'env'],
    ['flag beats env and file', { port: '5555' }, { REGCTL_SERVE_PORT: '6000' }, 5555, 'flag'],
    ['flag as number', { port: 4444 }, {}, 4444, 'flag'],
    ['empty env is unset', {}, { REGCTL_SERVE_PORT: '' }, 7000, 'file'],
  ])('%s', (_name, flags, env, port, source) => {
    const r = resolveServeSettings({ flags, env, file });
    expect(r.settings.port).toBe(port);
    expect(r.sources.port).toBe(source);
    // Other settings still come from the file, relative paths resolved against its directory.
    expect(r.settings.address).toBe('0.0.0.0');
    expect(r.settings.htpasswd).toBe('/etc/regctl/users.htpasswd');
    expect(r.settings.readOnly).toBe(true);
    expect(r.settings.gcIntervalMs).toBe(6 * 3_600_000);
  });

  it('every setting has a REGCTL_SERVE_ variable that works', () => {
    const env: Record<string, string> = {
      REGCTL_SERVE_PORT: '1',
      REGCTL_SERVE_ADDRESS: '::',
      REGCTL_SERVE_ROOT: '/srv/reg',
      REGCTL_SERVE_HTPASSWD: '/h',
      REGCTL_SERVE_ACCESS: '/a.yaml',
      REGCTL_SERVE_TLS_CERT: '/c.pem',
      REGCTL_SERVE_TLS_KEY: '/k.pem',
      REGCTL_SERVE_READ_ONLY: 'yes',
      REGCTL_SERVE_NO_DELETE: '1',
      REGCTL_SERVE_LOG_FORMAT: 'json',
      REGCTL_SERVE_REALM: 'lab',
      REGCTL_SERVE_GC_INTERVAL: '1h30m',
      REGCTL_SERVE_GC_GRACE: '90',
      REGCTL_SERVE_RETENTION: '/r.yaml',
      REGCTL_SERVE_UPLOAD_TTL: '2d',
      REGCTL_SERVE_MAX_UPLOADS_PER_REPOSITORY: '5',
      REGCTL_SERVE_MAX_UPLOADS_PER_CLIENT: '4',
      REGCTL_SERVE_MAX_UPLOADS: '50',
      REGCTL_SERVE_MAX_MANIFEST_SIZE: '8MiB',
      REGCTL_SERVE_MAX_TAGS_PER_REPOSITORY: '300',
      REGCTL_SERVE_MAX_HEADER_SIZE: '32k',
      REGCTL_SERVE_MAX_URL_LENGTH: '4096',
      REGCTL_SERVE_IDLE_TIMEOUT: '2m',
      REGCTL_SERVE_HEADERS_TIMEOUT: '500ms',
      REGCTL_SERVE_MAX_CONNECTIONS: '20',
      REGCTL_SERVE_LOGIN_ATTEMPTS_PER_MINUTE: '3',
      REGCTL_SERVE_METRICS: 'off',
      REGCTL_SERVE_UI: 'off',
      REGCTL_SERVE_MIRROR: 'docker.io=https://registry-1.docker.io, ghcr.io=https://ghcr.io',
      REGCTL_SERVE_MIRROR_DEFAULT: 'docker.io',
      REGCTL_SERVE_MIRROR_TAG_TTL: '30s',
      REGCTL_SERVE_MIRROR_MAX_SIZE: '50GiB',
      REGCTL_SERVE_MIRROR_AUTH: '/m.json',
    };
    expect(SERVE_SETTINGS.map((s) => s.env).sort()).toEqual(Object.keys(env).sort());
    const { settings, sources } = resolveServeSettings({ env });
    expect(settings).toEqual({
      port: 1,
      address: '::',
      root: '/srv/reg',
      htpasswd: '/h',
      access: '/a.yaml',
      tlsCert: '/c.pem',
      tlsKey: '/k.pem',
      readOnly: true,
      noDelete: true,
      logFormat: 'json',
      realm: 'lab',
      gcIntervalMs: 5_400_000,
      gcGraceMs: 90_000,
      retention: '/r.yaml',
      uploadTtlMs: 172_800_000,
      maxUploadsPerRepository: 5,
      maxUploadsPerClient: 4,
      maxUploads: 50,
      maxManifestBytes: 8 * 1024 * 1024,
      maxTagsPerRepository: 300,
      maxHeaderBytes: 32 * 1024,
      maxUrlLength: 4096,
      idleTimeoutMs: 120_000,
      headersTimeoutMs: 500,
      maxConnections: 20,
      loginAttemptsPerMinute: 3,
      metrics: false,
      ui: false,
      mirror: ['docker.io=https://registry-1.docker.io', 'ghcr.io=https://ghcr.io'],
      mirrorDefault: 'docker.io',
      mirrorTagTtlMs: 30_000,
      mirrorMaxSize: 50 * 1024 ** 3,
      mirrorAuth: '/m.json',
    });
    expect(new Set(Object.values(sources))).toEqual(new Set(['env']));
  });

  it.each([
    [{ flags: { port: '70000' } }, 'invalid --port "70000": expected a port number 0-65535'],
    [{ flags: { port: 'abc' } }, 'invalid --port "abc"'],
    [{ env: { REGCTL_SERVE_READ_ONLY: 'maybe' } }, 'invalid REGCTL_SERVE_READ_ONLY "maybe": expected true or false'],
    [{ env: { REGCTL_SERVE_GC_GRACE: '1 hour' } }, 'invalid REGCTL_SERVE_GC_GRACE "1 hour": expected a duration like 30s, 5m, 1h'],
    [{ env: { REGCTL_SERVE_MAX_MANIFEST_SIZE: '4 potatoes' } }, 'invalid REGCTL_SERVE_MAX_MANIFEST_SIZE "4 potatoes"'],
    [{ env: { REGCTL_SERVE_MAX_UPLOADS: '0' } }, 'invalid REGCTL_SERVE_MAX_UPLOADS "0": expected a whole number of at least 1'],
    [{ flags: { logFormat: 'xml' } }, 'invalid --log-format "xml": expected text or json'],
    [{ file: { path: '/c.yaml', data: { port: 'x' } } }, 'invalid /c.yaml: port "x"'],
    [{ file: { path: '/c.yaml', data: { prot: 1 } } }, 'config file /c.yaml: unknown setting "prot"'],
    [{ file: { path: '/c.yaml', data: { 'tls-cert': '/a', tlsCert: '/b' } } }, 'setting "tls-cert" given twice'],
    [{ file: { path: '/c.yaml', data: [1] } }, 'config file /c.yaml: expected a map of settings'],
    [{ flags: { tlsCert: '/c.pem' } }, '--tls-cert needs --tls-key'],
    [{ env: { REGCTL_SERVE_TLS_KEY: '/k.pem' } }, '--tls-key needs --tls-cert'],
    [{ flags: { access: '/a.yaml' } }, '--access needs --htpasswd'],
    [{ flags: { root: '' } }, 'invalid --root "": expected a file or directory path'],
  ])('rejects %j in one line', (input, msg) => {
    let err: unknown;
    try {
      resolveServeSettings(input as Parameters<typeof resolveServeSettings>[0]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('config files', () => {
  it('reads YAML (kebab or camel keys) and JSON, through --config or REGCTL_SERVE_CONFIG', async () => {
    await writeFile(join(dir, 'serve.yaml'), '# regctl serve\nport: 6001\ntls-cert: certs/c.pem\ntlsKey: certs/k.pem\nmax-manifest-size: 1MiB\n');
    await writeFile(join(dir, 'serve.json'), JSON.stringify({ port: 6002, 'read-only': 'true' }));
    const y = await resolveServeConfig({ flags: { config: join(dir, 'serve.yaml') }, env: {} });
    expect(y.settings).toMatchObject({ port: 6001, tlsCert: join(dir, 'certs/c.pem'), tlsKey: join(dir, 'certs/k.pem'), maxManifestBytes: 1 << 20 });
    const j = await resolveServeConfig({ env: { REGCTL_SERVE_CONFIG: join(dir, 'serve.json') } });
    expect(j.settings).toMatchObject({ port: 6002, readOnly: true });
    const both = await resolveServeConfig({ flags: { config: join(dir, 'serve.yaml'), port: 1 }, env: { REGCTL_SERVE_CONFIG: join(dir, 'serve.json') } });
    expect(both.settings.port).toBe(1);
    expect(both.settings.tlsCert).toBe(join(dir, 'certs/c.pem'));
  });

  it('empty YAML file means no settings', async () => {
    await writeFile(join(dir, 'empty.yaml'), '');
    expect((await resolveServeConfig({ flags: { config: join(dir, 'empty.yaml') } })).settings.port).toBe(5000);
  });

  it('unreadable and unparsable files are one-line usage errors', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'port: [\n');
    await writeFile(join(dir, 'bad.json'), '{port: 1}');
    await writeFile(join(dir, 'dup.yaml'), 'port: 1\nport: 2\n');
    for (const [f, msg] of [
      ['bad.yaml', 'cannot parse'],
      ['bad.json', 'cannot parse'],
      ['dup.yaml', 'cannot parse'],
      ['missing.yaml', 'cannot read config file'],
    ] as const) {
      const err = await loadServeConfigFile(join(dir, f)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(msg);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});
