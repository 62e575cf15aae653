import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';
import { UsageError } from '../errors.js';
import type { HostSettings } from './types.js';

// The Agent module alone (see http.ts for why not the package index).
const Agent = createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof import('undici').Agent;

/**
 * A dispatcher for a host with its own TLS trust (extra CA file or verification off). Only
 * such hosts get a separate pool; everything else uses the given/global dispatcher.
 */
export function tlsDispatcher(registry: string, settings: HostSettings, connect: Record<string, unknown> = {}): Dispatcher {
  const tls: Record<string, unknown> = { ...connect };
  if (settings.caFile) {
    let pem: string;
    try {
      pem = readFileSync(settings.caFile, 'utf8');
    } catch (e) {
      throw new UsageError(`${registry}: cannot read CA file ${settings.caFile}: ${(e as Error).message}`);
    }
    // Node's `ca` replaces the default trust store: keep the system roots alongside the file.
    tls.ca = [...rootCertificates, pem];
  }
  if (settings.skipVerify) tls.rejectUnauthorized = false;
  return new Agent({ connections: 8, connect: tls });
}
