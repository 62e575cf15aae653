import { existsSync } from 'node:fs';
import type { Location } from '../content/location.js';
import type { ImageTarget } from '../content/types.js';
import type { SyncOpener } from '../sync/run.js';
import type { ResponseInfo } from '../sync/ratelimit.js';
import { openSource, openTarget } from './open-location.js';
import { createRegistryClient, type OpenOptions as RegistryOpenOptions } from './registry-client.js';

const noop = async (): Promise<void> => {};

/**
 * The backends of one `regctl sync` run: one registry client for every repository (tokens and
 * connections shared; every response shown to `onResponse` for rate limits), OCI layouts by path.
 */
export function syncOpener(opts: { registry?: RegistryOpenOptions; onResponse: (res: ResponseInfo) => void }): SyncOpener {
  const registry = opts.registry ?? {};
  const client = createRegistryClient({ ...registry, client: { ...registry.client, onResponse: opts.onResponse } });
  return {
    async source(loc: Location) {
      if (loc.kind === 'registry') return { source: client.repository(loc.ref.registry, loc.ref.repository), close: noop };
      return openSource(loc);
    },
    async target(loc: Location, o: { dryRun: boolean }) {
      if (loc.kind === 'registry') return { target: client.repository(loc.ref.registry, loc.ref.repository), close: noop };
      // A dry run creates nothing: a layout that is not there yet holds nothing.
      if (o.dryRun && loc.kind === 'oci' && !existsSync(loc.path)) return { target: emptyTarget(`oci:${loc.path}`), close: noop };
      return openTarget(loc);
    },
    catalog: (host: string) => client.catalog(host),
    retagRepository: (loc: Location) => (loc.kind === 'registry' ? client.repository(loc.ref.registry, loc.ref.repository) : undefined),
  };
}

/** A target that holds nothing and refuses writes (dry runs only write nothing anyway). */
function emptyTarget(description: string): ImageTarget {
  const refuse = async (): Promise<never> => {
    throw new Error(`${description}: a dry run writes nothing`);
  };
  return { description, headManifest: async () => undefined, hasBlob: async () => false, putBlob: refuse, putManifest: refuse };
}

/** One repository whose every response is shown to `onResponse` (regctl ratelimit). */
export function observedRepository(opts: { registry?: RegistryOpenOptions; onResponse: (res: ResponseInfo) => void }, registry: string, repository: string) {
  const r = opts.registry ?? {};
  return createRegistryClient({ ...r, client: { ...r.client, onResponse: opts.onResponse } }).repository(registry, repository);
}
