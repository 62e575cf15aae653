import type { Readable } from 'node:stream';
import type { ImageSource, ImageTarget, ManifestHead, TagHeads } from '../content/types.js';
import { DigestMismatchError, HttpError, InvalidContentError, NotFoundError } from '../errors.js';
import { digestOf, isValidDigest, parseDigest } from '../oci/digest.js';
import { isIndex, manifestMediaType, parseManifest, type Descriptor, type ManifestData } from '../oci/manifest.js';
import { MANIFEST_ACCEPT, MediaType } from '../oci/mediatypes.js';
import { validateRepository, validateTag } from '../ref/reference.js';
import { drain, readBytesLimited, type HttpResponse, type Transport } from '../transport/http.js';
import { repositoryScope } from '../transport/scope.js';
import { resumingStream } from './download.js';
import { nextLink } from './link.js';
import { listPaged } from './paging.js';
import { uploadBlob, uploadComputed, cancelUpload, locationOf, type UploadTarget } from './upload.js';

export interface RepositoryOptions {
  /** Largest manifest accepted (default 4 MiB, as distribution enforces). */
  manifestLimit?: number;
  /** Upload blobs larger than this in PATCH chunks of this size; default: one streamed PUT. */
  chunkSize?: number;
  /** Page size asked for when listing tags (default: none, the registry's whole list). */
  tagPageSize?: number;
}

export const DEFAULT_MANIFEST_LIMIT = 4 * 1024 * 1024;
const TAG_LIST_LIMIT = 64 * 1024 * 1024;

/** One repository on a registry: manifests, blobs, tags, referrers over the distribution API. */
export class Repository implements ImageSource, ImageTarget {
  readonly description: string;
  private readonly pull: string[];
  private readonly push: string[];

  constructor(
    private readonly transport: Transport,
    readonly registry: string,
    readonly name: string,
    private readonly options: RepositoryOptions = {},
  ) {
    validateRepository(name);
    this.description = `${registry}/${name}`;
    this.pull = [repositoryScope(name, 'pull')];
    this.push = [repositoryScope(name, 'pull', 'push')];
  }

  private path(rest: string): string {
    return `/v2/${this.name}/${rest}`;
  }

  private upload(scopes = this.push): UploadTarget {
    return { transport: this.transport, registry: this.registry, name: this.name, scopes };
  }

  /** Every tag, sorted; asks without `n` unless a page size is given (see paging.ts). */
  async listTags(opts: { pageSize?: number } = {}): Promise<string[]> {
    const tags = await listPaged({
      transport: this.transport,
      registry: this.registry,
      path: this.path('tags/list'),
      key: 'tags',
      scopes: this.pull,
      n: opts.pageSize ?? this.options.tagPageSize,
      maxBytes: TAG_LIST_LIMIT,
      notFound: () => new NotFoundError(`repository ${this.description} not found`, 'NAME_UNKNOWN'),
    });
    return tags.sort();
  }

