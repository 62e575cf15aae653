import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
// The Agent module alone (see http.ts for why not the package index).
import Agent from 'undici/lib/dispatcher/agent.js';
import { UsageError } from '../errors.js';
import type { HostSettings } from './types.js';

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
    // node:tls is loaded here, not at start-up: plain-HTTP commands never need it.
    tls.ca = [...process.getBuiltinModule('node:tls').rootCertificates, pem];
  }
  if (settings.skipVerify) tls.rejectUnauthorized = false;
  return new Agent({ connections: 8, connect: tls });
}
