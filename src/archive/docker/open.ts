import type { Location } from '../../content/location.js';
import type { OpenOptions } from '../../content/open.js';
import { UsageError } from '../../errors.js';
import type { ArchiveSource, ArchiveTarget } from '../open.js';
import type { ArchiveIo } from '../oci-archive.js';

type DockerLocation = Extract<Location, { kind: 'docker-archive' }>;

export async function openDockerSource(_loc: DockerLocation, _opts: OpenOptions, _io: ArchiveIo): Promise<ArchiveSource> {
  throw new UsageError('docker-archive: not implemented yet');
}

export async function openDockerTarget(_loc: DockerLocation, _opts: OpenOptions, _io: ArchiveIo): Promise<ArchiveTarget> {
  throw new UsageError('docker-archive: not implemented yet');
}