  /**
   * Tags with their manifest heads in one request where the registry offers regctl's tag-digests
   * extension (`tags/list?digests=1`, answered with `Regctl-Features: tag-digests`). Other
   * registries ignore the parameter and answer a plain list, which is used as it is (one request,
   * as listTags); a paginated plain answer is listed again the standard way.
   */
  async listTagHeads(): Promise<TagHeads> {
    const res = await this.transport.request({ method: 'GET', registry: this.registry, path: this.path('tags/list?digests=1'), scopes: this.pull, ok: [200, 400, 404] });
    if (res.status === 404) {
      await drain(res);
      throw new NotFoundError(`repository ${this.description} not found`, 'NAME_UNKNOWN');
    }
    if (res.status === 400) {
      await drain(res);
      return { tags: await this.listTags() };
    }
    let page = await readTagPage(res);
    const extension = /(^|[\s,])tag-digests($|[\s,])/.test(res.header('regctl-features') ?? '') && page.digests !== undefined;
    let next = nextLink(res.header('link'));
    if (!extension) return next ? { tags: await this.listTags() } : { tags: [...new Set(page.tags)].sort() };
    const heads = new Map<string, ManifestHead>();
    const tags = new Set<string>();
    for (;;) {
      let added = 0;
      for (const t of page.tags) {
        if (tags.has(t)) continue;
        tags.add(t);
        added++;
        const d = page.digests && Object.hasOwn(page.digests, t) ? page.digests[t] : undefined;
        const size = d?.size;
        if (d && typeof d === 'object' && typeof d.digest === 'string' && isValidDigest(d.digest) && typeof d.mediaType === 'string' && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) {
          heads.set(t, { digest: d.digest, mediaType: d.mediaType, size });
        }
      }
      if (!next || added === 0) break;
      const more = await this.transport.request({ method: 'GET', registry: this.registry, path: next, scopes: this.pull });
      page = await readTagPage(more);
      next = nextLink(more.header('link'));
    }
    // A tag without a usable descriptor is HEADed by the caller, as with any registry.
    return { tags: [...tags].sort(), heads };
  }

  private checkRef(ref: string): void {
    if (ref.includes(':')) parseDigest(ref);
    else validateTag(ref);
  }

  async headManifest(ref: string): Promise<ManifestHead | undefined> {
    this.checkRef(ref);
    const res = await this.transport.request({
      method: 'HEAD',
      registry: this.registry,
      path: this.path(`manifests/${ref}`),
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pull,
      ok: [200, 404],
    });
    await drain(res);
    if (res.status === 404) return undefined;
    const digest = res.header('docker-content-digest');
    const size = Number(res.header('content-length'));
    const mediaType = contentType(res);
    if (digest && isValidDigest(digest) && Number.isSafeInteger(size) && mediaType && (!ref.includes(':') || digest === ref)) {
      return { digest, size, mediaType };
    }
    // The registry left out what HEAD should say: fetch and compute it.
    const m = await this.getManifest(ref);
    return { digest: m.digest, size: m.bytes.length, mediaType: m.mediaType };
  }

  async getManifest(ref: string): Promise<ManifestData> {
    this.checkRef(ref);
    const res = await this.transport.request({
      method: 'GET',
      registry: this.registry,
      path: this.path(`manifests/${ref}`),
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pull,
      ok: [200, 404],
    });
    if (res.status === 404) {
      await drain(res);
      throw new NotFoundError(`manifest ${this.description}${ref.includes(':') ? '@' : ':'}${ref} not found`, 'MANIFEST_UNKNOWN');
    }
    const bytes = await readBytesLimited(res, this.options.manifestLimit ?? DEFAULT_MANIFEST_LIMIT, 'manifest');
    const served = res.header('docker-content-digest');
    const expected = ref.includes(':') ? ref : served && isValidDigest(served) ? served : undefined;
    const digest = digestOf(bytes, expected ? parseDigest(expected).algorithm : 'sha256');
    if (expected && digest !== expected) throw new DigestMismatchError(expected, digest, `manifest ${this.description}:${ref}`);
    let mediaType = contentType(res);
    if (!mediaType || mediaType === 'application/json' || mediaType === 'text/plain' || mediaType === 'application/octet-stream') {
      try {
        mediaType = manifestMediaType(parseManifest(bytes, mediaType));
      } catch {
        mediaType = mediaType ?? 'application/octet-stream';
      }
    }
    return { bytes, mediaType, digest };
  }

  async putManifest(ref: string, data: ManifestData): Promise<void> {
    this.checkRef(ref);
    if (ref.includes(':') && ref !== data.digest) throw new DigestMismatchError(ref, data.digest, 'manifest');
    const res = await this.transport.request({
      method: 'PUT',
      registry: this.registry,
      path: this.path(`manifests/${ref}`),
      headers: { 'content-type': data.mediaType, 'content-length': String(data.bytes.length) },
      body: data.bytes,
      scopes: this.push,
      ok: [200, 201, 202, 204],
    });
    await drain(res);
    const stored = res.header('docker-content-digest');
    if (stored && isValidDigest(stored) && parseDigest(stored).algorithm === parseDigest(data.digest).algorithm && stored !== data.digest) {
      throw new DigestMismatchError(data.digest, stored, `manifest stored at ${this.description}:${ref}`);
    }
  }

