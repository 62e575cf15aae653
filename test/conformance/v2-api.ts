import { Readable } from 'node:stream';
import { request } from 'undici';
import { MT, detectMediaType, detectSubject, type Desc } from './v2-data.js';

/**
 * The requests and response checks of the conformance engine (distribution-spec conformance/
 * api.go), one function per registry operation. A failed check throws CheckFailure with every
 * mismatch; an optional API the registry answers with another allowed behaviour throws
 * Unsupported (the engine's errRegUnsupported, which it reports as "skip", not "fail").
 */

export class CheckFailure extends Error {
  override name = 'CheckFailure';
}

export class Unsupported extends Error {
  override name = 'Unsupported';
}

export interface Reply {
  method: string;
  url: string;
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
}

/** First value of a response header, '' when absent. */
export function header(r: Reply, name: string): string {
  return r.headers[name.toLowerCase()]?.[0] ?? '';
}

/** A response condition: undefined when met, else what is wrong. */
export type Cond = (r: Reply) => string | undefined;

export const expectStatus =
  (...codes: number[]): Cond =>
  (r) =>
    codes.includes(r.status) ? undefined : `status ${r.status}, expected one of [${codes.join(', ')}]`;

/** value '' means: the header must be present. */
export const expectHeader =
  (key: string, value = ''): Cond =>
  (r) => {
    const cur = r.headers[key.toLowerCase()] ?? [];
    if (value === '') return cur.length ? undefined : `missing header ${key}`;
    return cur.includes(value) ? undefined : `header ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(cur)}`;
  };

export const expectBody =
  (expected: Buffer): Cond =>
  (r) =>
    r.body.equals(expected) ? undefined : `body mismatch: expected ${describeBody(expected)}, got ${describeBody(r.body)}`;

/** apiWithOr: met when every condition of one of the lists is met. */
export const anyOf =
  (...lists: Cond[][]): Cond =>
  (r) => {
    const failures: string[] = [];
    for (const list of lists) {
      const errs = unmet(r, list);
      if (errs.length === 0) return undefined;
      failures.push(errs.join('; '));
    }
    return `matched no alternative: (${failures.join(') or (')})`;
  };

function describeBody(b: Buffer): string {
  if (b.length === 0) return '(empty)';
  const text = b.subarray(0, 300).toString('utf8');
  return /^[\x09\x0a\x0d\x20-\x7e]*$/.test(text) ? `${b.length} bytes ${JSON.stringify(text)}` : `${b.length} binary bytes`;
}

function unmet(r: Reply, conds: Cond[]): string[] {
  return conds.map((c) => c(r)).filter((e): e is string => e !== undefined);
}

/** Throw CheckFailure naming the request, when any condition is unmet. */
export function check(r: Reply, ...conds: Cond[]): void {
  const errs = unmet(r, conds);
  if (errs.length) {
    throw new CheckFailure(`${r.method} ${r.url} -> ${r.status}: ${errs.join('; ')}; response body ${describeBody(r.body)}`);
  }
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** Send the body with chunked transfer encoding (no Content-Length), as Go does for a PATCH stream. */
  stream?: boolean;
}

/** Options every blob/manifest operation takes. */
export interface OpOpts {
  /** apis.blobs.digestHeader / apis.manifests.digestHeader: Docker-Content-Digest is required */
  requireDigestHeader?: boolean;
  expectBadDigest?: boolean;
}

export class Api {
  constructor(
    readonly base: string,
    private readonly debug?: (line: string) => void,
  ) {}

  /** Absolute URL of a path or of a (possibly relative) Location header. */
  url(pathOrLocation: string, relativeTo?: string): URL {
    return new URL(pathOrLocation, relativeTo ?? this.base);
  }

  async do(method: string, target: URL | string, o: RequestOptions = {}): Promise<Reply> {
    const u = typeof target === 'string' ? this.url(target) : target;
    const headers = { 'user-agent': 'oci-conformance-v2-port', ...o.headers };
    let body: Buffer | Readable | undefined = o.body;
    if (o.stream && o.body) body = Readable.from([o.body]);
    const res = await request(u, { method: method as 'GET', headers, body });
    const buf = Buffer.from(await res.body.arrayBuffer());
    const h: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      h[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : [String(v)];
    }
    const reply: Reply = { method, url: u.pathname + u.search, status: res.statusCode, headers: h, body: buf };
    this.debug?.(`${method} ${reply.url} -> ${reply.status} ${JSON.stringify(h)} ${describeBody(buf)}`);
    return reply;
  }

