import type { Location } from '../../content/location.js';
import { makeTempDir, removeDir } from '../temp-files.js';
import { indexTar, type ArchiveIo } from '../input.js';
import type { ArchiveOpenOptions as OpenOptions, ArchiveSource, ArchiveTarget } from '../types.js';
import { tagOf } from './format.js';
import { loadSavedImage } from './image.js';
import { DockerArchiveSource } from './source.js';
import { DockerArchiveWriter } from './writer.js';

type DockerLocation = Extract<Location, { kind: 'docker-archive' }>;

export async function openDockerSource(loc: DockerLocation, opts: OpenOptions, io: ArchiveIo): Promise<ArchiveSource & { source: DockerArchiveSource }> {
  const cleanup: string[] = [];
  let source: DockerArchiveSource | undefined;
  const close = async (): Promise<void> => {
    await source?.close();
    for (const d of cleanup.splice(0)) await removeDir(d);
  };
  try {
    const index = await indexTar(loc.path, io, cleanup);
    const image = await loadSavedImage(index, loc.name, loc.tag);
    const ref = loc.tag ?? (image.repoTags[0] !== undefined ? tagOf(image.repoTags[0]) : 'latest');
    source = new DockerArchiveSource(index, image, ref, {
      compress: opts.compress ?? true,
      tmpDir: opts.tmpDir,
      description: `docker-archive:${loc.path === '-' ? 'stdin' : loc.path}`,
    });
    return { source, ref, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export async function openDockerTarget(loc: DockerLocation, opts: OpenOptions, io: ArchiveIo): Promise<ArchiveTarget> {
  const spoolDir = await makeTempDir(io.tmpDir);
  const target = new DockerArchiveWriter({
    path: loc.path,
    stdout: io.stdout,
    spoolDir,
    name: loc.name ?? opts.defaultName,
    tag: loc.tag,
    platform: opts.platform,
    description: `docker-archive:${loc.path === '-' ? 'stdout' : loc.path}`,
  });
  return { target, ref: loc.tag, close: () => removeDir(spoolDir) };
}