  /**
   * PUT under `tag` only if the tag still points at `expected` (undefined: does not exist yet),
   * on registries that advertise `tag-cas` (see features()). False when the registry answered
   * 412: the tag moved meanwhile.
   */
  async putManifestIf(tag: string, data: ManifestData, expected: string | undefined): Promise<boolean> {
    validateTag(tag);
    if (expected !== undefined) parseDigest(expected);
    const condition: Record<string, string> = expected === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${expected}"` };
    const res = await this.transport.request({
      method: 'PUT',
      registry: this.registry,
      path: this.path(`manifests/${tag}`),
      headers: { 'content-type': data.mediaType, 'content-length': String(data.bytes.length), ...condition },
      body: data.bytes,
      scopes: this.push,
      ok: [200, 201, 202, 204, 412],
    });
    await drain(res);
    return res.status !== 412;
  }

  /** What the registry advertises on /v2/ in `Regctl-Features` (regctl serve): e.g. tag-cas, tag-delete. */
  async features(): Promise<Set<string>> {
    const res = await this.transport.request({ method: 'GET', registry: this.registry, path: '/v2/', scopes: this.pull, ok: [200, 401, 403, 404] });
    await drain(res);
    if (res.status !== 200) return new Set();
    const raw = res.header('regctl-features') ?? '';
    return new Set(raw.split(',').map((f) => f.trim()).filter((f) => /^[a-z][a-z0-9-]{0,40}$/.test(f)));
  }

  /** regctl serve (`repo-delete`): remove the repository itself. False when it did not exist. */
  async deleteRepository(): Promise<boolean> {
    const res = await this.transport.request({
      method: 'DELETE',
      registry: this.registry,
      path: this.path('_repository'),
      scopes: [repositoryScope(this.name, 'delete')],
      ok: [200, 202, 204, 404],
    });
    await drain(res);
    return res.status !== 404;
  }

  async deleteManifest(ref: string): Promise<void> {
    this.checkRef(ref);
    const res = await this.transport.request({
      method: 'DELETE',
      registry: this.registry,
      path: this.path(`manifests/${ref}`),
      scopes: [repositoryScope(this.name, 'delete')],
      ok: [200, 202, 204, 404],
    });
    await drain(res);
    if (res.status === 404) throw new NotFoundError(`manifest ${this.description}${ref.includes(':') ? '@' : ':'}${ref} not found`, 'MANIFEST_UNKNOWN');
  }

  async headBlob(digest: string): Promise<{ size: number } | undefined> {
    parseDigest(digest);
    const res = await this.transport.request({
      method: 'HEAD',
      registry: this.registry,
      path: this.path(`blobs/${digest}`),
      scopes: this.pull,
      redirect: true,
      ok: [200, 404],
    });
    await drain(res);
    if (res.status === 404) return undefined;
    const size = Number(res.header('content-length'));
    return { size: Number.isSafeInteger(size) ? size : -1 };
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const h = await this.headBlob(desc.digest);
    return h !== undefined && (h.size < 0 || h.size === desc.size);
  }

  private openBlob(digest: string, offset: number): Promise<HttpResponse> {
    return this.transport.request({
      method: 'GET',
      registry: this.registry,
      path: this.path(`blobs/${digest}`),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: this.pull,
      redirect: true,
      ok: offset > 0 ? [200, 206, 404] : [200, 404],
    });
  }