  private blobUrl(repo: string, dig: string): URL {
    return this.url(`/v2/${repo}/blobs/${dig}`);
  }

  private uploadsUrl(repo: string): URL {
    return this.url(`/v2/${repo}/blobs/uploads/`);
  }

  /** The Location of a response, resolved against the request it answers; throws when absent. */
  private location(r: Reply, what: string): URL {
    const loc = header(r, 'location');
    if (!loc) throw new CheckFailure(`${what}: ${r.method} ${r.url} -> ${r.status} returned no Location header`);
    return this.url(loc, this.url(r.url).href);
  }

  private withDigest(u: URL, dig: string): URL {
    const out = new URL(u.href);
    out.searchParams.set('digest', dig);
    return out;
  }

  /** VerifyDigest: a Docker-Content-Digest header, when sent (or required), names the content. */
  verifyDigest(r: Reply, dig: string, o: OpOpts): void {
    const h = header(r, 'docker-content-digest');
    if (h === '' && o.requireDigestHeader) throw new CheckFailure(`${r.method} ${r.url}: no Docker-Content-Digest header`);
    if (h !== '' && dig !== '' && h !== dig) {
      throw new CheckFailure(`${r.method} ${r.url}: Docker-Content-Digest ${h}, expected ${dig}`);
    }
  }

  /** BlobVerifyLocation: the Location of a finished upload serves the blob. */
  async blobVerifyLocation(from: Reply, bytes: Buffer): Promise<void> {
    const r = await this.do('GET', this.location(from, 'completed upload'));
    check(r, expectStatus(200), expectBody(bytes));
  }

  async ping(): Promise<Reply> {
    return this.do('GET', '/v2/');
  }

  async blobGet(repo: string, dig: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.do('GET', this.blobUrl(repo, dig), { headers });
  }

  async blobHead(repo: string, dig: string): Promise<Reply> {
    return this.do('HEAD', this.blobUrl(repo, dig));
  }

  /** BlobGetExistsFull: 200, the bytes and their length (when the content is known). */
  async blobGetExistsFull(repo: string, dig: string, bytes: Buffer | undefined, o: OpOpts): Promise<void> {
    const r = await this.blobGet(repo, dig);
    const conds = [expectStatus(200)];
    if (bytes) conds.push(expectBody(bytes), expectHeader('Content-Length', String(bytes.length)));
    check(r, ...conds);
    this.verifyDigest(r, dig, o);
  }

  /** BlobHeadExists: 200, no body, the length (when the content is known). */
  async blobHeadExists(repo: string, dig: string, bytes: Buffer | undefined, o: OpOpts): Promise<void> {
    const r = await this.blobHead(repo, dig);
    const conds = [expectStatus(200), expectBody(Buffer.alloc(0))];
    if (bytes) conds.push(expectHeader('Content-Length', String(bytes.length)));
    check(r, ...conds);
    this.verifyDigest(r, dig, o);
  }

  /** BlobDelete: 202, or 404 when already gone; 405 means deletes are not offered. */
  async blobDelete(repo: string, dig: string): Promise<void> {
    const r = await this.do('DELETE', this.blobUrl(repo, dig));
    check(r, expectStatus(202, 404, 405));
    if (r.status === 405) throw new Unsupported(`blob delete answered ${r.status}`);
  }

  /** POST ?digest= with the whole blob; a 202 means the registry wants the two-step upload. */
  async blobPostOnly(repo: string, dig: string, bytes: Buffer, o: OpOpts): Promise<void> {
    const u = this.uploadsUrl(repo);
    u.searchParams.set('digest', dig);
    const post = await this.do('POST', u, { headers: { 'content-type': MT.octetStream }, body: bytes });
    if (o.expectBadDigest) check(post, expectStatus(400, 202));
    else check(post, expectStatus(201, 202), expectHeader('Location'));
    if (post.status === 202) {
      const put = await this.do('PUT', this.withDigest(this.location(post, 'blob post'), dig), {
        headers: { 'content-type': MT.octetStream },
        body: bytes,
      });
      check(put, expectStatus(o.expectBadDigest ? 400 : 201));
      throw new Unsupported('registry does not take the blob in the POST: fell back to PUT');
    }
    if (o.expectBadDigest) return;
    this.verifyDigest(post, dig, o);
    await this.blobVerifyLocation(post, bytes);
  }

