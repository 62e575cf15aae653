import { describe, expect, it } from 'vitest';
import { decideTags, decideUntagged, deletePlan, parseAge, type RetentionRules, type TaggedImage } from '../../src/policy/retention.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

/** Repository: tag -> [image, age in days (undefined: unknown)]. Same image letter = same digest. */
function repo(spec: Record<string, [string, number | undefined]>): TaggedImage[] {
  return Object.entries(spec).map(([tag, [img, age]]) => ({ tag, digest: `sha256:${img.repeat(64).slice(0, 64)}`, ...(age !== undefined ? { time: NOW - age * DAY } : {}) }));
}
const kept = (images: TaggedImage[], rules: RetentionRules): string[] =>
  decideTags(images, rules, NOW).filter((v) => !v.remove).map((v) => v.tag).sort();

const SEMVER = repo({
  '1.8.0': ['a', 400], '1.8.1': ['b', 300],
  '1.9.0': ['c', 200], '1.9.1': ['d', 100], '1.9.2': ['e', 50],
  '1.9': ['e', 50], '1': ['e', 50], latest: ['e', 50], '1.8': ['b', 300],
  '2.0.0-rc.1': ['f', 40], '2.0-rc': ['f', 40],
  'build-1': ['g', 90], 'build-2': ['h', 60], 'build-3': ['i', 10], 'build-4': ['j', undefined],
  'stable': ['d', 100],
});

describe('decideTags', () => {
  const cases: Array<[string, TaggedImage[], RetentionRules, string[]]> = [
    ['no removing rule keeps everything', SEMVER, { keep: [/x/] }, SEMVER.map((i) => i.tag).sort()],
    ['--older-than 30d: floating tags, their images, newest releases, unknown age stay', SEMVER, { olderThanMs: 30 * DAY },
      ['1', '1.8', '1.8.1', '1.9', '1.9.2', '2.0-rc', '2.0.0-rc.1', 'build-3', 'build-4', 'latest']],
    ['--keep-last 2 ranks the candidates by time, unknown last', SEMVER, { keepLast: 2 },
      ['1', '1.8', '1.8.1', '1.9', '1.9.2', '2.0-rc', '2.0.0-rc.1', 'build-3', 'build-2', 'latest']],
    ['--match ^build- only touches builds; --keep-last 1', SEMVER, { match: /^build-/, keepLast: 1 },
      SEMVER.map((i) => i.tag).filter((t) => !['build-1', 'build-2', 'build-4'].includes(t)).sort()],
    ['--keep-releases 2 keeps two per X.Y line', SEMVER, { olderThanMs: 30 * DAY, keepReleases: 2 },
      ['1', '1.8', '1.8.0', '1.8.1', '1.9', '1.9.1', '1.9.2', '2.0-rc', '2.0.0-rc.1', 'build-3', 'build-4', 'latest']],
    ['--keep wins over --older-than', SEMVER, { olderThanMs: 30 * DAY, keep: [/^stable$/, /^1\.8\.0$/] },
      ['1', '1.8', '1.8.0', '1.8.1', '1.9', '1.9.2', '2.0-rc', '2.0.0-rc.1', 'build-3', 'build-4', 'latest', 'stable']],
    ['--no-semver protects nothing by name', SEMVER, { olderThanMs: 45 * DAY, semver: false }, ['2.0-rc', '2.0.0-rc.1', 'build-3', 'build-4']],
    ['--keep-last and --older-than: either keeps', SEMVER, { semver: false, keepLast: 1, olderThanMs: 45 * DAY }, ['2.0-rc', '2.0.0-rc.1', 'build-3', 'build-4']],
    ['builds only, keep-last 2 by time (not by name)', repo({ 'b-9': ['a', 5], 'b-10': ['b', 1], 'b-8': ['c', 3] }), { keepLast: 2 }, ['b-10', 'b-8']],
    ['latest protects its image even without releases', repo({ latest: ['a', 90], 'sha-1': ['a', 90], 'sha-2': ['b', 80] }), { olderThanMs: DAY }, ['latest', 'sha-1']],
  ];
  it.each(cases)('%s', (_name, images, rules, want) => {
    expect(kept(images, rules)).toEqual([...want].sort());
  });

  it('reports why', () => {
    const v = new Map(decideTags(SEMVER, { olderThanMs: 30 * DAY, keepLast: 1 }, NOW).map((x) => [x.tag, x]));
    expect(v.get('1.9')!.reason).toBe('floating tag');
    expect(v.get('1.9.2')!.reason).toBe('image of floating tag 1');
    expect(v.get('1.8.1')!.reason).toBe('image of floating tag 1.8');
    expect(v.get('stable')).toMatchObject({ remove: true, reason: 'not among the 1 newest, older than 30d' });
    expect(v.get('build-3')).toMatchObject({ remove: false, reason: 'one of the 1 newest, newer than 30d' });
    expect(v.get('build-4')).toMatchObject({ remove: false, reason: 'age unknown' });
  });

  it('deletePlan: a digest goes whole only when none of its tags stays', () => {
    const images = repo({ old: ['a', 90], 'old-alias': ['a', 90], shared: ['b', 90], fresh: ['b', 1] });
    const verdicts = decideTags(images, { olderThanMs: 30 * DAY, semver: false }, NOW);
    expect(verdicts.filter((x) => x.remove).map((x) => x.tag)).toEqual(['old', 'old-alias', 'shared']);
    expect(deletePlan(verdicts)).toEqual({ digests: [images[0]!.digest], tags: ['shared'] });
    const v2 = decideTags(images, { match: /^(old|shared)$/, semver: false }, NOW);
    expect(deletePlan(v2)).toEqual({ digests: [], tags: ['old', 'shared'] });
  });
});

describe('decideUntagged', () => {
  it('keeps what a kept tag reaches (index children, referrers) and what is in the grace period', () => {
    const m = (d: string, extra: object = {}) => ({ digest: d, ...extra });
    const got = decideUntagged(
      [m('idx', { children: ['c1', 'c2'] }), m('c1'), m('c2'), m('sig', { subject: 'idx' }), m('orphan', { time: NOW - 2 * DAY }), m('young', { time: NOW - 1000 }), m('unknown')],
      ['idx'],
      NOW,
      DAY,
    );
    expect(got).toEqual([
      { digest: 'orphan', remove: true, reason: 'untagged, no tag reaches it' },
      { digest: 'unknown', remove: false, reason: 'untagged, age unknown' },
      { digest: 'young', remove: false, reason: 'untagged, within the 1d grace period' },
    ]);
  });
});

describe('parseAge', () => {
  it.each([['30d', 30 * DAY], ['12h', 12 * 3_600_000], ['2w', 14 * DAY], ['45s', 45_000], ['30', undefined], ['-1d', undefined], ['1y', undefined]])('%s', (text, ms) => {
    expect(parseAge(text)).toBe(ms);
  });
});
