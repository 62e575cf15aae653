import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTls, TlsConfigError } from '../../src/server/security/tls.js';
import { requireTool } from '../helpers/tools.js';

describe('TLS with a CA and certificate made by openssl', () => {
  let dir: string;
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync(requireTool('openssl', 'openssl'), args, { cwd: dir, stdio: 'pipe' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regctl-tls-'));
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=regctl test CA');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    await writeFile(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.csr', '-subj', '/CN=other');
    await chmod(f('server.key'), 0o600);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the pair, reports names and expiry, and a client trusting the CA connects with TLS 1.2+ only', async () => {
    const tls = await loadTls(f('server.pem'), f('server.key'));
    expect(tls.info.names).toEqual(['localhost', '127.0.0.1']);
    expect(tls.info.selfSigned).toBe(false);
    expect(tls.info.subject).toBe('CN=localhost');
    expect(tls.warnings).toEqual([`TLS certificate ${f('server.pem')} expires on ${tls.info.validTo.toISOString()}`]);
    const server = createServer(tls.options, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const ca = await readFile(f('ca.pem'));
      const proto = await new Promise<string | null>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
          resolve(s.getProtocol());
          s.end();
        });
        s.on('error', reject);
      });
      expect(proto === 'TLSv1.3' || proto === 'TLSv1.2').toBe(true);
      // A client limited to TLS 1.1 is refused.
      const old = await new Promise<string>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve('connected'));
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(old).not.toBe('connected');
      // Without the CA, verification fails.
      const untrusted = await new Promise<string>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, servername: 'localhost' }, () => resolve('connected'));
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(untrusted).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('warns about a key others can read', async () => {
    await chmod(f('server.key'), 0o644);
    try {
      const tls = await loadTls(f('server.pem'), f('server.key'));
      expect(tls.warnings).toContain(`TLS key ${f('server.key')} is readable by other users (chmod 600 it)`);
    } finally {
      await chmod(f('server.key'), 0o600);
    }
  });

  it.each([
    ['server.pem', 'other.key', 'does not match certificate'],
    ['server.pem', 'missing.key', 'cannot read TLS key'],
    ['missing.pem', 'server.key', 'cannot read TLS certificate'],
    ['server.key', 'server.key', 'is not a PEM certificate'],
    ['server.pem', 'server.pem', 'is not a PEM private key'],
  ])('cert %s with key %s: one-line error without key material', async (cert, key, msg) => {
    const err = await loadTls(f(cert), f(key)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TlsConfigError);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message).not.toContain('PRIVATE KEY');
  });

  it('refuses an expired certificate', async () => {
    const err = await loadTls(f('server.pem'), f('server.key'), new Date(Date.now() + 10 * 86_400_000)).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/expired on \d{4}-/);
  });
});
