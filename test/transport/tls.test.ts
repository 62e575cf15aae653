import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttps, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { requireTool } from '../helpers/tools.js';
import { json, scripted, type Scripted } from './scripted.js';

/**
 * HTTPS cases need a non-loopback registry name (loopback names always get plain HTTP), so
 * `registry.test` is resolved to 127.0.0.1 by a socket `lookup` hook: nothing leaves the machine.
 */
const lookup = ((_host: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) => {
  if (options?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

describe('TLS (openssl generates a CA-less self-signed certificate)', () => {
  let dir: string;
  let https: HttpsServer;
  let port: number;
  let plain: Scripted;
  let redirectTarget = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regctl-tls-'));
    execFileSync(requireTool('openssl', 'openssl'), [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=registry.test', '-addext', 'subjectAltName=DNS:registry.test',
    ], { stdio: 'ignore' });
    https = createHttps({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      if (req.url!.startsWith('/v2/app/blobs/')) {
        res.writeHead(302, { location: redirectTarget });
        return res.end();
      }
      json(res, 200, { repositories: ['secure'] });
    });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    port = (https.address() as AddressInfo).port;
    plain = await scripted((_req, res) => json(res, 200, {}));
    redirectTarget = `http://127.0.0.1:${plain.port}/blob`;
  });
  afterAll(async () => {
    https?.closeAllConnections();
    await new Promise((r) => https?.close(r));
    await plain?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an untrusted certificate fails with a hint; --ca-file makes it work; skip-verify too', async () => {
    const registry = `registry.test:${port}`;
    const untrusted = new RegistryClient({ dispatcher: new Agent({ connect: { lookup } }), retry: { retries: 0 } });
    await expect(untrusted.catalog(registry)).rejects.toThrow(/TLS certificate not trusted .*--ca-file/);
    const withCa = new RegistryClient({ settings: () => ({ caFile: join(dir, 'cert.pem') }), connect: { lookup } });
    expect(await withCa.catalog(registry)).toEqual(['secure']);
    const skip = new RegistryClient({ settings: () => ({ skipVerify: true }), connect: { lookup } });
    expect(await skip.catalog(registry)).toEqual(['secure']);
  });

  it('refuses a redirect from HTTPS to HTTP', async () => {
    const client = new RegistryClient({ settings: () => ({ caFile: join(dir, 'cert.pem') }), connect: { lookup } });
    const digest = `sha256:${'a'.repeat(64)}`;
    const err = await client.repository(`registry.test:${port}`, 'app').getBlob({ mediaType: 'x', digest, size: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/refusing redirect from HTTPS to HTTP/);
    expect(plain.seen).toHaveLength(0);
  });

  it('an HTTPS request answered in plain HTTP says how to mark the host insecure', async () => {
    const client = new RegistryClient({ dispatcher: new Agent({ connect: { lookup } }), retry: { retries: 0 } });
    const registry = `plain.test:${plain.port}`;
    const err = await client.ping(registry).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `${registry}: server gave HTTP response to HTTPS client; if this registry serves plain HTTP, use http://${registry} or run: regctl config set ${registry} --insecure`,
    );
    const insecure = new RegistryClient({ dispatcher: new Agent({ connect: { lookup } }), settings: () => ({ insecure: true }) });
    await insecure.ping(registry);
  });
});

describe('dispatcher option', () => {
  it('routes every request through the given dispatcher (undici MockAgent)', async () => {
    const mock = new MockAgent();
    mock.disableNetConnect();
    mock
      .get('https://registry.example')
      .intercept({ path: '/v2/_catalog?n=2', method: 'GET' })
      .reply(200, { repositories: ['a', 'b'] }, { headers: { link: '</v2/_catalog?n=2&last=b>; rel="next"', 'content-type': 'application/json' } });
    mock
      .get('https://registry.example')
      .intercept({ path: '/v2/_catalog?n=2&last=b', method: 'GET' })
      .reply(200, { repositories: ['c'] }, { headers: { 'content-type': 'application/json' } });
    const client = new RegistryClient({ dispatcher: mock });
    expect(await client.catalog('registry.example', { pageSize: 2 })).toEqual(['a', 'b', 'c']);
    mock.assertNoPendingInterceptors();
    await mock.close();
  });
});
