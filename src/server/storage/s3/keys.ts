/**
 * Where everything lives in the bucket (all under the optional prefix):
 *
 *   blobs/ALG/HEX                               content store: one object per digest, shared by every repository
 *   blobrefs/ALG/HEX/REPO                       reverse links: which repositories hold a digest (for mount and GC)
 *   catalog/REPO                                marker: the repository exists (one LIST answers /v2/_catalog)
 *   repositories/REPO/_blobs/ALG/HEX            link: the blob is visible in REPO (size in metadata)
 *   repositories/REPO/_manifests/ALG/HEX        manifest bytes, Content-Type = pushed media type
 *   repositories/REPO/_tags/TAG                 body: the digest the tag points at (one object per tag)
 *   repositories/REPO/_referrers/ALG/SUBJECTHEX/ALG-HEX   referrer descriptor (JSON), keyed by subject
 *   uploads/ID/info                             upload session: repository and start time (JSON)
 *   uploads/ID/parts/OFFSET                     one object per appended chunk, OFFSET zero-padded
 *   uploads/ID/sums/OFFSET                      sha256 of that chunk (lets a one-chunk upload commit by server-side copy)
 *
 * Repository components never start with "_" (distribution grammar), so REPO/_tags cannot collide
 * with a nested repository REPO/x. Names, tags and digests were validated by the HTTP layer;
 * they only use characters that are safe in keys.
 */
export class KeyLayout {
  constructor(readonly prefix: string) {}

  private k(rest: string): string {
    return this.prefix === '' ? rest : `${this.prefix}/${rest}`;
  }

  /** "sha256:abc" -> "sha256/abc" */
  static digestPath(digest: string): string {
    const colon = digest.indexOf(':');
    return `${digest.slice(0, colon)}/${digest.slice(colon + 1)}`;
  }

  contents(): string {
    return this.k('blobs/');
  }

  content(digest: string): string {
    return this.contents() + KeyLayout.digestPath(digest);
  }

  blobRefs(digest: string): string {
    return this.k(`blobrefs/${KeyLayout.digestPath(digest)}/`);
  }

  blobRef(digest: string, repo: string): string {
    return this.blobRefs(digest) + repo;
  }

  catalog(): string {
    return this.k('catalog/');
  }

  repoMarker(repo: string): string {
    return this.catalog() + repo;
  }

  repo(repo: string): string {
    return this.k(`repositories/${repo}/`);
  }

  links(repo: string): string {
    return `${this.repo(repo)}_blobs/`;
  }

  link(repo: string, digest: string): string {
    return this.links(repo) + KeyLayout.digestPath(digest);
  }

  manifests(repo: string): string {
    return `${this.repo(repo)}_manifests/`;
  }

  manifest(repo: string, digest: string): string {
    return this.manifests(repo) + KeyLayout.digestPath(digest);
  }

  tags(repo: string): string {
    return `${this.repo(repo)}_tags/`;
  }

  tag(repo: string, tag: string): string {
    return this.tags(repo) + tag;
  }

  referrers(repo: string, subject: string): string {
    return `${this.repo(repo)}_referrers/${KeyLayout.digestPath(subject)}/`;
  }

  referrer(repo: string, subject: string, digest: string): string {
    return this.referrers(repo, subject) + digest.replace(':', '-');
  }

  uploads(): string {
    return this.k('uploads/');
  }

  upload(id: string): string {
    return `${this.uploads()}${id}/`;
  }

  uploadInfo(id: string): string {
    return `${this.upload(id)}info`;
  }

  uploadParts(id: string): string {
    return `${this.upload(id)}parts/`;
  }

  uploadPart(id: string, offset: number): string {
    return this.uploadParts(id) + String(offset).padStart(16, '0');
  }

  uploadSum(id: string, offset: number): string {
    return `${this.upload(id)}sums/${String(offset).padStart(16, '0')}`;
  }
}

/** "digest" from "…/ALG/HEX" (the last two key components). */
export function digestFromKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length < 2) return undefined;
  return `${parts[parts.length - 2]}:${parts[parts.length - 1]}`;
}