  /** POST for a session, then one PUT ?digest= with the whole blob (monolithic). */
  async blobPostPut(repo: string, dig: string, bytes: Buffer, o: OpOpts): Promise<void> {
    const post = await this.do('POST', this.uploadsUrl(repo));
    check(post, expectStatus(202));
    const put = await this.do('PUT', this.withDigest(this.location(post, 'blob post'), dig), {
      headers: { 'content-type': MT.octetStream },
      body: bytes,
    });
    if (o.expectBadDigest) {
      check(put, expectStatus(400));
      return;
    }
    check(put, expectStatus(201));
    this.verifyDigest(put, dig, o);
    await this.blobVerifyLocation(put, bytes);
  }

  /** POST, one PATCH with the whole blob streamed (chunked encoding, no Content-Range), PUT ?digest=. */
  async blobPatchStream(repo: string, dig: string, bytes: Buffer, o: OpOpts): Promise<void> {
    const post = await this.do('POST', this.uploadsUrl(repo), { headers: { 'content-length': '0' } });
    check(post, expectStatus(202));
    const patch = await this.do('PATCH', this.location(post, 'blob post'), {
      headers: { 'content-type': MT.octetStream },
      body: bytes,
      stream: true,
    });
    check(patch, expectStatus(202));
    const put = await this.do('PUT', this.withDigest(this.location(patch, 'blob patch'), dig), {
      headers: { 'content-type': MT.octetStream, 'content-length': '0' },
    });
    if (o.expectBadDigest) {
      check(put, expectStatus(400));
      return;
    }
    check(put, expectStatus(201), expectHeader('Location'));
    this.verifyDigest(put, dig, o);
    await this.blobVerifyLocation(put, bytes);
  }

  /**
   * BlobPatchChunked: about three PATCH chunks with Content-Range (at least the registry's
   * OCI-Chunk-Min-Length and 1024 bytes each), then PUT ?digest= (empty, or with the last chunk).
   * Out of order: before each chunk, one that skips ahead (or restarts at 0) must get 416, and a
   * GET on the session must report the range received so far.
   */
  async blobPatchChunked(
    repo: string,
    dig: string,
    bytes: Buffer,
    o: OpOpts & { outOfOrder?: boolean; putLastChunk?: boolean; chunkMin: number },
  ): Promise<{ minLengthHeader: string }> {
    const post = await this.do('POST', this.uploadsUrl(repo), { headers: { 'content-length': '0' } });
    check(post, expectStatus(202));
    const minStr = header(post, 'oci-chunk-min-length');
    let chunkSize = Math.floor(bytes.length / 3) + 1;
    if (minStr !== '') {
      const min = Number.parseInt(minStr, 10);
      if (!Number.isFinite(min)) throw new CheckFailure(`OCI-Chunk-Min-Length ${JSON.stringify(minStr)} is not a number`);
      chunkSize = Math.max(chunkSize, min);
    }
    chunkSize = Math.min(Math.max(chunkSize, o.chunkMin), bytes.length);
    let loc = this.location(post, 'blob post');
    let last = -1;
    let final: Reply | undefined;
    while (last < bytes.length - 1) {
      if (o.outOfOrder) {
        let badStart = last + 1 + chunkSize;
        if (badStart >= bytes.length) badStart = 0;
        const badLast = Math.min(badStart + chunkSize - 1, bytes.length - 1);
        const isLast = o.putLastChunk && badLast === bytes.length - 1;
        const bad = await this.do(isLast ? 'PUT' : 'PATCH', isLast ? this.withDigest(loc, dig) : loc, {
          headers: { 'content-type': MT.octetStream, 'content-range': `${badStart}-${badLast}` },
          body: bytes.subarray(badStart, badLast + 1),
        });
        check(bad, expectStatus(416));
        if (header(bad, 'location')) loc = this.location(bad, 'out-of-order chunk');
        // Recover: ask the session where it is.
        const status = await this.do('GET', loc);
        check(status, expectStatus(204));
        if (header(status, 'location')) loc = this.location(status, 'upload status');
        const range = header(status, 'range');
        if (!range.startsWith('0-')) throw new CheckFailure(`GET ${status.url}: Range ${JSON.stringify(range)} lacks the 0- prefix`);
        const end = Number(range.slice(2));
        if (!Number.isInteger(end)) throw new CheckFailure(`GET ${status.url}: Range ${JSON.stringify(range)} does not parse`);
        if (last >= 0 && end !== last) throw new CheckFailure(`GET ${status.url}: Range ${JSON.stringify(range)}, expected "0-${last}"`);
      }
      const start = last + 1;
      last = Math.min(start + chunkSize - 1, bytes.length - 1);
      const isLast = o.putLastChunk && last === bytes.length - 1;
      const r = await this.do(isLast ? 'PUT' : 'PATCH', isLast ? this.withDigest(loc, dig) : loc, {
        headers: { 'content-type': MT.octetStream, 'content-range': `${start}-${last}` },
        body: bytes.subarray(start, last + 1),
      });
      if (isLast) {
        check(r, expectStatus(o.expectBadDigest ? 400 : 201));
        final = r;
      } else {
        check(r, expectStatus(202));
        loc = this.location(r, 'blob patch');
      }
    }
    if (!o.putLastChunk) {
      const put = await this.do('PUT', this.withDigest(loc, dig), {
        headers: { 'content-type': MT.octetStream, 'content-length': '0' },
      });
      check(put, expectStatus(o.expectBadDigest ? 400 : 201));
      final = put;
    }
    if (!o.expectBadDigest) {
      this.verifyDigest(final!, dig, o);
      await this.blobVerifyLocation(final!, bytes);
    }
    return { minLengthHeader: minStr };
  }

