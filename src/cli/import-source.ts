import type { OpenedSource, OpenOptions } from '../wiring/open-location.js';

/**
 * What `regctl import FILE` reads: FILE's kind is guessed from what it is (a directory is an OCI
 * layout, anything else a docker save tar) unless a prefix names it.
 */

/** `app.tar` -> docker-archive:app.tar, `./dir[:tag]` (a directory) -> oci:./dir[:tag]. */
async function importLocation(file: string): Promise<string> {
  const { isArchiveLocation } = await import('../content/location.js');
  if (isArchiveLocation(file)) return file;
  if (file === '-') return 'docker-archive:-';
  const { stat } = await import('node:fs/promises');
  const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
  if (await isDir(file)) return `oci:${file}`;
  const colon = file.lastIndexOf(':');
  if (colon > 0 && (await isDir(file.slice(0, colon)))) return `oci:${file}`;
  return `docker-archive:${file}`;
}

/** FILE opened for import; a tar guessed to be a docker save archive that is an OCI layout is read as one. */
export async function openImportSource(file: string, opts: OpenOptions): Promise<OpenedSource> {
  const { openSource } = await import('../wiring/open-location.js');
  const { OciLayoutArchiveError } = await import('../archive/docker/image.js');
  try {
    return await openSource(await importLocation(file), opts);
  } catch (e) {
    if (!(e instanceof OciLayoutArchiveError) || file.startsWith('docker-archive:')) throw e;
    return openSource(`oci-archive:${file}`, opts);
  }
}
