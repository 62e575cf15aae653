import { stat } from 'node:fs/promises';
import type { Location } from '../content/location.js';
import { DirFiles } from './files.js';
import { LayoutReader } from './layout.js';
import { LayoutWriter } from './layout-writer.js';
import { NotFoundError } from '../errors.js';
import { OciArchiveWriter, openOciArchiveReader } from './oci-archive.js';
import type { ArchiveOpenOptions as OpenOptions, ArchiveSource, ArchiveTarget } from './types.js';

type LayoutLocation = Extract<Location, { kind: 'oci' | 'oci-archive' }>;
type DockerLocation = Extract<Location, { kind: 'docker-archive' }>;

function io(opts: OpenOptions): { stdin?: NodeJS.ReadableStream; stdout?: NodeJS.WritableStream; tmpDir?: string } {
  return {
    stdin: opts.stdin as NodeJS.ReadableStream | undefined,
    stdout: opts.stdout as NodeJS.WritableStream | undefined,
    tmpDir: opts.tmpDir,
  };
}

export async function openLayoutSource(loc: LayoutLocation, opts: OpenOptions): Promise<ArchiveSource> {
  if (loc.kind === 'oci') {
    const s = await stat(loc.path).catch(() => undefined);
    if (!s) throw new NotFoundError(`OCI layout ${loc.path} not found`, 'LAYOUT_NOT_FOUND');
    const reader = new LayoutReader(new DirFiles(loc.path, `oci:${loc.path}`), `oci:${loc.path}`);
    await reader.checkLayout();
    return { source: reader, ref: loc.digest ?? loc.tag ?? (await reader.defaultRef()), close: async () => {} };
  }
  const { reader, close } = await openOciArchiveReader(loc.path, io(opts));
  try {
    return { source: reader, ref: loc.digest ?? loc.tag ?? (await reader.defaultRef()), close };
  } catch (e) {
    await close();
    throw e;
  }
}

export async function openLayoutTarget(loc: LayoutLocation, opts: OpenOptions): Promise<ArchiveTarget> {
  const ref = loc.digest ?? loc.tag;
  if (loc.kind === 'oci') {
    return { target: await LayoutWriter.create(loc.path, `oci:${loc.path}`), ref, close: async () => {} };
  }
  const { writer, close } = await OciArchiveWriter.createArchive(loc.path, io(opts));
  return { target: writer, ref, close };
}

export async function openDockerArchiveSource(loc: DockerLocation, opts: OpenOptions): Promise<ArchiveSource> {
  const { openDockerSource } = await import('./docker/open-docker-archive.js');
  return openDockerSource(loc, opts, io(opts));
}

export async function openDockerArchiveTarget(loc: DockerLocation, opts: OpenOptions): Promise<ArchiveTarget> {
  const { openDockerTarget } = await import('./docker/open-docker-archive.js');
  return openDockerTarget(loc, opts, io(opts));
}
