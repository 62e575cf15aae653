/**
 * The YAML-configured OCI conformance engine of github.com/opencontainers/distribution-spec
 * (conformance/, the successor of the ginkgo suite in ./oci-conformance.test.ts), ported to vitest
 * and run against `regctl serve` in-process, once on the filesystem backend and once in memory.
 *
 * Followed (newest stored version of each file: where the index holds two, the one whose code is
 * a superset of the other; e.g. run.go ae8d1d2a and api.go 25168982 lack the atomic-delete checks):
 *   run.go       4fc4ecbefaaa6e4e1682f59f5ac445d076cf642d  test flow, data sets, range and delete checks
 *   api.go       216c04cd22cedaab8cff577692d90e6ff7a1af0b  requests and response checks  -> ./v2-api.ts
 *   testdata.go  216c04cd22cedaab8cff577692d90e6ff7a1af0b  image/index/artifact generators -> ./v2-data.ts
 *   state.go     216c04cd22cedaab8cff577692d90e6ff7a1af0b  API names
 *   config.go    4fc4ecbefaaa6e4e1682f59f5ac445d076cf642d  defaults per spec version    -> ./v2-config.ts
 *   errors.go    4fc4ecbefaaa6e4e1682f59f5ac445d076cf642d  fail vs. skip (unsupported) vs. disabled
 *   main.go      0015ed04896cb860daad57928505dcb16b23af8f  (runs TestAll; reports)
 *   results.go / image.go: reporting, and the legacy suite's types; nothing to port.
 *
 * Checks: one vitest test per leaf of the engine's result tree (a ChildRun that makes requests:
 * "blob-post-put", "manifest-head-by-tag", "range 500-1499", "tag-list", ...), named as the engine
 * names it, plus the blob, manifest or tag it is about. With the default (1.1) profile:
 *   ping 1, empty repository 2, blob APIs 72 per digest algorithm (sha256, sha512) = 144,
 *   data sets 551 (18 that run: push/tag-list/head/pull/referrers/delete for each blob,
 *   manifest and tag; 3 more registered as disabled), manifest errors 9
 *   = 710 checks on the filesystem backend (705 run, 5 disabled: sparse, both tag-param data
 *   sets, upload cancel for sha256 and sha512). The memory backend runs the same minus the
 *   ~3.9 MB "large-manifest" data set (21 checks; it runs once): 690 (684 run).
 * OCI_VERSION=dev selects the engine's dev profile (tag parameters, upload cancel, required
 * digest headers), OCI_DEBUG=1 prints every exchange.
 *
 * Outcomes map as in the engine: a failed check fails; an optional API the registry answers
 * with another allowed behaviour (errRegUnsupported: a 202 where 201 is optional, a full body
 * for a Range request, no OCI-Filters-Applied) is skipped at run time with the reason; a check
 * the configuration disables is registered skipped. The checks depend on each other's state in
 * file order (push, then list/head/pull/referrers, then delete), as the engine runs them.
 */
import { afterAll, beforeAll, describe, test, type TestContext } from 'vitest';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import {
  Api,
  CheckFailure,
  Unsupported,
  anyOf,
  check,
  expectBody,
  expectHeader,
  expectStatus,
  header,
  type OpOpts,
  type Reply,
} from './v2-api.js';
import { CHUNK_MIN, engineConfig } from './v2-config.js';
import { TestData, digestOf, generateData, randText, type Algo, type DataSet, type Desc } from './v2-data.js';

const CONFIG = engineConfig();
const DEBUG = ['1', 'true'].includes((process.env['OCI_DEBUG'] ?? '').toLowerCase());
const REPO1 = CONFIG.repo1;
const REPO2 = CONFIG.repo2;

type Backend = 'filesystem' | 'memory';

/**
 * Checks that fail because the server is wrong, by full name ("group › ... › test"), per
 * backend: they run as `test.fails`, so the file stays green while the failure stays visible
 * (and flips red once the server is fixed). Each entry says what the server does wrong.
 */
const KNOWN_SERVER_FAILURES: Record<string, Backend[]> = {
  // None at present. (The dev profile's tag-parameter checks failed until manifest PUTs with
  // `?tag=` answered one OCI-Tag header per accepted tag.)
};

