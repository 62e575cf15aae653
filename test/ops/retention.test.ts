import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectGarbage, type GcOptions } from '../../src/server/ops/gc.js';
import { parseRetention, type RetentionPolicy } from '../../src/server/ops/retention.js';
import { openStorage } from '../../src/server/storage/open-storage.js';
import { BIN, ensureBuilt } from '../helpers/built-cli.js';
import { runCli } from '../helpers/cli.js';
import { makeImage } from '../helpers/images.js';
import { waitFor } from '../helpers/wait.js';
import { MemoryGcStore } from './memory-gc-store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function gcWith(s: MemoryGcStore, policy: RetentionPolicy, extra: GcOptions = {}, lines: string[] = []) {
  return collectGarbage(s, {
    now: () => s.now,
    retention: {
      policy,
      deleteTag: async (repo, tag) => s.repos.get(repo)!.tags.delete(tag),
      log: (l) => lines.push(l),
    },
    ...extra,
  });
}

const tagsOf = (s: MemoryGcStore, repo: string) => [...s.repos.get(repo)!.tags.keys()].sort();
const manifestsOf = (s: MemoryGcStore, repo: string) => [...s.repos.get(repo)!.manifests.keys()].sort();

/** app: releases, floating tags, builds pushed an hour apart; other: no rule; team/x: untagged ones. */
function scenario() {
  const s = new MemoryGcStore();
  const img = () => makeImage({ layers: [64] });
  const d: Record<string, string> = {};
  const push = (repo: string, tag: string | undefined, name: string, image = img()) => {
    d[name] = s.pushImage(repo, image, tag);
    s.now += HOUR;
    return image;
  };
  push('app', 'stable', 'stable');
  push('app', '1.0.0', '1.0.0');
  const r101 = push('app', '1.0.1', '1.0.1');
  s.repos.get('app')!.tags.set('1.0', d['1.0.1']!);
  for (let i = 1; i <= 5; i++) push('app', `build-${i}`, `build-${i}`);
  s.repos.get('app')!.tags.set('latest', d['build-5']!);
  push('other', 'old', 'other-old');
  push('other', 'new', 'other-new');
  push('team/x', 'v', 'team-v');
  push('team/x', undefined, 'team-old-untagged');
  s.now += 7 * DAY;
  push('team/x', undefined, 'team-young-untagged');
  s.now += 2 * HOUR; // past gc's one-hour grace for everything
  void r101;
  return { s, d };
}

const POLICY = `
rules:
  - repositories: app
    keep-last: 2
    keep: ['^stable$']
  - repositories: team/*
    untagged-after: 7d
`;

