import type { ArchiveOpenOptions } from '../archive/types.js';
import { formatLocation, parseLocation, type Location } from '../content/location.js';
import type { ImageSource, ImageTarget } from '../content/types.js';
import { manifestRef } from '../ref/reference.js';
import type { OpenOptions as RegistryOpenOptions } from './registry-client.js';

/**
 * Open any location string (see content/location.ts) as an ImageSource or ImageTarget.
 *
 *   const src = await openSource('docker-archive:app.tar', { stdin });
 *   const dst = await openTarget('localhost:5000/app:1.0', { registry: clientOptions });
 *   try { ...copy src.source/src.ref -> dst.target/(dst.ref ?? src.ref)...; await dst.target.commit?.() }
 *   catch (e) { await dst.target.abort?.(); throw e }
 *   finally { await src.close(); await dst.close() }
 *
 * Archives and layouts are loaded lazily (start-up time), the registry client likewise.
 */
export interface OpenOptions extends ArchiveOpenOptions {
  /** Passed untouched to createRegistryClient() for registry locations (verbose log, env, client options). */
  registry?: RegistryOpenOptions;
}

interface Opened {
  location: Location;
  /** The location as text, for messages (no credentials). */
  description: string;
  /** Remove temporary files; call it in `finally` (after commit/abort). Idempotent. */
  close(): Promise<void>;
}

export interface OpenedSource extends Opened {
  source: ImageSource;
  /** Tag or digest to read. Archives and layouts resolve it when the location names none. */
  ref: string;
}

export interface OpenedTarget extends Opened {
  target: ImageTarget;
  /** Tag or digest the location names; undefined when it names none (callers use the source's). */
  ref?: string;
}

async function openRepository(loc: Extract<Location, { kind: 'registry' }>, opts: OpenOptions): Promise<ImageSource & ImageTarget> {
  const { createRegistryClient } = await import('./registry-client.js');
  return createRegistryClient(opts.registry ?? {}).repository(loc.ref.registry, loc.ref.repository);
}

const noop = async (): Promise<void> => {};

export async function openSource(input: string | Location, opts: OpenOptions = {}): Promise<OpenedSource> {
  const location = typeof input === 'string' ? parseLocation(input) : input;
  const description = formatLocation(location);
  switch (location.kind) {
    case 'registry': {
      const source = await openRepository(location, opts);
      return { location, description, source, ref: manifestRef(location.ref), close: noop };
    }
    case 'oci':
    case 'oci-archive': {
      const { openLayoutSource } = await import('../archive/open-archive.js');
      return { location, description, ...(await openLayoutSource(location, opts)) };
    }
    case 'docker-archive': {
      const { openDockerArchiveSource } = await import('../archive/open-archive.js');
      return { location, description, ...(await openDockerArchiveSource(location, opts)) };
    }
  }
}

export async function openTarget(input: string | Location, opts: OpenOptions = {}): Promise<OpenedTarget> {
  const location = typeof input === 'string' ? parseLocation(input) : input;
  const description = formatLocation(location);
  switch (location.kind) {
    case 'registry': {
      const target = await openRepository(location, opts);
      return { location, description, target, ref: manifestRef(location.ref), close: noop };
    }
    case 'oci':
    case 'oci-archive': {
      const { openLayoutTarget } = await import('../archive/open-archive.js');
      return { location, description, ...(await openLayoutTarget(location, opts)) };
    }
    case 'docker-archive': {
      const { openDockerArchiveTarget } = await import('../archive/open-archive.js');
      return { location, description, ...(await openDockerArchiveTarget(location, opts)) };
    }
  }
}