/** The blob push APIs in the engine's order of preference (run.go blobAPIs). */
type BlobApi = 'postPut' | 'postOnly' | 'patchStream' | 'patchChunked';
const BLOB_APIS: BlobApi[] = ['postPut', 'postOnly', 'patchStream', 'patchChunked'];
const BLOB_API_LEAF: Record<BlobApi, string> = {
  postPut: 'blob-post-put',
  postOnly: 'blob-post-only',
  patchStream: 'blob-patch-stream',
  patchChunked: 'blob-patch-chunked',
};

const EMPTY_SHA256 = digestOf('sha256', Buffer.alloc(0));
const short = (dig: string) => dig.slice(0, dig.indexOf(':') + 13);

describe.each([['filesystem'], ['memory']] as Array<[Backend]>)('OCI conformance v2 (%s)', (backend) => {
  let s: ServeHandle;
  let api: Api;

  beforeAll(async () => {
    s = await startServe({ memory: backend === 'memory', deleteEnabled: true });
    api = new Api(s.url, DEBUG ? (line) => console.error(`[${backend}] ${line}`) : undefined);
  });
  afterAll(async () => {
    await s?.close();
  });

  // ---- test registration: groups and leaves named as the engine's result tree ----

  // vitest runs a suite's factory after the factory that declared it has returned, so each group
  // remembers its full path and restores it when its own factory runs.
  let path: string[] = [];
  const group = (name: string, fn: () => void) => {
    const mine = [...path, name];
    describe(name, () => {
      const outer = path;
      path = mine;
      try {
        fn();
      } finally {
        path = outer;
      }
    });
  };

  /** One engine check. `disabled`: the configuration turns it off (registered as skipped). */
  const leaf = (name: string, fn: (ctx: TestContext) => Promise<void>, disabled?: string) => {
    if (disabled !== undefined) {
      test.skip(`${name} (disabled: ${disabled})`, () => undefined);
      return;
    }
    const known = KNOWN_SERVER_FAILURES[[...path, name].join(' › ')]?.includes(backend);
    (known ? test.fails : test)(name, async (ctx) => {
      try {
        await fn(ctx);
      } catch (e) {
        // errRegUnsupported: the engine reports the check as skipped, not failed.
        if (e instanceof Unsupported) ctx.skip(true, `registry does not support this optional API: ${e.message}`);
        throw e;
      }
    });
  };
  const skipUnless = (ctx: TestContext, ok: boolean, why: string) => ctx.skip(!ok, why);

  // ---- the engine's bookkeeping of which blob push APIs were tried and worked ----

  const tested = new Set<BlobApi>();
  const testedByAlgo = new Map<Algo, Set<BlobApi>>();
  const passed = new Set<BlobApi>();
  const failed = new Set<BlobApi>();
  const blobOpts = (extra: OpOpts = {}): OpOpts => ({ requireDigestHeader: CONFIG.apis.blobs.digestHeader, ...extra });
  const manifestOpts = (extra: OpOpts = {}): OpOpts => ({ requireDigestHeader: CONFIG.apis.manifests.digestHeader, ...extra });

  /** Run one blob push API, recording it as tried and as passed or failed. */
  async function runBlobApi(
    which: BlobApi,
    repo: string,
    dig: string,
    bytes: Buffer,
    o: OpOpts & { outOfOrder?: boolean; putLastChunk?: boolean } = {},
  ): Promise<string> {
    tested.add(which);
    const byAlgo = testedByAlgo.get(dig.startsWith('sha512:') ? 'sha512' : 'sha256') ?? new Set<BlobApi>();
    byAlgo.add(which);
    testedByAlgo.set(dig.startsWith('sha512:') ? 'sha512' : 'sha256', byAlgo);
    try {
      let minHeader = '';
      const opts = blobOpts(o);
      if (which === 'postOnly') await api.blobPostOnly(repo, dig, bytes, opts);
      else if (which === 'postPut') await api.blobPostPut(repo, dig, bytes, opts);
      else if (which === 'patchStream') await api.blobPatchStream(repo, dig, bytes, opts);
      else minHeader = (await api.blobPatchChunked(repo, dig, bytes, { ...opts, chunkMin: CHUNK_MIN, ...o })).minLengthHeader;
      passed.add(which);
      return minHeader;
    } catch (e) {
      failed.add(which);
      throw e;
    }
  }

  /**
   * TestPushBlobAny: untried APIs first, then those untried with this digest algorithm, then
   * those known to work, then the rest; the first that works pushes the blob. Once the blob API
   * checks have run, that is post+put, so the checks that use it are named blob-post-put.
   */
  async function pushBlobAny(repo: string, dig: string, bytes: Buffer, o: OpOpts = {}): Promise<void> {
    const algo: Algo = dig.startsWith('sha512:') ? 'sha512' : 'sha256';
    const order: BlobApi[] = [];
    const addAll = (pred: (a: BlobApi) => boolean) => BLOB_APIS.forEach((a) => pred(a) && !order.includes(a) && order.push(a));
    addAll((a) => !tested.has(a));
    addAll((a) => !(testedByAlgo.get(algo)?.has(a) ?? false));
    addAll((a) => passed.has(a) && !failed.has(a));
    addAll(() => true);
    const errors: Error[] = [];
    for (const which of order) {
      try {
        await runBlobApi(which, repo, dig, bytes, o);
        break;
      } catch (e) {
        errors.push(e as Error);
        if (errors.length === order.length) throw new CheckFailure(`every blob push API failed: ${errors.map((x) => x.message).join(' | ')}`);
      }
    }
    // The engine reports each API it tried as its own check: a failed first try is a failure.
    const hard = errors.find((e) => !(e instanceof Unsupported));
    if (hard) throw hard;
    if (errors.length) throw errors[0]!;
  }

  /** The engine compares lengths only when it knows the content (empty counts for sha256 only). */
  const known = (td: TestData, dig: string): Buffer | undefined => {
    const b = td.blobs.get(dig);
    return b && (b.length > 0 || dig === EMPTY_SHA256) ? b : undefined;
  };

  /** TestDeleteBlob: DELETE (202, or 404), then with atomic deletes a HEAD must say 404. */
  async function deleteBlob(repo: string, dig: string): Promise<void> {
    await api.blobDelete(repo, dig);
    if (CONFIG.apis.blobs.atomic) check(await api.blobHead(repo, dig), expectStatus(404));
  }

  // ---- ping and the empty repository ----

  leaf('ping', async () => {
    // The engine only needs an answer; the spec's answer for a registry without auth is 200.
    check(await api.ping(), expectStatus(200));
  });

  group('empty', () => {
    leaf('tag list', async () => {
      await api.tagList(REPO1);
    });
    leaf(
      'referrers',
      async () => {
        await api.referrersList(REPO1, digestOf('sha256', randText()));
      },
      CONFIG.apis.referrer ? undefined : 'apis.referrer is off',
    );
  });

  // ---- blob APIs, per digest algorithm ----

  const algos: Algo[] = CONFIG.data.sha512 ? ['sha256', 'sha512'] : ['sha256'];
  for (const algo of algos) {
    group(`${algo} blobs`, () => {
      const bd = new TestData(`Blobs ${algo}`);
      const base = ['post only', 'post+put', 'chunked single', 'stream', 'mount', 'mount anonymous', 'mount missing', 'post cancel'];
      const digests: Record<string, string> = {};
      for (const name of base) digests[name] = bd.genBlob({ blobSize: 512, algo }).digest;
      /** Raised to the registry's OCI-Chunk-Min-Length by "chunked single". */
      let minChunkSize = CHUNK_MIN;
      const bytesOf = (dig: string) => bd.blobs.get(dig)!;
      const newChunkedBlob = (name: string) => {
        digests[name] = bd.genBlob({ blobSize: minChunkSize * 3 - 5, algo }).digest;
        return digests[name];
      };

      leaf('get-missing', async () => {
        check(await api.blobGet(REPO1, digests['post cancel']!), expectStatus(404));
      });

      const chunkedMulti: Record<string, { outOfOrder?: boolean; putLastChunk?: boolean }> = {
        'chunked multi': {},
        'chunked multi and put chunk': { putLastChunk: true },
        'chunked out-of-order': { outOfOrder: true },
        'chunked out-of-order and put chunk': { putLastChunk: true, outOfOrder: true },
      };
      for (const name of [...base, ...Object.keys(chunkedMulti)]) {
        group(name, () => {
          let pushed = false;
          const dig = () => digests[name]!;
          const pushing = (fn: () => Promise<void>) => async () => {
            await fn();
            pushed = true;
          };
          switch (name) {
            case 'post only':
              leaf('blob-post-only', pushing(async () => void (await runBlobApi('postOnly', REPO1, dig(), bytesOf(dig())))));
              break;
            case 'post+put':
              leaf('blob-post-put', pushing(async () => void (await runBlobApi('postPut', REPO1, dig(), bytesOf(dig())))));
              break;
            case 'chunked single':
              leaf(
                'blob-patch-chunked',
                pushing(async () => {
                  const min = await runBlobApi('patchChunked', REPO1, dig(), bytesOf(dig()));
                  const n = Number.parseInt(min, 10);
                  if (min !== '' && Number.isFinite(n) && n > minChunkSize) minChunkSize = n;
                }),
              );
              break;
            case 'stream':
              leaf('blob-patch-stream', pushing(async () => void (await runBlobApi('patchStream', REPO1, dig(), bytesOf(dig())))));
              break;
            case 'mount':
              leaf(`blob-post-put (${REPO2})`, () => pushBlobAny(REPO2, dig(), bytesOf(dig())));
              leaf('blob-mount', pushing(() => api.blobMount(REPO1, REPO2, dig(), bytesOf(dig()), blobOpts())));
              break;
            case 'mount anonymous':
              leaf(`blob-post-put (${REPO2})`, () => pushBlobAny(REPO2, dig(), bytesOf(dig())));
              leaf(
                'blob-mount-anonymous',
                pushing(() => api.blobMount(REPO1, '', dig(), bytesOf(dig()), blobOpts())),
                CONFIG.apis.blobs.mountAnonymous ? undefined : 'apis.blobs.mountAnonymous is off',
              );
              break;
            case 'mount missing':
              // Nothing to mount: the registry must fall back to an upload session (202).
              leaf(
                'blob-mount',
                pushing(async () => {
                  try {
                    await api.blobMount(REPO1, REPO2, dig(), bytesOf(dig()), blobOpts());
                  } catch (e) {
                    if (e instanceof Unsupported) return;
                    throw e;
                  }
                  throw new CheckFailure('blob mount of a blob the source repository lacks succeeded');
                }),
              );
              break;
            case 'post cancel':
              leaf(
                'blob-post-cancel',
                () => api.blobPostCancel(REPO1),
                CONFIG.apis.blobs.uploadCancel ? undefined : 'apis.blobs.uploadCancel is off (the engine enables it only for OCI_VERSION=dev)',
              );
              break;
            default: {
              const o = chunkedMulti[name]!;
              leaf(
                'blob-patch-chunked',
                pushing(async () => {
                  const d = newChunkedBlob(name);
                  await runBlobApi('patchChunked', REPO1, d, bytesOf(d), o);
                }),
              );
            }
          }
          if (name !== 'post cancel') {
            leaf('blob-head', async (ctx) => {
              skipUnless(ctx, pushed, 'the push did not succeed, so the engine runs no head or get');
              await api.blobHeadExists(REPO1, dig(), known(bd, dig()), blobOpts());
            });
            leaf('blob-get', async (ctx) => {
              skipUnless(ctx, pushed, 'the push did not succeed, so the engine runs no head or get');
              await api.blobGetExistsFull(REPO1, dig(), known(bd, dig()), blobOpts());
            });
          }
          leaf('blob-delete', () => deleteBlob(REPO1, dig()));
          if (name === 'mount' || name === 'mount anonymous') leaf(`blob-delete (${REPO2})`, () => deleteBlob(REPO2, dig()));
        });
      }

      group('range requests', () => {
        const len = 2048;
        let dig = '';
        let body: Buffer = Buffer.alloc(0);
        let pushed = false;
        leaf('blob-post-put', async () => {
          const b = bd.genBlob({ blobSize: len, algo });
          dig = b.digest;
          body = b.bytes;
          await pushBlobAny(REPO1, dig, body);
          pushed = true;
        });
        const cr = (first: number, last: number) =>
          anyOf([expectHeader('Content-Range', `bytes ${first}-${last}/${len}`)], [expectHeader('Content-Range', `bytes ${first}-${last}/*`)]);
        const partial = (first: number, last: number) => () => [
          expectBody(body.subarray(first, last + 1)),
          expectStatus(206),
          expectHeader('Content-Length', String(last - first + 1)),
          cr(first, last),
        ];
        const ranges: Array<[string, string, () => Array<(r: Reply) => string | undefined>]> = [
          ['range 500-1499', 'bytes=500-1499', partial(500, 1499)],
          ['range 500-', 'bytes=500-', partial(500, len - 1)],
          ['range -500', 'bytes=-500', partial(len - 500, len - 1)],
          ['range 2000-5000', 'bytes=2000-5000', partial(2000, len - 1)],
          ['range 500-0', 'bytes=500-0', () => [expectStatus(416)]],
          ['range 5000-10000', 'bytes=5000-10000', () => [expectStatus(416)]],
        ];
        for (const [name, range, conds] of ranges) {
          leaf(name, async (ctx) => {
            skipUnless(ctx, pushed, 'the blob could not be pushed');
            const r = await api.blobGet(REPO1, dig, { range });
            const full = [expectStatus(200), expectHeader('Content-Length', String(len)), expectBody(body)];
            // The range answer, or (optional Range support) the whole blob.
            check(r, anyOf(conds(), full));
            if (r.status === 200) throw new Unsupported('range request answered with the full blob');
          });
        }
        leaf('blob-delete', async (ctx) => {
          skipUnless(ctx, pushed, 'the blob could not be pushed');
          await deleteBlob(REPO1, dig);
        });
      });

      // Well-known contents: the empty blob and the empty JSON object.
      const wellKnown: Array<[string, Buffer]> = [];
      if (CONFIG.data.emptyBlob) wellKnown.push(['empty', Buffer.alloc(0)]);
      wellKnown.push(['emptyJSON', Buffer.from('{}')]);
      for (const [name, value] of wellKnown) {
        group(name, () => {
          const dig = bd.addBlob(value, { algo });
          leaf('blob-post-put', () => pushBlobAny(REPO1, dig, value));
          leaf('blob-head', () => api.blobHeadExists(REPO1, dig, known(bd, dig), blobOpts()));
          leaf('blob-get', () => api.blobGetExistsFull(REPO1, dig, known(bd, dig), blobOpts()));
          leaf('blob-delete', () => deleteBlob(REPO1, dig));
        });
      }

      // Every push API with content that does not match its digest: 400.
      const badDigest: Array<[string, string, (dig: string, bytes: Buffer) => Promise<unknown>]> = [
        ['bad digest post only', 'blob-post-only', (d, b) => runBlobApi('postOnly', REPO1, d, b, { expectBadDigest: true })],
        ['bad digest post+put', 'blob-post-put', (d, b) => runBlobApi('postPut', REPO1, d, b, { expectBadDigest: true })],
        ['bad digest chunked', 'blob-patch-chunked', (d, b) => runBlobApi('patchChunked', REPO1, d, b, { expectBadDigest: true })],
        // The engine passes no put-last-chunk switch here either: the same request sequence.
        ['bad digest chunked and put chunk', 'blob-patch-chunked', (d, b) => runBlobApi('patchChunked', REPO1, d, b, { expectBadDigest: true })],
        ['bad digest stream', 'blob-patch-stream', (d, b) => runBlobApi('patchStream', REPO1, d, b, { expectBadDigest: true })],
      ];
      for (const [name, leafName, run] of badDigest) {
        group(name, () => {
          leaf(leafName, async () => {
            const { digest, bytes } = bd.genBlob({ blobSize: minChunkSize * 3 - 5, algo });
            await run(digest, Buffer.concat([bytes, Buffer.from('oh no')]));
          });
        });
      }
    });
  }

  // ---- the data sets: push, list, head, pull, referrers, delete ----

  const dataSets: DataSet[] = generateData({
    ...CONFIG.data,
    push: CONFIG.apis.push,
    tagParam: CONFIG.apis.manifests.tagParam,
    // The ~3.9 MB manifest: once is enough.
    largeManifest: backend === 'filesystem',
  });

  function dataSetChecks(id: string, td: TestData): void {
    const pushFlag = (dig: string, f: 'TagParam' | 'ExpectBadDigest') => td.pushFlags.get(dig)?.has(f) ?? false;
    const skipPull = (dig: string) => td.pullFlags.get(dig)?.has('SkipPullTest') ?? false;
    const manifestOf = (dig: string) => td.manifests.get(dig)!;

    group('push', () => {
      for (const [dig, bytes] of td.blobs) leaf(`blob-post-put ${short(dig)}`, () => pushBlobAny(REPO1, dig, bytes));
      for (const dig of td.manOrder) {
        leaf(`manifest-by-digest ${short(dig)}`, async () => {
          const tagParams = pushFlag(dig, 'TagParam') ? [...td.tags].filter(([, d]) => d === dig).map(([t]) => t) : [];
          const r = await api.manifestPut(REPO1, dig, dig, manifestOf(dig), {
            ...manifestOpts({ expectBadDigest: pushFlag(dig, 'ExpectBadDigest') }),
            referrers: CONFIG.apis.referrer,
            tagParams,
          });
          if (tagParams.length === 0) return;
          // Each tag parameter must come back in an OCI-Tag header (one or comma separated).
          const echoed = (r.headers['oci-tag'] ?? []).flatMap((v) => v.split(',').map((x) => x.trim()));
          const missing = tagParams.filter((t) => !echoed.includes(t));
          for (const t of tagParams) if (echoed.includes(t)) td.tagPushed.add(t);
          if (missing.length) throw new Unsupported(`no OCI-Tag header for ${missing.join(', ')}`);
        });
      }
      for (const [tag, dig] of td.tags) {
        leaf(`manifest-by-tag ${tag}`, async (ctx) => {
          skipUnless(ctx, !td.tagPushed.has(tag), 'the tag was pushed as a tag parameter');
          await api.manifestPut(REPO1, tag, dig, manifestOf(dig), {
            ...manifestOpts({ expectBadDigest: pushFlag(dig, 'ExpectBadDigest') }),
            referrers: CONFIG.apis.referrer,
          });
          td.tagPushed.add(tag);
        });
      }
    });

    leaf(
      'tag-list',
      async () => {
        const tags = await api.tagList(REPO1);
        const errs: string[] = [];
        for (const tag of td.tags.keys()) if (!tags.includes(tag)) errs.push(`tag ${tag} missing from the listing`);
        if (tags.length >= 2) {
          // ?last= with the tag at the middle: only the tags after it come back.
          const sorted = [...tags].sort();
          const end = Math.floor(sorted.length / 2);
          const last = sorted[end - 1]!;
          const partial = await api.tagList(REPO1, last);
          for (const t of sorted.slice(0, end)) if (partial.includes(t)) errs.push(`tag ${t} listed with last=${last}`);
          for (const t of sorted.slice(end)) if (!partial.includes(t)) errs.push(`tag ${t} missing with last=${last}`);
        }
        if (errs.length) throw new CheckFailure(errs.join('; '));
      },
      CONFIG.apis.tags.list ? undefined : 'apis.tags.list is off',
    );

    group('head', () => {
      for (const [tag, dig] of td.tags) {
        if (skipPull(dig)) continue;
        leaf(`manifest-head-by-tag ${tag}`, () => api.manifestHeadExists(REPO1, tag, dig, manifestOf(dig), manifestOpts()));
      }
      for (const dig of td.manOrder) {
        if (skipPull(dig)) continue;
        leaf(`manifest-head-by-digest ${short(dig)}`, () => api.manifestHeadExists(REPO1, dig, dig, manifestOf(dig), manifestOpts()));
      }
      for (const dig of td.blobs.keys()) leaf(`blob-head ${short(dig)}`, () => api.blobHeadExists(REPO1, dig, known(td, dig), blobOpts()));
    });

    group('pull', () => {
      for (const [tag, dig] of td.tags) {
        if (skipPull(dig)) continue;
        leaf(`manifest-by-tag ${tag}`, () => api.manifestGetExists(REPO1, tag, dig, manifestOf(dig), manifestOpts()));
      }
      for (const dig of td.manOrder) {
        if (skipPull(dig)) continue;
        leaf(`manifest-by-digest ${short(dig)}`, () => api.manifestGetExists(REPO1, dig, dig, manifestOf(dig), manifestOpts()));
      }
      for (const dig of td.blobs.keys()) leaf(`blob-get ${short(dig)}`, () => api.blobGetExistsFull(REPO1, dig, known(td, dig), blobOpts()));
    });

    if (td.referrers.size > 0) {
      leaf(
        'referrers',
        async () => {
          const errs: string[] = [];
          let unsupported = '';
          const matches = (got: Desc, goal: Desc) =>
            got.digest === goal.digest &&
            got.mediaType === goal.mediaType &&
            got.size === goal.size &&
            (got.artifactType ?? '') === (goal.artifactType ?? '') &&
            Object.entries(goal.annotations ?? {}).every(([k, v]) => got.annotations?.[k] === v);
          for (const [subject, goals] of td.referrers) {
            const all = await api.referrersList(REPO1, subject);
            for (const goal of goals) {
              if (!all.manifests.some((m) => matches(m, goal))) errs.push(`subject ${short(subject)}: referrer ${goal.digest} missing`);
            }
            // Filtered by each artifactType the referrers have.
            for (const at of new Set(goals.map((g) => g.artifactType ?? ''))) {
              const filtered = await api.referrersList(REPO1, subject, at);
              const applied = header(filtered.reply, 'oci-filters-applied')
                .split(',')
                .some((f) => f.trim() === 'artifactType');
              if (!applied) unsupported = 'OCI-Filters-Applied does not name artifactType';
              for (const goal of goals) {
                if ((!applied || goal.artifactType === at) && !filtered.manifests.some((m) => matches(m, goal))) {
                  errs.push(`subject ${short(subject)}, artifactType=${at}: referrer ${goal.digest} missing`);
                }
              }
              if (applied) {
                for (const m of filtered.manifests) {
                  if ((m.artifactType ?? '') !== at) errs.push(`artifactType=${at} filter returned ${m.digest} of type ${m.artifactType}`);
                }
              }
            }
          }
          // A missing filter header makes the engine report "unsupported"; real mismatches fail first.
          if (errs.length) throw new CheckFailure(errs.join('; '));
          if (unsupported) throw new Unsupported(unsupported);
        },
        CONFIG.apis.referrer ? undefined : 'apis.referrer is off',
      );
    }

    deleteChecks(td);
    void id;
  }

  /** TestDelete: tags (the pushed ones), manifests newest first, then blobs; each gone at once. */
  function deleteChecks(td: TestData): void {
    group('delete', () => {
      for (const [tag] of td.tags) {
        leaf(
          `tag-delete ${tag}`,
          async (ctx) => {
            skipUnless(ctx, td.tagPushed.has(tag), 'the tag was never pushed');
            await api.manifestDelete(REPO1, tag);
            if (CONFIG.apis.tags.atomic) check(await api.manifestHead(REPO1, tag), expectStatus(404));
          },
          CONFIG.apis.tags.delete ? undefined : 'apis.tags.delete is off',
        );
      }
      for (const dig of [...td.manOrder].reverse()) {
        leaf(
          `manifest-delete ${short(dig)}`,
          async () => {
            await api.manifestDelete(REPO1, dig);
            if (CONFIG.apis.manifests.atomic) check(await api.manifestHead(REPO1, dig), expectStatus(404));
          },
          CONFIG.apis.manifests.delete ? undefined : 'apis.manifests.delete is off',
        );
      }
      for (const dig of td.blobs.keys()) {
        leaf(`blob-delete ${short(dig)}`, () => deleteBlob(REPO1, dig), CONFIG.apis.blobs.delete ? undefined : 'apis.blobs.delete is off');
      }
    });
  }

  for (const ds of dataSets) {
    if (ds.disabled !== undefined) {
      leaf(ds.id, async () => undefined, ds.disabled);
      continue;
    }
    group(ds.id, () => dataSetChecks(ds.id, ds.td));
  }

  // ---- manifest error conditions ----

  group('missing-manifest', () => {
    leaf('by-digest', async () => {
      check(await api.manifestGet(REPO1, digestOf('sha256', randText() + randText())), expectStatus(404));
    });
    leaf('by-tag', async () => {
      check(await api.manifestGet(REPO1, `missing-${randText().toLowerCase().slice(0, 20)}`), expectStatus(404));
    });
  });

  group('invalid-digest-format', () => {
    const td = new TestData('Invalid Manifest Digest');
    const manDig = td.genManifestFull({ layerCount: 1 });
    for (const [dig, bytes] of td.blobs) leaf(`blob-post-put ${short(dig)}`, () => pushBlobAny(REPO1, dig, bytes));
    leaf('manifest-put', async () => {
      await api.manifestPut(REPO1, 'sha256:baddigeststring', manDig, td.manifests.get(manDig)!, {
        ...manifestOpts({ expectBadDigest: true }),
        referrers: CONFIG.apis.referrer,
      });
    });
    leaf('manifest-get', async () => {
      check(await api.manifestGet(REPO1, 'sha256:baddigeststring'), expectStatus(404, 400));
    });
    deleteChecks(td);
  });
});
