import pLimit from 'p-limit';
import { HttpError, NotFoundError, RegctlError } from '../errors.js';
import type { ManifestData } from '../oci/manifest.js';
import { floatingTargets, type FloatingOptions } from '../policy/floating-tags.js';
import type { RetagRepository } from './repository.js';

/**
 * Point floating tags at the highest release of their line, safely while other runs do the same.
 *
 * Each round reads where the tags point FIRST, then lists the releases, then writes. A release's
 * exact tag is written before any run moves a floating tag to it, so:
 *  - with compare-and-swap (`tag-cas`): a write conditioned on what was read succeeds only if no
 *    one moved the tag since, and then every release written before that move was in the listing;
 *    a 412 means "look again".
 *  - without: write, then the next round re-reads and repairs; the run stops after a round that
 *    found everything right. Whoever writes last also checks last, so the final state is right.
 * Bounded: after MAX_ROUNDS rounds without a stable answer it gives up with TAG_UNSTABLE.
 */

export const MAX_ROUNDS = 12;
/** A PUT answered 500 is tried again this many times (a registry under concurrent writes may fail one). */
const TRANSIENT_RETRIES = 3;

export interface ConvergeOptions extends FloatingOptions {
  /** Manifests already fetched, by digest. */
  known?: Map<string, ManifestData>;
  /** Force write-and-repair even where compare-and-swap is offered (tests). */
  noCas?: boolean;
  concurrency?: number;
}

export interface ConvergeResult {
  /** Tags this run wrote (with any digest). */
  tags: Set<string>;
  rounds: number;
  cas: boolean;
}

export async function convergeFloating(repository: RetagRepository, floating: string[], options: ConvergeOptions = {}): Promise<ConvergeResult> {
  const features = !options.noCas && repository.features && repository.putManifestIf ? await repository.features() : new Set<string>();
  const cas = features.has('tag-cas');
  const known = options.known ?? new Map<string, ManifestData>();
  const written = new Set<string>();
  const limit = options.concurrency ?? 8;

  const manifest = async (digest: string): Promise<ManifestData> => {
    let m = known.get(digest);
    if (!m) {
      m = await withRetries(() => repository.getManifest(digest));
      known.set(digest, m);
    }
    return m;
  };

  for (let round = 1; round <= MAX_ROUNDS; round++) {
    // 1. where the floating tags point now, 2. the releases present (this order matters, see above).
    const current = await pLimit(limit).map(floating, async (t) => (await withRetries(() => repository.headManifest(t)))?.digest);
    const targets = floatingTargets(await listTagsOrNone(repository), options);
    const releases = [...new Set(floating.map((t) => targets.get(t)).filter((r): r is string => r !== undefined))];
    const releaseDigests = new Map<string, string | undefined>();
    const heads = await pLimit(limit).map(releases, (r) => withRetries(() => repository.headManifest(r)));
    releases.forEach((r, i) => releaseDigests.set(r, heads[i]?.digest));

    let again = false;
    for (const [i, tag] of floating.entries()) {
      const release = targets.get(tag);
      // No release of this line is left (deleted meanwhile): nothing to point at; leave the tag.
      if (release === undefined) continue;
      const want = releaseDigests.get(release);
      if (want === undefined) {
        // Listed, gone by the HEAD: the listing is stale, look again.
        again = true;
        continue;
      }
      const now = current[i];
      if (now === want) continue;
      const data = await manifest(want);
      if (cas) {
        const ok = await withRetries(() => repository.putManifestIf!(tag, data, now));
        if (ok) written.add(tag);
        else again = true;
      } else {
        await withRetries(() => repository.putManifest(tag, data));
        written.add(tag);
        again = true;
      }
    }
    if (!again) return { tags: written, rounds: round, cas };
  }
  throw new RegctlError(
    'TAG_UNSTABLE',
    `floating tags ${floating.join(', ')} of ${repository.description} did not settle after ${MAX_ROUNDS} rounds (other writers keep moving them); run regctl retag --semver --rebuild when they are done`,
  );
}

/** `fn` again after an HTTP 500: distribution answers one now and then while another client writes the same tag. */
export async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 500 || attempt >= TRANSIENT_RETRIES) throw e;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
  }
}

/** The repository's tags; none when the registry says the repository is unknown (distribution does, while it holds only untagged manifests). */
export async function listTagsOrNone(repository: RetagRepository): Promise<string[]> {
  try {
    return await withRetries(() => repository.listTags());
  } catch (e) {
    if (e instanceof NotFoundError) return [];
    throw e;
  }
}
