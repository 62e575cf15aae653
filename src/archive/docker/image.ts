import { DigestMismatchError, InvalidContentError, NotFoundError, UsageError } from '../../errors.js';
import { digestOf, isValidDigest } from '../../oci/digest.js';
import { readHead, type TarIndex } from '../tar-index.js';
import { digestFromPath, parseSaveManifest, repoTagMatches, sniffCompression, type Compression, type DockerSaveEntry } from './format.js';

/** A tar given as a docker-archive that holds an OCI layout instead (`regctl import` then reads it as one). */
export class OciLayoutArchiveError extends InvalidContentError {
  constructor(message: string) {
    super(message, 'ARCHIVE_FORMAT');
  }
}

export interface SavedLayer {
  /** Path inside the archive. */
  path: string;
  size: number;
  /** From the config's rootfs.diff_ids: the digest of the uncompressed layer. */
  diffId: string;
  compression: Compression;
}

/** One image of a `docker save` archive, with its config read and checked. */
export interface SavedImage {
  entry: DockerSaveEntry;
  repoTags: string[];
  config: { bytes: Buffer; digest: string };
  layers: SavedLayer[];
}

/**
 * Pick an image out of manifest.json (by NAME:TAG when given, else the only one) and check
 * it against the archive: config present and matching its content-addressed name, one
 * diff_id per layer, every layer present. Layer bytes are verified later, while streamed.
 */
export async function loadSavedImage(index: TarIndex, name: string | undefined, tag: string | undefined): Promise<SavedImage> {
  const label = index.label;
  if (!index.get('manifest.json')) {
    if (index.get('oci-layout') || index.get('index.json')) {
      throw new OciLayoutArchiveError(`${label} is an OCI layout archive, not a docker-archive: use oci-archive:`);
    }
    throw new InvalidContentError(`${label}: unknown archive format (no manifest.json: not a docker save archive)`, 'ARCHIVE_FORMAT');
  }
  const entries = parseSaveManifest(await index.read('manifest.json', 16 << 20), label);
  let entry: DockerSaveEntry | undefined;
  if (name !== undefined) {
    entry = entries.find((e) => (e.RepoTags ?? []).some((t) => repoTagMatches(t, name, tag)));
    if (!entry) {
      const all = entries.flatMap((e) => e.RepoTags ?? []);
      throw new NotFoundError(`${label} holds no image ${name}:${tag ?? 'latest'} (it holds: ${all.join(', ') || 'untagged images'})`, 'MANIFEST_UNKNOWN');
    }
  } else if (entries.length === 1) {
    entry = entries[0]!;
  } else {
    const all = entries.flatMap((e) => e.RepoTags ?? []);
    throw new UsageError(`${label} holds ${entries.length} images; name one as docker-archive:FILE:NAME:TAG (${all.join(', ')})`);
  }

  const configBytes = await readEntry(index, entry.Config, 'config');
  const configDigest = digestOf(configBytes);
  const claimed = digestFromPath(entry.Config);
  if (claimed && claimed.startsWith('sha256:') && claimed !== configDigest) {
    throw new DigestMismatchError(claimed, configDigest, `${label}: config ${entry.Config}`);
  }
  let diffIds: string[];
  try {
    const cfg = JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
    diffIds = Array.isArray(cfg.rootfs?.diff_ids) ? (cfg.rootfs.diff_ids as string[]) : [];
  } catch {
    throw new InvalidContentError(`${label}: config ${entry.Config} is not valid JSON`, 'ARCHIVE_INVALID');
  }
  if (diffIds.length !== entry.Layers.length || diffIds.some((d) => typeof d !== 'string' || !isValidDigest(d))) {
    throw new InvalidContentError(
      `${label}: config lists ${diffIds.length} diff_ids but manifest.json lists ${entry.Layers.length} layers`,
      'ARCHIVE_INVALID',
    );
  }
  const layers: SavedLayer[] = [];
  for (const [i, path] of entry.Layers.entries()) {
    const e = index.get(normalize(path));
    if (!e) throw new NotFoundError(`${label}: layer ${path} is missing from the archive`, 'ARCHIVE_LAYER_MISSING');
    const compression = sniffCompression(await readHead(index, e.name, 4));
    layers.push({ path: e.name, size: e.size, diffId: diffIds[i]!, compression });
  }
  return { entry, repoTags: entry.RepoTags ?? [], config: { bytes: configBytes, digest: configDigest }, layers };
}

function normalize(path: string): string {
  return path.replace(/^(\.\/)+/, '');
}

async function readEntry(index: TarIndex, path: string, what: string): Promise<Buffer> {
  const name = normalize(path);
  if (!index.get(name)) throw new NotFoundError(`${index.label}: ${what} ${path} is missing from the archive`, 'ARCHIVE_ENTRY_MISSING');
  return index.read(name, 32 << 20);
}
