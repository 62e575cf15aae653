import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { planChanges, planSemverTags, planTagNames, shortDigest, type SemverPlan } from '../../src/retag/plan.js';
import { parseVersionTag } from '../../src/policy/version-tags.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const A = d('a');
const B = d('b');
const C = d('c');
const N = d('e'); // the digest being released

interface Case {
  name: string;
  version: string;
  tags: Record<string, string>;
  force?: boolean;
  noLatest?: boolean;
  /** "tag action" or "tag action: reason", in plan order. */
  want: string[];
  refused?: boolean;
}

// A repository where 1.9.1 is the newest release and every floating tag points at it.
const at191 = { '1.9.1': A, '1.9': A, '1': A, latest: A };
// 1.8.4 on an older line, 1.9.2 newest.
const twoLines = { '1.8.4': B, '1.8': B, '1.9.2': A, '1.9': A, '1': A, latest: A };
const twoMajors = { '1.9.2': A, '1.9': A, '1': A, '2.0.0': B, '2.0': B, '2': B, latest: B };

const cases: Case[] = [
  // first releases
  { name: 'first release, empty repository', version: '1.0.0', tags: {}, want: ['1.0.0 create', '1.0 create', '1 create', 'latest create'] },
  { name: 'first release, only non-semver tags', version: '1.0.0', tags: { 'sha-3f2a1c': N, main: A, dev: B }, want: ['1.0.0 create', '1.0 create', '1 create', 'latest create'] },
  { name: 'first release, latest pushed by hand elsewhere', version: '1.0.0', tags: { latest: C }, want: ['1.0.0 create', '1.0 create', '1 create', 'latest move'] },
  // newest line
  { name: 'patch on the newest line', version: '1.9.2', tags: at191, want: ['1.9.2 create', '1.9 move', '1 move', 'latest move'] },
  { name: 'new minor on the newest line', version: '1.10.0', tags: at191, want: ['1.10.0 create', '1.10 create', '1 move', 'latest move'] },
  { name: 'new major', version: '2.0.0', tags: twoLines, want: ['2.0.0 create', '2.0 create', '2 create', 'latest move'] },
  { name: 'floating X.Y pushed by hand is taken over', version: '1.9.0', tags: { '1.9': C }, want: ['1.9.0 create', '1.9 move', '1 create', 'latest create'] },
  // numeric comparison
  { name: '1.10 > 1.9: a 1.9 patch leaves 1 and latest on 1.10', version: '1.9.3', tags: { '1.10.0': A, '1.10': A, '1.9.2': B, '1.9': B, '1': A, latest: A }, want: ['1.9.3 create', '1.9 move', '1 skipped: 1.10.0 exists', 'latest skipped: 1.10.0 exists'] },
  { name: '1.9.10 > 1.9.9', version: '1.9.9', tags: { '1.9.10': A, '1.9': A }, want: ['1.9.9 create', '1.9 skipped: 1.9.10 exists', '1 skipped: 1.9.10 exists', 'latest skipped: 1.9.10 exists'] },
  { name: '10.0.0 > 9.0.0', version: '9.1.0', tags: { '10.0.0': A, latest: A, '9.0.0': B, '9': B }, want: ['9.1.0 create', '9.1 create', '9 move', 'latest skipped: 10.0.0 exists'] },
  // hotfixes
  { name: 'hotfix on an older minor', version: '1.8.5', tags: twoLines, want: ['1.8.5 create', '1.8 move', '1 skipped: 1.9.2 exists', 'latest skipped: 1.9.2 exists'] },
  { name: 'hotfix on an older major', version: '1.9.3', tags: twoMajors, want: ['1.9.3 create', '1.9 move', '1 move', 'latest skipped: 2.0.0 exists'] },
  { name: 'new minor on an older major', version: '1.10.0', tags: twoMajors, want: ['1.10.0 create', '1.10 create', '1 move', 'latest skipped: 2.0.0 exists'] },
  { name: 'older patch than the newest of its line, no floating tags yet', version: '1.9.2', tags: { '1.9.3': A }, want: ['1.9.2 create', '1.9 skipped: 1.9.3 exists', '1 skipped: 1.9.3 exists', 'latest skipped: 1.9.3 exists'] },
  // pre-releases
  { name: 'pre-release moves no floating tag', version: '2.0.0-rc.1', tags: twoLines, want: ['2.0.0-rc.1 create', '2.0 skipped: 2.0.0-rc.1 is a pre-release', '2 skipped: 2.0.0-rc.1 is a pre-release', 'latest skipped: 2.0.0-rc.1 is a pre-release'] },
  { name: 'second pre-release', version: '2.0.0-rc.2', tags: { ...twoLines, '2.0.0-rc.1': C }, want: ['2.0.0-rc.2 create', '2.0 skipped: 2.0.0-rc.2 is a pre-release', '2 skipped: 2.0.0-rc.2 is a pre-release', 'latest skipped: 2.0.0-rc.2 is a pre-release'] },
  { name: 'release after its pre-release', version: '2.0.0', tags: { ...twoLines, '2.0.0-rc.1': C }, want: ['2.0.0 create', '2.0 create', '2 create', 'latest move'] },
  { name: 'a higher pre-release in the repo does not block latest', version: '1.9.3', tags: { ...twoLines, '2.0.0-rc.1': C }, want: ['1.9.3 create', '1.9 move', '1 move', 'latest move'] },
  { name: 'a pre-release of a higher patch does not block X.Y', version: '1.9.2', tags: { '1.9.3-rc.1': C, '1.9.1': A, '1.9': A }, want: ['1.9.2 create', '1.9 move', '1 create', 'latest create'] },
  { name: 'pre-release with a v prefix', version: 'v3.0.0-beta.1', tags: {}, want: ['v3.0.0-beta.1 create', 'v3.0 skipped: v3.0.0-beta.1 is a pre-release', 'v3 skipped: v3.0.0-beta.1 is a pre-release', 'latest skipped: v3.0.0-beta.1 is a pre-release'] },
  // v prefix
  { name: 'v-prefixed first release keeps the v in derived tags', version: 'v1.9.2', tags: {}, want: ['v1.9.2 create', 'v1.9 create', 'v1 create', 'latest create'] },
  { name: 'v-prefixed patch', version: 'v1.9.2', tags: { 'v1.9.1': A, 'v1.9': A, v1: A, latest: A }, want: ['v1.9.2 create', 'v1.9 move', 'v1 move', 'latest move'] },
  { name: 'v family floating tags ignore un-prefixed versions; latest does not', version: 'v1.9.2', tags: { '1.9.3': A, '1.9': A, '1': A, latest: A }, want: ['v1.9.2 create', 'v1.9 create', 'v1 create', 'latest skipped: 1.9.3 exists'] },
  { name: 'un-prefixed floating tags ignore v versions; latest does not', version: '1.9.2', tags: { 'v1.9.5': A, 'v1.9': A }, want: ['1.9.2 create', '1.9 create', '1 create', 'latest skipped: v1.9.5 exists'] },
  { name: 'equal version in the other family still moves latest', version: 'v1.9.2', tags: { '1.9.2': A, latest: A }, want: ['v1.9.2 create', 'v1.9 create', 'v1 create', 'latest move'] },
  // 0.x
  { name: '0.x first release', version: '0.1.0', tags: {}, want: ['0.1.0 create', '0.1 create', '0 create', 'latest create'] },
  { name: '0.10 > 0.9: 0.9 patch', version: '0.9.5', tags: { '0.10.0': A, '0.10': A, '0': A, latest: A, '0.9.4': B, '0.9': B }, want: ['0.9.5 create', '0.9 move', '0 skipped: 0.10.0 exists', 'latest skipped: 0.10.0 exists'] },
  { name: '0.x to 1.0.0 leaves 0 alone', version: '1.0.0', tags: { '0.9.5': A, '0.9': A, '0': A, latest: A }, want: ['1.0.0 create', '1.0 create', '1 create', 'latest move'] },
  // non-semver tags
  { name: 'tags that only look like versions are ignored', version: '1.9.2', tags: { '9.9': A, '9': A, v9: A, '9.9.9.9': A, '09.1.1': A, 'V9.0.0': A, 'release-9.0.0': A, '9.0.0_1': A, latest: A }, want: ['1.9.2 create', '1.9 create', '1 create', 'latest move'] },
  // re-runs (idempotence)
  { name: 're-run of the same version changes nothing', version: '1.9.2', tags: { '1.9.2': N, '1.9': N, '1': N, latest: N }, want: ['1.9.2 unchanged', '1.9 unchanged', '1 unchanged', 'latest unchanged'] },
  { name: 're-run after newer releases: nothing moves back', version: '1.9.2', tags: { '1.9.2': N, '1.9.3': A, '1.9': A, '1': A, latest: A }, want: ['1.9.2 unchanged', '1.9 skipped: 1.9.3 exists', '1 skipped: 1.9.3 exists', 'latest skipped: 1.9.3 exists'] },
  { name: 're-run completes a run that failed midway', version: '1.9.2', tags: { '1.9.1': A, '1.9.2': N, '1.9': N, '1': A, latest: A }, want: ['1.9.2 unchanged', '1.9 unchanged', '1 move', 'latest move'] },
  // --force
  { name: 'exact version on another digest is refused', version: '1.9.2', tags: { '1.9.2': A, '1.9': A, '1': A, latest: A }, refused: true, want: ['1.9.2 skipped: points at another digest (use --force)', '1.9 skipped: 1.9.2 was not moved', '1 skipped: 1.9.2 was not moved', 'latest skipped: 1.9.2 was not moved'] },
  { name: 'refused pre-release', version: '2.0.0-rc.1', tags: { '2.0.0-rc.1': A }, refused: true, want: ['2.0.0-rc.1 skipped: points at another digest (use --force)', '2.0 skipped: 2.0.0-rc.1 was not moved', '2 skipped: 2.0.0-rc.1 was not moved', 'latest skipped: 2.0.0-rc.1 was not moved'] },
  { name: '--force moves the exact version and the floating tags', version: '1.9.2', force: true, tags: { '1.9.2': A, '1.9': A, '1': A, latest: A }, want: ['1.9.2 move: --force', '1.9 move', '1 move', 'latest move'] },
  { name: '--force still respects newer releases', version: '1.9.2', force: true, tags: { '1.9.2': A, '1.9.3': B, '1.9': B, '1': B, latest: B }, want: ['1.9.2 move: --force', '1.9 skipped: 1.9.3 exists', '1 skipped: 1.9.3 exists', 'latest skipped: 1.9.3 exists'] },
  { name: '--force on an unchanged tag is a no-op', version: '1.9.2', force: true, tags: { '1.9.2': N, '1.9': N, '1': N, latest: N }, want: ['1.9.2 unchanged', '1.9 unchanged', '1 unchanged', 'latest unchanged'] },
  // --no-latest
  { name: '--no-latest', version: '1.9.2', noLatest: true, tags: at191, want: ['1.9.2 create', '1.9 move', '1 move', 'latest skipped: --no-latest'] },
  { name: '--no-latest on a first release', version: '1.0.0', noLatest: true, tags: {}, want: ['1.0.0 create', '1.0 create', '1 create', 'latest skipped: --no-latest'] },
  { name: '--no-latest with a pre-release', version: '1.0.0-alpha', noLatest: true, tags: {}, want: ['1.0.0-alpha create', '1.0 skipped: 1.0.0-alpha is a pre-release', '1 skipped: 1.0.0-alpha is a pre-release', 'latest skipped: --no-latest'] },
];