describe('serve retention applied by gc', () => {
  it('removes exactly what the rules say, then gc collects their blobs', async () => {
    const { s, d } = scenario();
    const lines: string[] = [];
    const report = await gcWith(s, await parseRetention(POLICY), {}, lines);
    // semver: 1.0 and latest float, 1.0.1 is 1.0's image and the newest release, build-5 is latest's image.
    expect(tagsOf(s, 'app')).toEqual(['1.0', '1.0.1', 'build-3', 'build-4', 'build-5', 'latest', 'stable']);
    expect(tagsOf(s, 'other')).toEqual(['new', 'old']);
    expect(tagsOf(s, 'team/x')).toEqual(['v']);
    expect(manifestsOf(s, 'app')).toEqual([d['1.0.1'], d['build-3'], d['build-4'], d['build-5'], d['stable']].sort());
    expect(manifestsOf(s, 'team/x')).toEqual([d['team-v'], d['team-young-untagged']].sort());
    expect(report.retention!.removed.map((r) => `${r.repository} ${r.kind} ${r.tag ?? r.digest} ${r.reason}`)).toEqual([
      'app tag 1.0.0 not among the 2 newest',
      'app tag build-1 not among the 2 newest',
      'app tag build-2 not among the 2 newest',
      ...[
        [d['1.0.0']!, 'no tag left reaches it (tags removed: 1.0.0)'],
        [d['build-1']!, 'no tag left reaches it (tags removed: build-1)'],
        [d['build-2']!, 'no tag left reaches it (tags removed: build-2)'],
      ]
        .sort((a, b) => (a[0]! < b[0]! ? 1 : -1))
        .map(([dg, why]) => `app manifest ${dg} ${why}`),
      `team/x manifest ${d['team-old-untagged']} untagged for more than 7d`,
    ]);
    expect(report.retention!.keptByGrace).toBe(1);
    expect(lines).toContain('retention: removed tag app:build-1 (rule 1 app: not among the 2 newest)');
    expect(lines).toHaveLength(report.retention!.removed.length);
    // The same run collected the removed images' config and layer (2 blobs each, 4 images).
    expect(report.removed.filter((r) => r.kind === 'blob')).toHaveLength(8);
    expect(s.missingReachable()).toEqual([]);
  });

  it('dry run removes nothing and reports each tag and manifest with its rule and reason', async () => {
    const { s, d } = scenario();
    const before = JSON.stringify([...s.repos].map(([r, x]) => [r, [...x.tags], [...x.manifests.keys()], [...x.blobs.keys()]]));
    const lines: string[] = [];
    const report = await gcWith(s, await parseRetention(POLICY), { dryRun: true }, lines);
    expect(JSON.stringify([...s.repos].map(([r, x]) => [r, [...x.tags], [...x.manifests.keys()], [...x.blobs.keys()]]))).toBe(before);
    expect(report.retention!.removed.filter((r) => r.kind === 'tag').map((r) => [r.rule, r.tag, r.reason])).toEqual([
      [1, '1.0.0', 'not among the 2 newest'],
      [1, 'build-1', 'not among the 2 newest'],
      [1, 'build-2', 'not among the 2 newest'],
    ]);
    expect(report.retention!.removed.filter((r) => r.kind === 'manifest').map((r) => r.digest).sort()).toEqual(
      [d['1.0.0'], d['build-1'], d['build-2'], d['team-old-untagged']].sort(),
    );
    expect(lines[0]).toBe('retention: would remove tag app:1.0.0 (rule 1 app: not among the 2 newest)');
  });

  it('keep-last ranks by the image config\'s created time where readable, else by push time', async () => {
    const s = new MemoryGcStore();
    const newer = makeImage({ layers: [16], created: '2026-06-01T00:00:00Z' });
    const older = makeImage({ layers: [16], created: '2026-01-01T00:00:00Z' });
    s.pushImage('app', newer, 'a'); // pushed first, built last
    s.now += HOUR;
    s.pushImage('app', older, 'b');
    s.now += 2 * HOUR;
    const configs = new Map([newer, older].map((i) => [i.config.desc.digest, i.config.bytes]));
    const policy = await parseRetention('- repositories: app\n  keep-last: 1\n');
    const dry = (readBlob?: (r: string, d: string) => Promise<Uint8Array | undefined>) =>
      collectGarbage(s, { now: () => s.now, dryRun: true, retention: { policy, deleteTag: async () => false, ...(readBlob ? { readBlob } : {}) } });
    const byCreated = await dry(async (_r, d) => configs.get(d));
    expect(byCreated.retention!.removed.filter((r) => r.kind === 'tag').map((r) => r.tag)).toEqual(['b']);
    const byPush = await dry();
    expect(byPush.retention!.removed.filter((r) => r.kind === 'tag').map((r) => r.tag)).toEqual(['a']);
  });

  it.each([
    ['rules: []', 'r.yaml: expected a non-empty list of rules (or "rules:" with one)'],
    ['- repositories: a\n  keep-latest: 3', 'r.yaml: rule 1: unknown key "keep-latest" (known: repositories, keep-last, keep, match, older-than, semver, keep-releases, untagged-after)'],
    ['- repositories: a\n- keep-last: 3', 'r.yaml: rule 2: "repositories" (a glob such as team/*) is required'],
    ['- repositories: a\n  keep-last: -1', 'r.yaml: rule 1: "keep-last" must be a whole number >= 0'],
    ['[{"repositories": "a", "keep": "("}]', 'r.yaml: rule 1: "keep": invalid regular expression "("'],
    ['- repositories: a\n  untagged-after: soon', 'r.yaml: rule 1: "untagged-after" must be a duration such as 7d, 12h, 2w'],
    ['- repositories: /a', 'r.yaml: rule 1: glob "/a" may not start or end with "/"'],
    ['- repositories: a\n  semver: "no"', 'r.yaml: rule 1: "semver" must be true or false'],
    ['rules: [a', undefined],
  ])('rejects %j with one line', async (text, message) => {
    const e = await parseRetention(text, 'r.yaml').then(
      () => undefined,
      (x: unknown) => x as Error & { code?: string },
    );
    expect(e?.code).toBe('USAGE');
    if (message !== undefined) expect(e!.message).toBe(message);
    else expect(e!.message).toMatch(/^r\.yaml: not valid YAML or JSON: [^\n]+$/);
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('regctl serve gc: a bad rule file is exit 2 with one line; dry run prints rule and reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-retention-'));
    dirs.push(dir);
    const storage = await openStorage({ root: join(dir, 'reg') });
    const a = makeImage({ layers: [8] });
    const b = makeImage({ layers: [8] });
    await storage.putManifest('app', a.manifest, ['build-1']);
    await storage.putManifest('app', b.manifest, ['build-2']);
    await storage.close();
    await writeFile(join(dir, 'bad.yaml'), '- repositories: app\n  keep-last: many\n');
    const bad = await runCli(['serve', 'gc', '--root', join(dir, 'reg'), '--retention', join(dir, 'bad.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(`${join(dir, 'bad.yaml')}: rule 1: "keep-last" must be a whole number >= 0`);
    await writeFile(join(dir, 'r.json'), JSON.stringify([{ repositories: '**', 'keep-last': 1 }]));
    const dry = await runCli(['serve', 'gc', '--dry-run', '--root', join(dir, 'reg'), '--retention', join(dir, 'r.json')]);
    expect(dry.code).toBe(0);
    // Same push time to the ms or not: the older build goes (ties rank the higher tag first).
    expect(dry.stderr).toContain('retention: would remove tag app:build-1 (rule 1 **: not among the 1 newest)');
    expect(dry.stderr).toContain(`retention: would remove manifest app@${a.manifest.digest} (rule 1 **: no tag left reaches it (tags removed: build-1))`);
    expect(dry.stderr).toContain('retention: would remove 1 tag, 1 manifest');
    const check = await openStorage({ root: join(dir, 'reg'), prepare: false });
    expect(await check.listTags('app')).toEqual(['build-1', 'build-2']);
    await check.close();
  });

  it('a kill -9 during retention leaves no tag pointing at a missing manifest', { timeout: 240_000 }, async () => {
    await ensureBuilt();
    const dir = await mkdtemp(join(tmpdir(), 'regctl-retention-kill-'));
    dirs.push(dir);
    const root = join(dir, 'reg');
    const storage = await openStorage({ root });
    const REPOS = 40;
    const TAGS = 8;
    for (let r = 0; r < REPOS; r++) {
      for (let t = 0; t < TAGS; t++) {
        const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${randomBytes(32).toString('hex')}`, size: 2 }, layers: [] }));
        const { digestOf } = await import('../../src/oci/digest.js');
        await storage.putManifest(`team/r${r}`, { digest: digestOf(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes }, [`b${t}`]);
      }
    }
    await storage.close();
    await writeFile(join(dir, 'r.yaml'), '- repositories: team/*\n  keep-last: 1\n  semver: false\n');

    const danglingTags = async (): Promise<{ dangling: string[]; tags: number }> => {
      const s = await openStorage({ root, prepare: false });
      const dangling: string[] = [];
      let tags = 0;
      for (const repo of await s.listRepositories()) {
        for (const tag of (await s.listTags(repo)) ?? []) {
          tags++;
          const digest = await s.resolveTag(repo, tag);
          if (digest === undefined || !(await s.getManifest(repo, digest))) dangling.push(`${repo}:${tag}`);
        }
      }
      await s.close();
      return { dangling, tags };
    };

    // Kill at the 1st, then the 25th removal line, then let a run finish.
    for (const killAt of [1, 25, 0]) {
      const child = spawn(process.execPath, [BIN, 'serve', 'gc', '--root', root, '--retention', join(dir, 'r.yaml')], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      let removals = 0;
      let text = '';
      child.stderr.on('data', (c: Buffer) => {
        text += c.toString('utf8');
        removals = text.split('\n').filter((l) => l.startsWith('retention: removed ') && !l.startsWith('retention: removed 0')).length;
        if (killAt > 0 && removals >= killAt) child.kill('SIGKILL');
      });
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      await waitFor(async () => child.stderr.readableEnded || child.stderr.destroyed);
      if (killAt > 0) expect(exit.signal, text).toBe('SIGKILL');
      else expect(exit.code, text).toBe(0);
      const { dangling, tags } = await danglingTags();
      expect(dangling).toEqual([]);
      if (killAt > 0) expect(tags).toBeGreaterThan(REPOS); // interrupted part-way: not every repository down to one tag
      else expect(tags).toBe(REPOS);
    }
  });
});
