import type { ManifestHead } from '../content/types.js';
import { choosePlatform, describeRef } from '../content/platform.js';
import { isIndex, parseManifest, referencedBlobs, type Descriptor, type Manifest, type ManifestData } from '../oci/manifest.js';
import { MediaType } from '../oci/mediatypes.js';
import { UsageError } from '../errors.js';
import { formatPlatform } from '../oci/platform.js';
import { ensureReferrersListed } from './referrers.js';
import { placeStreamed } from './streamed.js';
import { isDigestRef, withContext, type CopySession } from './blob-transfer.js';
import type { ImageResult, TagResult } from './types.js';

/** A manifest to copy: its bytes, the blobs it needs, and the child manifests it needs first. */
interface Node {
  data: ManifestData;
  manifest: Manifest;
  children: Node[];
  blobs: Descriptor[];
}

export interface CopyOneResult {
  image: ImageResult;
  tags: TagResult[];
}

/**
 * Copy one image or index (by tag or digest at the source) to the target under `tags` (or by
 * digest when there are none). Order: blobs, then child manifests by digest, then the root,
 * then the tags. `sourceHead`, when the caller already resolved the ref (all-tags), lets an
 * up-to-date destination be recognised without fetching the manifest.
 */
export async function copyOne(
  session: CopySession,
  ref: string,
  tags: string[],
  sourceHead?: ManifestHead,
  /**
   * What the target's tags point at, already being looked up by the caller (all-tags: while
   * the source tags were resolved); a tag missing from it is looked up here.
   */
  targetHeads?: ReadonlyMap<string, Promise<ManifestHead | undefined>>,
): Promise<CopyOneResult> {
  session.checkAlive();
  const platform = session.options.platform;
  let rootData: ManifestData | undefined;
  let rootDigest = sourceHead?.digest ?? (isDigestRef(ref) ? ref : undefined);
  let rootMediaType = platform ? undefined : sourceHead?.mediaType;

  if (platform) {
    // The tagged root is the chosen child, so the index has to be read to know its digest.
    const top = await session.getManifest(ref, rootDigest);
    const chosen = await choosePlatform(session.source, describeRef(session.source.description, ref), top, platform);
    rootDigest = chosen.digest;
    rootMediaType = chosen.mediaType;
    rootData = chosen.data;
  }
  // The destination tags are looked up while the source manifest is fetched (one round trip
  // instead of two when the copy turns out to be up to date).
  const tagHeads = tags.length > 0 ? Promise.all(tags.map((t) => targetHeads?.get(t) ?? session.headTarget(t))) : undefined;
  tagHeads?.catch(() => {});
  // Streamed blobs always move (their digests were unknown), so the tags are always written too.
  let streamed = false;
  if (rootDigest === undefined && !platform && tags.length > 0) {
    // A source whose manifest exists only once its blobs have streamed: place them first.
    rootData = await streamedRoot(session, ref);
    rootDigest = rootData?.digest;
    streamed = rootData !== undefined;
  }
  if (rootDigest === undefined) {
    rootData = await session.getManifest(ref);
    rootDigest = rootData.digest;
  }
  const digest = rootDigest;

  // Up to date? Every destination tag (or the digest, when untagged) already points at it.
  const tagResults: TagResult[] = [];
  let missingTags: string[] = [];
  let upToDate: boolean;
  if (tagHeads) {
    const heads = await tagHeads;
    missingTags = streamed ? tags : tags.filter((_, i) => heads[i]?.digest !== digest);
    upToDate = missingTags.length === 0;
  } else {
    upToDate = await session.manifestAtTarget(digest);
  }

  if (!upToDate) {
    rootData ??= await session.getManifest(digest, digest);
    refuseIndexForOneImage(session, ref, rootData);
    // Tagging something the target already holds needs no content transfer.
    const present = tags.length > 0 && (await session.manifestAtTarget(digest));
    if (present) {
      session.counts.manifestsSkipped++;
    } else {
      const root = await loadTree(session, rootData);
      await transferBlobs(session, root);
      await pushChildren(session, root);
      if (tags.length === 0) await session.putManifest(digest, root.data);
    }
    // Tags last, concurrently: each is a single PUT of the same bytes.
    await Promise.all(
      missingTags.map(async (tag) => {
        session.checkAlive();
        await session.putManifest(tag, rootData!);
        session.emit({ type: 'tag', tag, digest, outcome: session.dryRun ? 'planned' : 'pushed' });
      }),
    );
  } else {
    session.counts.manifestsSkipped++;
  }
  const pushedTags = new Set(missingTags);
  for (const tag of tags) {
    const pushed = pushedTags.has(tag);
    if (!pushed) session.emit({ type: 'tag', tag, digest, outcome: 'up-to-date' });
    tagResults.push({ tag, digest, outcome: pushed ? (session.dryRun ? 'planned' : 'pushed') : 'up-to-date' });
  }
  session.emit({ type: 'image', ref, digest, upToDate });

  if (session.options.referrers) await copyReferrersOf(session, digest, rootData);

  const mediaType = rootData?.mediaType ?? rootMediaType ?? (await session.headSource(digest))?.mediaType ?? '';
  return { image: { ref, digest, mediaType, tags, upToDate }, tags: tagResults };
}