function render(plan: SemverPlan): string[] {
  return plan.entries.map((e) => `${e.tag} ${e.action}${e.reason ? `: ${e.reason}` : ''}`);
}

function tagList(tags: Record<string, string>, noLatest?: boolean): Array<{ tag: string; digest?: string }> {
  // Like the executor: with --no-latest, latest's digest is not looked up.
  return Object.entries(tags).map(([tag, digest]) => (noLatest && tag === 'latest' ? { tag } : { tag, digest }));
}

describe('semver tag planner', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$name', (c) => {
    const plan = planSemverTags({ version: c.version, digest: N, tags: tagList(c.tags, c.noLatest), force: c.force, noLatest: c.noLatest });
    expect(render(plan)).toEqual(c.want);
    expect(plan.refused !== undefined).toBe(Boolean(c.refused));
    expect(plan.version).toBe(c.version);
    for (const e of plan.entries) {
      expect(e.newDigest).toBe(N);
      if (!(c.noLatest && e.tag === 'latest')) expect(e.oldDigest).toBe(c.tags[e.tag]);
    }
    expect(plan.entries.map((e) => e.role)).toEqual(['exact', 'minor', 'major', 'latest']);

    if (!plan.refused) {
      // Applying the plan and planning again must change nothing (idempotence).
      const after = { ...c.tags };
      for (const e of planChanges(plan)) after[e.tag] = e.newDigest;
      const again = planSemverTags({ version: c.version, digest: N, tags: tagList(after, c.noLatest), force: c.force, noLatest: c.noLatest });
      expect(planChanges(again)).toEqual([]);
    }
  });

  it('names the refused tag and its digest', () => {
    const plan = planSemverTags({ version: '1.9.2', digest: N, tags: [{ tag: '1.9.2', digest: A }] });
    expect(plan.refused).toBe(`tag 1.9.2 already points at ${A}; a released version does not move (use --force to move it)`);
    expect(planChanges(plan)).toEqual([]);
  });

  it.each(['sha-3f2a1c', '1.9', '1', 'latest', '1.9.2.1', '01.2.3', 'V1.2.3', 'v', '1.2.3+build', ''])('rejects %j as a version with a usage error', (v) => {
    expect(() => planSemverTags({ version: v, digest: N, tags: [] })).toThrow(UsageError);
    expect(() => planTagNames(v)).toThrow(/is not a semver version/);
  });

  it('lists the tags whose digests it needs', () => {
    expect(planTagNames('v1.9.2')).toEqual(['v1.9.2', 'v1.9', 'v1', 'latest']);
    expect(planTagNames('0.1.0-rc.1', { noLatest: true })).toEqual(['0.1.0-rc.1', '0.1', '0']);
  });

  it('fails loudly when an existing plan tag has no digest', () => {
    expect(() => planSemverTags({ version: '1.9.2', digest: N, tags: [{ tag: '1.9' }] })).toThrow(/needs the digest of existing tag 1.9/);
    // Tags outside the plan need none.
    expect(() => planSemverTags({ version: '1.9.2', digest: N, tags: [{ tag: '1.8.1' }, { tag: 'main' }] })).not.toThrow();
  });

  it('parses version tags strictly', () => {
    expect(parseVersionTag('v1.2.3')?.prefix).toBe('v');
    expect(parseVersionTag('1.2.3-rc.1')?.version.prerelease).toEqual(['rc', 1]);
    expect(parseVersionTag('1.2.3-01')).toBeUndefined();
    expect(shortDigest(A)).toBe('sha256:aaaaaaaaaaaa');
    expect(shortDigest(undefined)).toBe('-');
  });
});
