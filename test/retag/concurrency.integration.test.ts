import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retagSemver } from '../../src/retag/semver-retag.js';
import { rebuildFloating } from '../../src/retag/rebuild.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { BACKENDS, isolatedEnv, openRepository, tagDigests, type Backend } from './backends.js';

/**
 * The race: five `retag --semver REPO@DIGEST --version 6.0.N` (N = 1..5) at once. After
 * they all finish, 6.0, 6 and latest must point at 6.0.5, as if they had run one after another.
 * Each run has its own client (its own connections), as separate processes would; 20 rounds,
 * each on a fresh repository, in a different start order.
 */

const ROUNDS = 20;
const RUNS = 5;

describe.each(BACKENDS)('concurrent retag --semver against $name', (kind) => {
  let backend: Backend;
  const env = isolatedEnv();
  const images: TestImage[] = Array.from({ length: RUNS }, () => makeImage());
  const digest = (i: number): string => images[i]!.manifest.digest;

  beforeAll(async () => {
    backend = await kind.start();
  });
  afterAll(async () => {
    await backend?.close();
  });

  it(`${ROUNDS} rounds of ${RUNS} parallel releases: no round ends with a floating tag behind`, async () => {
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = `race${round}`;
      const seed = openRepository(env, backend.registry, name);
      for (const img of images) await pushImage(seed, img);
      // Rotate the start order each round.
      const order = Array.from({ length: RUNS }, (_, i) => (i + round) % RUNS);
      const results = await Promise.allSettled(
        order.map((i) =>
          retagSemver({ repository: openRepository(env, backend.registry, name), ref: digest(i), version: `6.0.${i + 1}` }),
        ),
      );
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      const got = await tagDigests(seed);
      const want: Record<string, string> = { '6': digest(4), '6.0': digest(4), latest: digest(4) };
      for (let i = 0; i < RUNS; i++) want[`6.0.${i + 1}`] = digest(i);
      if (JSON.stringify(got) !== JSON.stringify(Object.fromEntries(Object.entries(want).sort()))) {
        wrong.push(`round ${round}: 6.0 -> ${short(got['6.0'])}, 6 -> ${short(got['6'])}, latest -> ${short(got.latest)}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 240_000);

  it('--rebuild puts every floating tag back on the highest release present', async () => {
    const repo = openRepository(env, backend.registry, 'rebuild');
    for (const [i, v] of ['1.2.0', '1.3.0', '2.0.0'].entries()) await pushImage(repo, images[i]!, v);
    await pushImage(repo, images[3]!, '2.1.0-rc.2');
    await pushImage(repo, images[4]!, '2.1.0-rc.10');
    // A mistaken push moved latest and 1 backwards; 2 never existed.
    await pushImage(repo, images[0]!, 'latest');
    await pushImage(repo, images[0]!, '1');
    const dry = await rebuildFloating(repo, { prereleaseTags: true, dryRun: true });
    expect(dry.applied).toEqual([]);
    expect(dry.entries.map((e) => `${e.tag}=${e.release}:${e.action}`)).toEqual([
      '1=1.3.0:move', '1.2=1.2.0:create', '1.3=1.3.0:create', '2=2.0.0:create', '2.0=2.0.0:create', '2.1-rc=2.1.0-rc.10:create', 'latest=2.0.0:move',
    ]);
    const r = await rebuildFloating(repo, { prereleaseTags: true });
    expect(r.applied.sort()).toEqual(['1', '1.2', '1.3', '2', '2.0', '2.1-rc', 'latest']);
    expect(await tagDigests(repo)).toEqual({
      '1': digest(1), '1.2': digest(0), '1.2.0': digest(0), '1.3': digest(1), '1.3.0': digest(1),
      '2': digest(2), '2.0': digest(2), '2.0.0': digest(2), '2.1-rc': digest(4), '2.1.0-rc.10': digest(4), '2.1.0-rc.2': digest(3),
      latest: digest(2),
    });
    const again = await rebuildFloating(repo, { prereleaseTags: true });
    expect(again.applied).toEqual([]);
  });
});

function short(d: string | undefined): string {
  return d ? d.slice(7, 19) : '-';
}