/** The image placed by streaming, when both ends can (the target hashes while it stores); else undefined. */
async function streamedRoot(session: CopySession, ref: string): Promise<ManifestData | undefined> {
  const { source, target } = session;
  if (session.dryRun || !target.putBlobComputed || !source.streamImage) return undefined;
  const image = await source.streamImage(ref);
  return image ? placeStreamed(session, image) : undefined;
}

/** Fail before any blob moves when a target that holds one image (a docker-archive) is given an index. */
function refuseIndexForOneImage(session: CopySession, ref: string, data: ManifestData): void {
  if (!session.target.holdsOneImage) return;
  const m = parseManifest(data.bytes, data.mediaType);
  if (!isIndex(m)) return;
  const platforms = m.manifests.map((d) => formatPlatform(d.platform)).join(', ');
  throw new UsageError(`${session.target.description}: a docker-archive holds one image, and ${ref} is a multi-platform index (${platforms}): choose one with --platform`);
}

/** Read the manifest tree below `data`, stopping at children the target already holds. */
async function loadTree(session: CopySession, data: ManifestData): Promise<Node> {
  const manifest = parseManifest(data.bytes, data.mediaType);
  if (!isIndex(manifest)) {
    return { data, manifest, children: [], blobs: referencedBlobs(manifest).filter(isDistributable) };
  }
  const children = await Promise.all(
    uniqueByDigest(manifest.manifests).map(async (d): Promise<Node | undefined> => {
      if (await session.manifestAtTarget(d.digest)) {
        session.counts.manifestsSkipped++;
        session.emit({ type: 'manifest', digest: d.digest, ref: d.digest, mediaType: d.mediaType, outcome: 'exists' });
        return undefined;
      }
      return loadTree(session, await session.getManifest(d.digest, d.digest));
    }),
  );
  return { data, manifest, children: children.filter((c): c is Node => c !== undefined), blobs: [] };
}

/** Start every blob of the tree at once (the session's limiter bounds them); fail on the first error. */
async function transferBlobs(session: CopySession, root: Node): Promise<void> {
  const all = new Map<string, Descriptor>();
  const walk = (n: Node): void => {
    for (const b of n.blobs) if (!all.has(b.digest)) all.set(b.digest, b);
    n.children.forEach(walk);
  };
  walk(root);
  const results = await Promise.allSettled([...all.values()].map((d) => session.copyBlob(d)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Child manifests by digest, depth first, so every manifest's children exist before it. */
async function pushChildren(session: CopySession, node: Node): Promise<void> {
  await Promise.all(
    node.children.map(async (c) => {
      await pushChildren(session, c);
      await session.putManifest(c.data.digest, c.data);
      session.emit({ type: 'manifest', digest: c.data.digest, ref: c.data.digest, mediaType: c.data.mediaType, outcome: 'pushed' });
    }),
  );
}

/** Copy artifacts that refer to `digest` (and to its children, for an index), recursively. */
async function copyReferrersOf(session: CopySession, digest: string, data: ManifestData | undefined): Promise<void> {
  const list = session.source.referrers?.bind(session.source);
  if (!list) return;
  const subjects = [digest];
  data ??= await session.getManifest(digest, digest);
  const m = parseManifest(data.bytes, data.mediaType);
  if (isIndex(m)) subjects.push(...m.manifests.map((d) => d.digest));
  for (const subject of subjects) {
    if (session.referrersSeen.has(subject)) continue;
    session.referrersSeen.add(subject);
    const found = await session.manifestLimiter.run(() => list(subject)).catch((e: unknown) => {
      throw withContext(e, `listing referrers of ${subject} at ${session.source.description}`);
    });
    for (const r of found) {
      session.checkAlive();
      if (session.referrersSeen.has(r.digest)) continue;
      session.counts.referrers++;
      // copyOne walks this referrer's own referrers in turn (referrers option is on).
      await copyOne(session, r.digest, [], { digest: r.digest, mediaType: r.mediaType, size: r.size });
    }
    await ensureReferrersListed(session, subject, found).catch((e: unknown) => {
      throw withContext(e, `listing referrers of ${subject} at ${session.target.description}`);
    });
  }
}

/** Foreign / non-distributable layers live elsewhere (their urls) and are not copied, as registries expect. */
function isDistributable(d: Descriptor): boolean {
  if (!d.urls || d.urls.length === 0) return true;
  return d.mediaType !== MediaType.dockerForeignLayerGzip && !d.mediaType.includes('.nondistributable.');
}

function uniqueByDigest(ds: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return ds.filter((d) => (seen.has(d.digest) ? false : (seen.add(d.digest), true)));
}
