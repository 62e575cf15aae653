import { InvalidContentError } from '../../errors.js';
import { isValidDigest } from '../../oci/digest.js';

/** The docker-save layout's media types (uncompressed layers are not in oci/mediatypes.ts). */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/** One image in `manifest.json` of a `docker save` archive. */
export interface DockerSaveEntry {
  /** Path of the config JSON inside the archive (`<hex>.json` or `blobs/sha256/<hex>`). */
  Config: string;
  RepoTags: string[] | null;
  /** Paths of the layer tars, bottom first (`<id>/layer.tar`, `<hex>.tar` or `blobs/sha256/<hex>`). */
  Layers: string[];
}

/** Parse and sanity-check manifest.json; names the problem in one line when it is wrong. */
export function parseSaveManifest(bytes: Buffer, label: string): DockerSaveEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidContentError(`${label}: manifest.json is not valid JSON`, 'ARCHIVE_INVALID');
  }
  if (!Array.isArray(json) || json.length === 0) {
    throw new InvalidContentError(`${label}: manifest.json holds no images`, 'ARCHIVE_INVALID');
  }
  return json.map((e: unknown, i) => {
    const o = e as Partial<DockerSaveEntry> | null;
    if (!o || typeof o.Config !== 'string' || !Array.isArray(o.Layers) || o.Layers.some((l) => typeof l !== 'string')) {
      throw new InvalidContentError(`${label}: manifest.json entry ${i} lacks Config or Layers`, 'ARCHIVE_INVALID');
    }
    const tags = Array.isArray(o.RepoTags) ? o.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { Config: o.Config, RepoTags: tags, Layers: o.Layers };
  });
}

/** The digest a content-addressed archive path claims (`<hex>.json`, `blobs/sha256/<hex>`), if any. */
export function digestFromPath(path: string): string | undefined {
  const m = /(?:^|\/)(?:blobs\/(sha256|sha512)\/)?([0-9a-f]{64}|[0-9a-f]{128})(?:\.json|\.tar)?$/.exec(path);
  if (!m) return undefined;
  const d = `${m[1] ?? 'sha256'}:${m[2]}`;
  return isValidDigest(d) ? d : undefined;
}

/** `docker.io/library/alpine` -> `alpine`, `docker.io/x/y` -> `x/y`: how docker save writes RepoTags. */
export function familiarName(name: string): string {
  let n = name.replace(/^docker\.io\//, '').replace(/^index\.docker\.io\//, '');
  if (n.startsWith('library/') && n.split('/').length === 2) n = n.slice('library/'.length);
  return n;
}

/** Does a RepoTags entry name the image asked for (`name[:tag]`, familiar or fully qualified)? */
export function repoTagMatches(repoTag: string, name: string, tag: string | undefined): boolean {
  const colon = repoTag.lastIndexOf(':');
  const slash = repoTag.lastIndexOf('/');
  const rName = colon > slash ? repoTag.slice(0, colon) : repoTag;
  const rTag = colon > slash ? repoTag.slice(colon + 1) : 'latest';
  return familiarName(rName) === familiarName(name) && rTag === (tag ?? 'latest');
}

/** The tag part of a RepoTags entry. */
export function tagOf(repoTag: string): string {
  const colon = repoTag.lastIndexOf(':');
  return colon > repoTag.lastIndexOf('/') ? repoTag.slice(colon + 1) : 'latest';
}

export type Compression = 'none' | 'gzip' | 'zstd';

export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}