  /** POST for a session, then DELETE it: 204. */
  async blobPostCancel(repo: string): Promise<void> {
    const post = await this.do('POST', this.uploadsUrl(repo));
    check(post, expectStatus(202));
    const del = await this.do('DELETE', this.location(post, 'blob post'), { headers: { 'content-length': '0' } });
    check(del, expectStatus(204));
  }

  /**
   * POST ?mount=&from= (from left out for an anonymous mount): 201, or 202 and a fallback
   * upload, which the engine counts as the mount being unsupported.
   */
  async blobMount(repo: string, source: string, dig: string, bytes: Buffer, o: OpOpts): Promise<void> {
    const u = this.uploadsUrl(repo);
    u.searchParams.set('mount', dig);
    if (source !== '') u.searchParams.set('from', source);
    const post = await this.do('POST', u);
    check(post, expectStatus(201, 202));
    const loc = this.location(post, 'blob mount');
    if (post.status === 202) {
      const put = await this.do('PUT', this.withDigest(loc, dig), { headers: { 'content-type': MT.octetStream }, body: bytes });
      check(put, expectStatus(201), expectHeader('Location'));
      this.verifyDigest(put, dig, o);
      await this.blobVerifyLocation(put, bytes);
      throw new Unsupported(`mount answered ${post.status}: fell back to POST+PUT`);
    }
    this.verifyDigest(post, dig, o);
    await this.blobVerifyLocation(post, bytes);
  }

  private manifestUrl(repo: string, ref: string): URL {
    return this.url(`/v2/${repo}/manifests/${ref}`);
  }

  /** The engine asks for both OCI manifest types on every manifest GET and HEAD. */
  private readonly acceptBoth = { accept: `${MT.ociIndex}, ${MT.ociImage}` };

  async manifestGet(repo: string, ref: string): Promise<Reply> {
    return this.do('GET', this.manifestUrl(repo, ref), { headers: this.acceptBoth });
  }

  async manifestHead(repo: string, ref: string): Promise<Reply> {
    return this.do('HEAD', this.manifestUrl(repo, ref), { headers: this.acceptBoth });
  }

  /** ManifestGetExists: 200 with the exact bytes, their media type and length. */
  async manifestGetExists(repo: string, ref: string, dig: string, bytes: Buffer | undefined, o: OpOpts): Promise<void> {
    const r = await this.manifestGet(repo, ref);
    const conds = [expectStatus(200)];
    if (bytes?.length) {
      conds.push(expectBody(bytes), expectHeader('Content-Type', detectMediaType(bytes)), expectHeader('Content-Length', String(bytes.length)));
    }
    check(r, ...conds);
    if (bytes?.length) this.verifyDigest(r, dig, o);
  }

