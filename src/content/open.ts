import type { Readable, Writable } from 'node:stream';
import { manifestRef } from '../ref/reference.js';
import type { Platform } from '../oci/manifest.js';
import type { OpenOptions as RegistryOpenOptions } from '../registry/open.js';
import type { ImageSource, ImageTarget } from './types.js';
import { formatLocation, parseLocation, type Location } from './location.js';

/**
 * Open any location string (see location.ts) as an ImageSource or ImageTarget.
 *
 *   const src = await openSource('docker-archive:app.tar', { stdin });
 *   const dst = await openTarget('localhost:5000/app:1.0', { registry: clientOptions });
 *   try { ...copy src.source/src.ref -> dst.target/(dst.ref ?? src.ref)...; await dst.target.commit?.() }
 *   catch (e) { await dst.target.abort?.(); throw e }
 *   finally { await src.close(); await dst.close() }
 *
 * Archives and layouts are loaded lazily (start-up time), the registry client likewise.
 */
export interface OpenOptions {
  /** Passed untouched to createRegistryClient() for registry locations (verbose log, env, client options). */
  registry?: RegistryOpenOptions;
  /** Standard input for `docker-archive:-` / `oci-archive:-` sources. */
  stdin?: NodeJS.ReadableStream | Readable;
  /** Standard output for `docker-archive:-` / `oci-archive:-` targets. */
  stdout?: NodeJS.WritableStream | Writable;
  /** Parent directory for spooled temporary files (default os.tmpdir()). */
  tmpDir?: string;
  /**
   * docker-archive sources: present layers gzipped (default true; the `--no-compress` flag sets
   * false). Layers are compressed once into a temporary directory; diff_ids are unchanged.
   */
  compress?: boolean;
  /** docker-archive targets: which image of a multi-platform index to write. */
  platform?: Platform;
  /**
   * docker-archive targets: image name for manifest.json RepoTags when the location names none
   * (e.g. the source repository `localhost:5000/app`). Without either, RepoTags stays empty.
   */
  defaultName?: string;
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
  const { createRegistryClient } = await import('../registry/open.js');
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
      const { openLayoutSource } = await import('../archive/open.js');
      return { location, description, ...(await openLayoutSource(location, opts)) };
    }
    case 'docker-archive': {
      const { openDockerArchiveSource } = await import('../archive/open.js');
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
      const { openLayoutTarget } = await import('../archive/open.js');
      return { location, description, ...(await openLayoutTarget(location, opts)) };
    }
    case 'docker-archive': {
      const { openDockerArchiveTarget } = await import('../archive/open.js');
      return { location, description, ...(await openDockerArchiveTarget(location, opts)) };
    }
  }
}
