import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repository } from '../../src/registry/repository.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { runCli } from '../helpers/cli.js';
import { BACKENDS, isolatedEnv, openRepository, runLogged, tagDigests, type Backend } from './backends.js';

const short = (d: string): string => d.slice(0, 'sha256:'.length + 12);

describe.each(BACKENDS)('retag --semver against $name', (kind) => {
  let backend: Backend;
  let repo: Repository;
  const env = isolatedEnv();
  const img: Record<string, TestImage> = {};
  let ref: (tag: string) => string;

  beforeAll(async () => {
    backend = await kind.start();
    repo = openRepository(env, backend.registry, 'team/app');
    ref = (tag) => `${backend.registry}/team/app:${tag}`;
    for (const v of ['1.9.1', '1.9.2', '1.8.5', '2.0.0-rc.1', '2.0.0', 'sha-3f2a1c', 'rebuild']) img[v] = makeImage();
  });
  afterAll(async () => {
    await backend?.close();
  });

  /** Push under the version tag, then retag --semver; checks that the run moved no blob at all. */
  async function release(version: string, extra: string[] = []) {
    await pushImage(repo, img[version]!, version);
    const seen = backend.requests?.length ?? 0;
    const r = await runLogged(['retag', '--semver', ref(version), ...extra], env);
    expect(r.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    if (backend.requests) {
      // The server saw the same run: every manifest PUT the client logged, and no blob request.
      const served = backend.requests.slice(seen);
      expect(served.filter((q) => q.method === 'PUT').length).toBe(r.requests.filter((q) => q.method === 'PUT').length);
      expect(served.filter((q) => q.method === 'HEAD').length).toBeGreaterThan(0);
      expect(served.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    }
    return r;
  }
  const d = (v: string): string => img[v]!.manifest.digest;

  it('the issue scenario: 1.9.1, 1.9.2, hotfix 1.8.5, 2.0.0-rc.1, 2.0.0', async () => {
    let r = await release('1.9.1');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [`1.9.1\t${short(d('1.9.1'))}\tunchanged\t`, `1.9\t- -> ${short(d('1.9.1'))}\tcreate\t`, `1\t- -> ${short(d('1.9.1'))}\tcreate\t`, `latest\t- -> ${short(d('1.9.1'))}\tcreate\t`, ''].join('\n'),
    );
    expect(r.stderr).toContain('3 tags written');
    expect(await tagDigests(repo)).toEqual({ '1.9.1': d('1.9.1'), '1.9': d('1.9.1'), '1': d('1.9.1'), latest: d('1.9.1') });

    r = await release('1.9.2');
    expect(r.code).toBe(0);
    expect(await tagDigests(repo)).toEqual({ '1.9.1': d('1.9.1'), '1.9.2': d('1.9.2'), '1.9': d('1.9.2'), '1': d('1.9.2'), latest: d('1.9.2') });

    r = await release('1.8.5');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `1.8.5\t${short(d('1.8.5'))}\tunchanged\t`,
        `1.8\t- -> ${short(d('1.8.5'))}\tcreate\t`,
        `1\t${short(d('1.9.2'))} -> ${short(d('1.8.5'))}\tskipped\t1.9.2 exists`,
        `latest\t${short(d('1.9.2'))} -> ${short(d('1.8.5'))}\tskipped\t1.9.2 exists`,
        '',
      ].join('\n'),
    );
    expect(await tagDigests(repo)).toEqual({
      '1.8.5': d('1.8.5'), '1.8': d('1.8.5'),
      '1.9.1': d('1.9.1'), '1.9.2': d('1.9.2'), '1.9': d('1.9.2'), '1': d('1.9.2'), latest: d('1.9.2'),
    });

    r = await release('2.0.0-rc.1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2.0\t- -> ');
    expect(r.stdout).toContain('skipped\t2.0.0-rc.1 is a pre-release');
    expect(await tagDigests(repo)).toEqual({
      '1.8.5': d('1.8.5'), '1.8': d('1.8.5'), '2.0.0-rc.1': d('2.0.0-rc.1'),
      '1.9.1': d('1.9.1'), '1.9.2': d('1.9.2'), '1.9': d('1.9.2'), '1': d('1.9.2'), latest: d('1.9.2'),
    });

    r = await release('2.0.0');
    expect(r.code).toBe(0);
    const final = {
      '1.8.5': d('1.8.5'), '1.8': d('1.8.5'), '2.0.0-rc.1': d('2.0.0-rc.1'),
      '1.9.1': d('1.9.1'), '1.9.2': d('1.9.2'), '1.9': d('1.9.2'), '1': d('1.9.2'),
      '2.0.0': d('2.0.0'), '2.0': d('2.0.0'), '2': d('2.0.0'), latest: d('2.0.0'),
    };
    expect(await tagDigests(repo)).toEqual(final);

    // Idempotent: a second run writes nothing and says so.
    r = await runLogged(['retag', '--semver', ref('2.0.0')], env);
    expect(r.code).toBe(0);
    expect(r.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[2])).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(r.stderr).toContain('nothing to change');
    expect(await tagDigests(repo)).toEqual(final);

    // Re-running an older release later moves nothing backwards.
    r = await runLogged(['retag', '--semver', ref('1.9.2')], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('skipped\t2.0.0 exists');
    expect(await tagDigests(repo)).toEqual(final);

    // --version for a CI build tag, --dry-run first: the plan, and nothing changes.
    await pushImage(repo, img['sha-3f2a1c']!, 'sha-3f2a1c');
    const sha = d('sha-3f2a1c');
    r = await runLogged(['retag', '--semver', ref('sha-3f2a1c'), '--version', '2.1.0', '--dry-run', '--json'], env);
    expect(r.code).toBe(0);
    expect(r.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    const plan = JSON.parse(r.stdout) as { version: string; digest: string; dryRun: boolean; entries: Array<{ tag: string; action: string; oldDigest?: string; applied: boolean }> };
    expect(plan.version).toBe('2.1.0');
    expect(plan.digest).toBe(sha);
    expect(plan.dryRun).toBe(true);
    expect(plan.entries.map((e) => [e.tag, e.action, e.oldDigest ?? null, e.applied])).toEqual([
      ['2.1.0', 'create', null, false],
      ['2.1', 'create', null, false],
      ['2', 'move', d('2.0.0'), false],
      ['latest', 'move', d('2.0.0'), false],
    ]);
    expect(await tagDigests(repo)).toEqual({ ...final, 'sha-3f2a1c': sha });

    r = await runLogged(['retag', '--semver', ref('sha-3f2a1c'), '--version', '2.1.0', '--no-latest'], env);
    expect(r.code).toBe(0);
    expect(r.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    // The exact version goes first, latest is left alone.
    expect(r.requests.filter((q) => q.method === 'PUT').map((q) => q.path.split('/manifests/')[1])).toEqual(['2.1.0', '2.1', '2']);
    const withSha = { ...final, 'sha-3f2a1c': sha, '2.1.0': sha, '2.1': sha, '2': sha };
    expect(await tagDigests(repo)).toEqual(withSha);

    // An exact version never moves to another digest without --force.
    await pushImage(repo, img.rebuild!, 'rebuild');
    r = await runLogged(['retag', '--semver', ref('rebuild'), '--version', '2.1.0'], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`error: tag 2.1.0 already points at ${sha}; a released version does not move (use --force to move it)`);
    expect(r.requests.filter((q) => q.method === 'PUT')).toEqual([]);
    expect(await tagDigests(repo)).toEqual({ ...withSha, rebuild: d('rebuild') });

    r = await runLogged(['retag', '--semver', ref('rebuild'), '--version', '2.1.0', '--force'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`2.1.0\t${short(sha)} -> ${short(d('rebuild'))}\tmove\t--force`);
    expect(await tagDigests(repo)).toEqual({ ...withSha, rebuild: d('rebuild'), '2.1.0': d('rebuild'), '2.1': d('rebuild'), '2': d('rebuild'), latest: d('rebuild') });
  });

  it('REF with a version tag and a digest: the digest picks the image, the tag names the version', async () => {
    const other = openRepository(env, backend.registry, 'team/pinned');
    const image = makeImage();
    await pushImage(other, image, 'build-7');
    const r = await runLogged(['retag', '--semver', `${backend.registry}/team/pinned:v3.1.4@${image.manifest.digest}`], env);
    expect(r.code).toBe(0);
    expect(r.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    const dd = image.manifest.digest;
    expect(await tagDigests(other)).toEqual({ 'build-7': dd, 'v3.1.4': dd, 'v3.1': dd, v3: dd, latest: dd });
  });

  it('on a terminal the plan is a table with a header', async () => {
    const r = await runCli(['retag', '--semver', '--dry-run', ref('1.9.2')], { env: { ...env, NO_COLOR: '1' }, tty: true });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[1]).toMatch(/│ TAG +│ DIGEST \(OLD -> NEW\) +│ ACTION +│ REASON +│/);
    expect(r.stdout).toMatch(/│ 1\.9\.2 +│ sha256:[0-9a-f]{12} +│ unchanged +│ +│/);
    expect(r.stdout).toMatch(/│ latest +│ sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12} +│ skipped +│ 2\.\d\.0 exists +│/);
    expect(r.stderr).toContain('dry run: nothing changed');
  });

  it('bad input: one line on stderr, usage or not-found exit code, no request for usage errors', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['retag', '--semver', ref('latest')], 2, /^error: "latest" is not a semver version/],
      [['retag', '--semver', ref('sha-3f2a1c'), '--version', '1.9'], 2, /^error: "1.9" is not a semver version/],
      [['retag', '--semver', ref('1.2.3'), 'extra'], 2, /^error: --semver takes one reference/],
      [['retag', '--semver', `${backend.registry}/team/app@sha256:${'a'.repeat(64)}`], 2, /^error: .* names a digest, not a version: pass --version X.Y.Z$/],
      [['retag', '--semver', `${backend.registry}/Team/App:1.2.3`], 2, /^error: invalid repository/],
      [['retag', '--semver', ref('9.9.9')], 3, /^error: manifest 9.9.9 not found in /],
      [['retag', '--semver', `${backend.registry}/team/none:9.9.9`], 3, /^error: /],
    ];
    for (const [args, code, message] of cases) {
      const r = await runLogged(args, env);
      expect({ args, code: r.code }).toEqual({ args, code });
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(r.stdout).toBe('');
      if (code === 2) expect(r.requests).toEqual([]);
    }
  });
});
