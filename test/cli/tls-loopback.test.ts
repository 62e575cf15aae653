import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { forgetSchemes, rememberScheme } from '../../src/ref/scheme.js';
import { Transport } from '../../src/transport/http.js';
import { runCli } from '../helpers/cli.js';
import { makeImage } from '../helpers/images.js';
import { makeTestCerts } from '../helpers/certs.js';
import { startSecureServe, type SecureServe } from '../e2e-serve/harness.js';

/**
 * `regctl serve --tls-cert` on 127.0.0.1 and regctl talking to it: an explicit https:// is
 * honoured, a loopback host with a CA file (or skip-verify) is HTTPS, and plain HTTP meeting
 * the TLS server says what to do instead of UND_ERR_SOCKET. Certificates made here by openssl.
 */

const run = promisify(execFile);
let dir: string;
let s: SecureServe;
let env: NodeJS.ProcessEnv;
const image = makeImage();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-tls-loopback-'));
  await makeTestCerts(dir, { caName: 'regctl loopback CA', serverName: '127.0.0.1', dnsNames: ['localhost'] });
  s = await startSecureServe({ tlsCert: join(dir, 'server.crt'), tlsKey: join(dir, 'server.key') });
  expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  // Seeded over HTTPS by undici directly, so the set-up does not depend on what is tested.
  const agent = new Agent({ connect: { ca: await readFile(join(dir, 'ca.crt')) } });
  for (const b of [image.config, ...image.layers]) {
    const r = await request(`${s.url}/v2/app/blobs/uploads/?digest=${b.desc.digest}`, { method: 'POST', body: b.bytes, dispatcher: agent });
    await r.body.dump();
    expect(r.statusCode).toBe(201);
  }
  const m = await request(`${s.url}/v2/app/manifests/v1`, { method: 'PUT', body: image.manifest.bytes, headers: { 'content-type': image.manifest.mediaType }, dispatcher: agent });
  await m.body.dump();
  expect(m.statusCode).toBe(201);
  await agent.close();
});

afterAll(async () => {
  await s?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TLS on a loopback registry', () => {
  it('plain HTTP to the TLS server: one line naming https:// and --ca-file, not UND_ERR_SOCKET', async () => {
    const r = await runCli(['catalog', s.registry], { env });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: ${s.registry}: the registry speaks HTTPS: use https://${s.registry} or regctl config set ${s.registry} --ca-file FILE\n`,
    });
  });

  it('https:// is honoured: without the CA, the certificate error (not a plain-HTTP one)', async () => {
    const untrusted = await runCli(['catalog', `https://${s.registry}`], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(new RegExp(`^error: ${s.registry}: TLS certificate not trusted \\(\\w+\\); trust its CA with: regctl config set ${s.registry} --ca-file FILE\\n$`));
  });

  it('config set HOST --ca-file on loopback means HTTPS with that CA, for every command', async () => {
    const set = await runCli(['config', 'set', s.registry, '--ca-file', join(dir, 'ca.crt')], { env });
    expect(set.code, set.stderr).toBe(0);
    expect(await runCli(['catalog', s.registry], { env })).toEqual({ code: 0, stdout: 'app\n', stderr: '' });
    expect(await runCli(['tags', `${s.registry}/app`], { env })).toEqual({ code: 0, stdout: 'v1\n', stderr: '' });
    expect(await runCli(['digest', `https://${s.registry}/app:v1`], { env })).toEqual({ code: 0, stdout: `${image.manifest.digest}\n`, stderr: '' });
    const copy = await runCli(['copy', '--progress', 'none', `${s.registry}/app:v1`, `${s.registry}/copy:v1`], { env });
    expect(copy.code, copy.stderr).toBe(0);
    expect((await runCli(['tags', `https://${s.registry}/copy`], { env })).stdout).toBe('v1\n');
    // http:// overrides the setting for that command: plain HTTP to a TLS server gets the hint again.
    expect((await runCli(['catalog', `http://${s.registry}`], { env })).stderr).toContain('the registry speaks HTTPS');
    expect((await runCli(['config', 'set', s.registry, '--reset'], { env })).code).toBe(0);
  });

  it('config set HOST --skip-verify on loopback means HTTPS without verification', async () => {
    const set = await runCli(['config', 'set', s.registry, '--skip-verify'], { env });
    expect(set.code).toBe(0);
    expect(await runCli(['catalog', s.registry], { env })).toEqual({ code: 0, stdout: 'app\ncopy\n', stderr: '' });
    expect((await runCli(['config', 'set', s.registry, '--reset'], { env })).code).toBe(0);
  });
});

describe('Transport scheme choice', () => {
  it('named scheme, then insecure, then loopback (HTTPS with TLS settings), else HTTPS', () => {
    const settings: Record<string, { insecure?: boolean; caFile?: string; skipVerify?: boolean }> = {
      'lan.example:5000': { insecure: true },
      '127.0.0.1:5443': { caFile: '/x.pem' },
      'localhost:5001': { skipVerify: true },
    };
    forgetSchemes();
    const t = new Transport({ settings: (r) => settings[r] });
    expect(t.baseUrl('lan.example:5000')).toBe('http://lan.example:5000');
    expect(t.baseUrl('127.0.0.1:5443')).toBe('https://127.0.0.1:5443');
    expect(t.baseUrl('localhost:5001')).toBe('https://localhost:5001');
    expect(t.baseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(t.baseUrl('registry.example')).toBe('https://registry.example');
    rememberScheme('registry.example', 'http');
    rememberScheme('127.0.0.1:5000', 'https');
    rememberScheme('127.0.0.1:5443', 'http');
    expect(t.baseUrl('registry.example')).toBe('http://registry.example');
    expect(t.baseUrl('127.0.0.1:5000')).toBe('https://127.0.0.1:5000');
    expect(t.baseUrl('127.0.0.1:5443')).toBe('http://127.0.0.1:5443');
    forgetSchemes();
  });
});