  /** ManifestHeadExists: 200, no body, the media type and length. */
  async manifestHeadExists(repo: string, ref: string, dig: string, bytes: Buffer | undefined, o: OpOpts): Promise<void> {
    const r = await this.manifestHead(repo, ref);
    const conds = [expectStatus(200), expectBody(Buffer.alloc(0))];
    if (bytes?.length) conds.push(expectHeader('Content-Type', detectMediaType(bytes)), expectHeader('Content-Length', String(bytes.length)));
    check(r, ...conds);
    if (bytes?.length) this.verifyDigest(r, dig, o);
  }

  /**
   * ManifestPut: 201 and a Location that serves the same bytes; OCI-Subject when the manifest
   * has a subject (referrers API on); 400 when a bad digest is expected.
   */
  async manifestPut(
    repo: string,
    ref: string,
    dig: string,
    bytes: Buffer,
    o: OpOpts & { referrers: boolean; tagParams?: string[] },
  ): Promise<Reply> {
    const mediaType = detectMediaType(bytes);
    const u = this.manifestUrl(repo, ref);
    for (const t of o.tagParams ?? []) u.searchParams.append('tag', t);
    const r = await this.do('PUT', u, { headers: { 'content-type': mediaType }, body: bytes });
    if (o.expectBadDigest) {
      check(r, expectStatus(400));
      return r;
    }
    const conds = [expectStatus(201)];
    const subject = detectSubject(bytes);
    if (o.referrers && subject) conds.push(expectHeader('OCI-Subject', subject.digest));
    check(r, ...conds);
    const h = header(r, 'docker-content-digest');
    if (h !== '' && h !== dig) throw new CheckFailure(`PUT ${r.url}: Docker-Content-Digest ${h}, expected ${dig}`);
    const back = await this.do('GET', this.location(r, 'manifest put'), { headers: this.acceptBoth });
    check(back, expectStatus(200), expectHeader('Content-Type', mediaType), expectHeader('Content-Length', String(bytes.length)), expectBody(bytes));
    return r;
  }

  /** ManifestDelete: 202, or 404; 400 and 405 mean deletes are not offered. */
  async manifestDelete(repo: string, ref: string): Promise<void> {
    const r = await this.do('DELETE', this.manifestUrl(repo, ref));
    check(r, expectStatus(202, 404, 400, 405));
    if (r.status === 400 || r.status === 405) throw new Unsupported(`manifest delete answered ${r.status}`);
  }

  /** ReferrersList: 200, an OCI index (Content-Type, mediaType, schemaVersion 2). */
  async referrersList(repo: string, dig: string, artifactType?: string): Promise<{ reply: Reply; manifests: Desc[] }> {
    const u = this.url(`/v2/${repo}/referrers/${dig}`);
    if (artifactType !== undefined) u.searchParams.append('artifactType', artifactType);
    const r = await this.do('GET', u);
    check(r, expectHeader('Content-Type', MT.ociIndex), expectStatus(200));
    let index: { mediaType?: unknown; schemaVersion?: unknown; manifests?: Desc[] };
    try {
      index = JSON.parse(r.body.toString('utf8')) as typeof index;
    } catch {
      throw new CheckFailure(`GET ${r.url}: the referrers response is not JSON`);
    }
    if (index.mediaType !== MT.ociIndex || index.schemaVersion !== 2) {
      throw new CheckFailure(`GET ${r.url}: the referrers response is not an OCI index (mediaType and schemaVersion)`);
    }
    return { reply: r, manifests: index.manifests ?? [] };
  }

  /** TagList: 200 and a tag list, or 404 (a repository with nothing in it). */
  async tagList(repo: string, last?: string): Promise<string[]> {
    const u = this.url(`/v2/${repo}/tags/list`);
    if (last !== undefined) u.searchParams.append('last', last);
    const r = await this.do('GET', u);
    check(r, expectStatus(200, 404));
    if (r.status === 404) return [];
    try {
      const tl = JSON.parse(r.body.toString('utf8')) as { tags?: unknown };
      return Array.isArray(tl.tags) ? tl.tags.map(String) : [];
    } catch {
      throw new CheckFailure(`GET ${r.url}: the tag list is not JSON`);
    }
  }
}
