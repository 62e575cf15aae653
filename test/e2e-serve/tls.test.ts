import { execFile, spawn } from 'node:child_process';
import dns from 'node:dns';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { clientHints } from '../../src/server/runtime.js';
import { runCli } from '../helpers/cli.js';
import { makeImage } from '../helpers/images.js';
import { makeTestCerts } from '../helpers/certs.js';
import { requireTool } from '../helpers/tools.js';
import { ensureBuilt } from '../server/spawn.js';
import { basic, PASSWORDS, secretForms, startSecureServe, writeUsers, type SecureServe } from './harness.js';

/**
 * `--tls-cert/--tls-key` with a CA and a server certificate made here by openssl, for
 * registry.test, localhost and 127.0.0.1. skopeo verifies it with --dest-cert-dir/--src-cert-dir,
 * regctl with `config set HOST --ca-file`. regctl treats loopback hosts as plain HTTP, so it
 * talks to registry.test, which this process resolves to 127.0.0.1 (nothing leaves the machine).
 */

const run = promisify(execFile);

let dir: string;
let certs: string;
let s: SecureServe;
let port: number;
const originalLookup = dns.lookup;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-tls-'));
  await makeTestCerts(dir, { caName: 'regctl test CA', serverName: 'registry.test', dnsNames: ['registry.test', 'localhost'] });
  certs = join(dir, 'certs.d');
  await mkdir(certs);
  await writeFile(join(certs, 'ca.crt'), await readFile(join(dir, 'ca.crt')));
  const users = await writeUsers(dir);
  s = await startSecureServe({ tlsCert: join(dir, 'server.crt'), tlsKey: join(dir, 'server.key'), htpasswd: users.htpasswd, loginAttemptsPerMinute: 100 });
  port = Number(new URL(s.url).port);
  // registry.test -> 127.0.0.1 for every connection this process makes.
  (dns as { lookup: unknown }).lookup = ((host: string, options: unknown, cb?: unknown) => {
    const callback = (typeof options === 'function' ? options : cb) as (...a: unknown[]) => void;
    const opts = (typeof options === 'object' && options !== null ? options : {}) as { all?: boolean };
    if (host === 'registry.test') return opts.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
    return (originalLookup as (...a: unknown[]) => void)(host, options, cb);
  }) as typeof dns.lookup;
});

