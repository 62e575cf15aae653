import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './tools.js';

const run = promisify(execFile);

/**
 * A test CA and a server certificate it signed, made by openssl in `dir`: ca.crt, ca.key,
 * server.crt, server.key (mode 0600). `names` go into the subjectAltName (127.0.0.1 always).
 */
export async function makeTestCerts(dir: string, options: { caName: string; serverName: string; dnsNames: string[] }): Promise<{ ca: string; cert: string; key: string }> {
  const openssl = (...args: string[]) => run(requireTool('openssl', 'openssl'), args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${options.caName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  await openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${options.serverName}`);
  const san = [...options.dnsNames.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  await writeFile(join(dir, 'ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  await chmod(join(dir, 'server.key'), 0o600);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}