  async getBlob(desc: Descriptor): Promise<Readable> {
    parseDigest(desc.digest);
    const res = await this.openBlob(desc.digest, 0);
    if (res.status === 404) {
      await drain(res);
      throw new NotFoundError(`blob ${desc.digest} not found in ${this.description}`, 'BLOB_UNKNOWN');
    }
    return resumingStream(
      res,
      desc.size,
      async (offset) => {
        const r = await this.openBlob(desc.digest, offset);
        if (r.status === 404) {
          await drain(r);
          throw new NotFoundError(`blob ${desc.digest} vanished from ${this.description} during download`, 'BLOB_UNKNOWN');
        }
        return r;
      },
      `blob ${desc.digest}`,
    );
  }

  async putBlob(desc: Descriptor, body: Readable, onProgress?: (n: number) => void): Promise<void> {
    parseDigest(desc.digest);
    await uploadBlob(this.upload(), desc, body, { chunkSize: this.options.chunkSize, onProgress });
  }

  async putBlobComputed(body: Readable, mediaType: string, onProgress?: (n: number) => void): Promise<Descriptor> {
    return uploadComputed(this.upload(), body, mediaType, onProgress);
  }

  async mountBlob(desc: Descriptor, fromRepository: string): Promise<boolean> {
    parseDigest(desc.digest);
    validateRepository(fromRepository);
    const scopes = [...this.push, repositoryScope(fromRepository, 'pull')];
    const res = await this.transport.request({
      method: 'POST',
      registry: this.registry,
      path: this.path(`blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(fromRepository)}`),
      headers: { 'content-length': '0' },
      scopes,
      ok: [201, 202],
    });
    await drain(res);
    if (res.status === 201) return true;
    // 202: the registry opened a normal upload instead; close it.
    if (res.header('location')) await cancelUpload(this.upload(scopes), locationOf(this.upload(), res.header('location'), res.url));
    return false;
  }

  async referrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    const { algorithm, hex } = parseDigest(digest);
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    let res: HttpResponse | undefined;
    try {
      res = await this.transport.request({
        method: 'GET',
        registry: this.registry,
        path: this.path(`referrers/${digest}${query}`),
        headers: { accept: MediaType.ociIndex },
        scopes: this.pull,
        ok: [200, 400, 404, 405],
      });
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
    }
    if (res?.status === 200 && (contentType(res) ?? '').startsWith(MediaType.ociIndex)) {
      const m = parseManifest(await readBytesLimited(res, this.options.manifestLimit ?? DEFAULT_MANIFEST_LIMIT, 'referrers'), MediaType.ociIndex);
      const list = isIndex(m) ? m.manifests : [];
      return filterArtifact(list, artifactType);
    }
    if (res) await drain(res);
    // Fallback tag schema: an index tagged <alg>-<hex> lists the referrers.
    let data: ManifestData;
    try {
      data = await this.getManifest(`${algorithm}-${hex}`);
    } catch (e) {
      if (e instanceof NotFoundError) return [];
      throw e;
    }
    const m = parseManifest(data.bytes, data.mediaType);
    if (!isIndex(m)) throw new InvalidContentError(`${this.description}:${algorithm}-${hex} is not an index`);
    return filterArtifact(m.manifests, artifactType);
  }
}

function filterArtifact(list: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? list.filter((d) => d.artifactType === artifactType) : list;
}

function contentType(res: HttpResponse): string | undefined {
  const ct = res.header('content-type');
  return ct ? ct.split(';')[0]!.trim() : undefined;
}

interface TagPage {
  tags: string[];
  digests?: Record<string, { digest?: unknown; mediaType?: unknown; size?: unknown } | undefined>;
}

async function readTagPage(res: HttpResponse): Promise<TagPage> {
  const body = JSON.parse((await readBytesLimited(res, TAG_LIST_LIMIT, 'tag list')).toString('utf8')) as { tags?: unknown; digests?: unknown };
  const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
  const digests = body.digests && typeof body.digests === 'object' && !Array.isArray(body.digests) ? (body.digests as TagPage['digests']) : undefined;
  return { tags, digests };
}
