import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { RegctlError } from '../../errors.js';

/**
 * `--tls-cert FILE --tls-key FILE`: read and check the pair before the server starts, so a
 * wrong file is a one-line error instead of a failed handshake later. Options pin TLS 1.2+.
 * For certificate renewal without a restart, call loadTls again and pass `options` to
 * https.Server#setSecureContext.
 */

export class TlsConfigError extends RegctlError {
  constructor(message: string) {
    super('TLS_INVALID', message, { exitCode: 2 });
  }
}

export interface TlsInfo {
  subject: string;
  /** DNS names and IP addresses the certificate is valid for (what clients must connect to). */
  names: string[];
  validTo: Date;
  selfSigned: boolean;
}

export interface LoadedTls {
  /** For https.createServer (merge with httpServerOptions). */
  options: SecureContextOptions & { minVersion: 'TLSv1.2' };
  info: TlsInfo;
  /** Things worth telling the operator (expiry soon, key readable by others). */
  warnings: string[];
}

export async function loadTls(certPath: string, keyPath: string, now: Date = new Date()): Promise<LoadedTls> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path);
    } catch (e) {
      throw new TlsConfigError(`cannot read TLS ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const cert = await read(certPath, 'certificate');
  const key = await read(keyPath, 'key');

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsConfigError(`TLS certificate ${certPath} is not a PEM certificate`);
  }
  try {
    createPrivateKey(key);
  } catch {
    // The message of a failed key parse can quote key material: never pass it on.
    throw new TlsConfigError(`TLS key ${keyPath} is not a PEM private key (or is encrypted)`);
  }
  const options = { cert, key, minVersion: 'TLSv1.2' as const };
  try {
    createSecureContext(options);
  } catch {
    throw new TlsConfigError(`TLS key ${keyPath} does not match certificate ${certPath}`);
  }

  const validTo = new Date(x509.validTo);
  if (validTo.getTime() < now.getTime()) throw new TlsConfigError(`TLS certificate ${certPath} expired on ${validTo.toISOString()}`);
  const warnings: string[] = [];
  if (validTo.getTime() - now.getTime() < 14 * 86_400_000) warnings.push(`TLS certificate ${certPath} expires on ${validTo.toISOString()}`);
  const mode = (await stat(keyPath)).mode;
  if (mode & 0o077) warnings.push(`TLS key ${keyPath} is readable by other users (chmod 600 it)`);
  const names = (x509.subjectAltName ?? '')
    .split(', ')
    .flatMap((n) => (n.startsWith('DNS:') ? [n.slice(4)] : n.startsWith('IP Address:') ? [n.slice(11)] : []));
  return {
    options,
    info: { subject: x509.subject.replace(/\n/g, ', '), names, validTo, selfSigned: x509.checkIssued(x509) },
    warnings,
  };
}