afterAll(async () => {
  (dns as { lookup: unknown }).lookup = originalLookup;
  await s?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function get(path: string, options: { ca?: Buffer; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; auth?: string } = {}): Promise<{ status: number; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        servername: 'registry.test',
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion, minVersion: 'TLSv1' as const } : {}),
        headers: options.auth ? { authorization: options.auth } : {},
      },
      (res) => {
        const protocol = (res.socket as import('node:tls').TLSSocket).getProtocol?.() ?? '';
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol: protocol ?? '' }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('regctl serve --tls-cert/--tls-key', () => {
  it('serves HTTPS with the certificate; TLS 1.2 and 1.3 only; untrusted clients are refused', async () => {
    expect(s.url).toBe(`https://127.0.0.1:${port}`);
    const ca = await readFile(join(dir, 'ca.crt'));
    const ok = await get('/v2/', { ca, auth: basic('reader', PASSWORDS.reader) });
    expect(ok).toEqual({ status: 200, protocol: 'TLSv1.3' });
    expect((await get('/v2/', { ca, maxVersion: 'TLSv1.2', auth: basic('reader', PASSWORDS.reader) })).protocol).toBe('TLSv1.2');
    expect((await get('/v2/', { ca })).status).toBe(401);
    const old = await get('/v2/', { ca, maxVersion: 'TLSv1.1' }).catch((e: Error) => e);
    expect(old).toBeInstanceOf(Error);
    const untrusted = await get('/v2/').catch((e: NodeJS.ErrnoException) => e.code);
    expect(untrusted).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect((await get('/healthz', { ca })).status).toBe(200);
  });

  it('regctl with `config set registry.test:PORT --ca-file`: login, copy, tags; refused without the CA', async () => {
    const env = { REGCTL_CONFIG_DIR: join(dir, 'regctl-config'), DOCKER_CONFIG: join(dir, 'no-docker') };
    const registry = `registry.test:${port}`;
    const untrusted = await runCli(['login', registry, '-u', 'writer', '--password-stdin'], { stdin: PASSWORDS.writer, env });
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate|verify/i);
    const set = await runCli(['config', 'set', registry, '--ca-file', join(dir, 'ca.crt')], { env });
    expect(set.code, set.stderr).toBe(0);
    const login = await runCli(['login', registry, '-u', 'writer', '--password-stdin'], { stdin: PASSWORDS.writer, env });
    expect(login.code, login.stderr).toBe(0);
    // Push a layout image through regctl copy, then read it back.
    const img = makeImage({ layers: [4096] });
    const layout = join(dir, 'layout');
    await writeLayout(layout, img);
    const push = await runCli(['copy', `oci:${layout}:v1`, `${registry}/tls/app:v1`], { env });
    expect(push.code, push.stderr).toBe(0);
    const digest = await runCli(['digest', `${registry}/tls/app:v1`], { env });
    expect(digest.stdout.trim()).toBe(img.manifest.digest);
    const tags = await runCli(['tags', `${registry}/tls/app`], { env });
    expect(tags.stdout).toBe('v1\n');
    for (const r of [untrusted, set, login, push, digest, tags]) for (const f of secretForms()) expect(r.stdout + r.stderr).not.toContain(f);
  });

  it('skopeo verifies it with --dest-cert-dir / --src-cert-dir (ca.crt), and refuses it without', async () => {
    const skopeo = requireTool('skopeo', 'skopeo');
    const img = makeImage({ layers: [2048] });
    const layout = join(dir, 'skopeo-layout');
    await writeLayout(layout, img);
    const target = `docker://127.0.0.1:${port}/tls/skopeo:v1`;
    await run(skopeo, ['--insecure-policy', 'copy', '--preserve-digests', '--dest-cert-dir', certs, '--dest-creds', `writer:${PASSWORDS.writer}`, `oci:${layout}:v1`, target]);
    const { stdout } = await run(skopeo, ['inspect', '--raw', '--cert-dir', certs, '--creds', `reader:${PASSWORDS.reader}`, target]);
    expect(digestOf(Buffer.from(stdout))).toBe(img.manifest.digest);
    const refused = await run(skopeo, ['inspect', '--raw', '--creds', `reader:${PASSWORDS.reader}`, target]).then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    expect(refused).toMatch(/certificate|x509/i);
  });

  it('start-up hints show the client side: --ca-file, certs.d; plain HTTP off loopback: insecure', async () => {
    await ensureBuilt();
    const cli = join(import.meta.dirname, '..', '..', 'bin', 'regctl.js');
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--root', join(dir, 'spawned'), '--tls-cert', join(dir, 'server.crt'), '--tls-key', join(dir, 'server.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no start-up: ${out}`)), 15_000);
        child.stdout.on('data', () => /\npush: /.test(out) && (clearTimeout(t), resolve()));
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const m = /listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(out)!;
      const reg = `127.0.0.1:${m[1]}`;
      expect(out).toContain('TLS: certificate for registry.test, localhost, 127.0.0.1, valid until');
      expect(out).toContain(`  regctl config set ${reg} --ca-file ca.crt\n`);
      expect(out).toContain(`/etc/docker/certs.d/${reg}/ca.crt`);
    } finally {
      child.kill('SIGTERM');
    }
    const lan = clientHints({ registry: '192.168.1.5:5000', loopback: false, users: true });
    expect(lan).toContain('  regctl config set 192.168.1.5:5000 --insecure');
    expect(lan.join('\n')).toContain('"insecure-registries": ["192.168.1.5:5000"]');
    expect(lan).toContain('warning: passwords cross the network in clear text without TLS');
    expect(clientHints({ registry: '127.0.0.1:5000', loopback: true, users: false })).toEqual([]);
  });
});

/** A one-image OCI layout (tag v1) for copy sources. */
async function writeLayout(path: string, img: ReturnType<typeof makeImage>): Promise<void> {
  await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(path, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const b of [img.config, ...img.layers]) await writeFile(join(path, 'blobs', 'sha256', b.desc.digest.slice(7)), b.bytes);
  await writeFile(join(path, 'blobs', 'sha256', img.manifest.digest.slice(7)), img.manifest.bytes);
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
  };
  await writeFile(join(path, 'index.json'), JSON.stringify(index));
}
