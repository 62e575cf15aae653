import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseSyncFile, SyncFileError } from '../../src/sync/file.js';
import { SYNC_SCHEMA } from '../../src/sync/schema.js';
import { newestFirst, selectTags } from '../../src/sync/select.js';
import { parseRateLimitHeader, rateLimitOf, RateLimits } from '../../src/sync/ratelimit.js';

const bad = (text: string): string => {
  try {
    parseSyncFile(text, 'm.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(SyncFileError);
    expect((e as SyncFileError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('sync file', () => {
  it('reads the smallest file of the issue', () => {
    const f = parseSyncFile('sync:\n  - source: registry.example:5000/app\n    target: localhost:5000/app\n    tags:\n      semver: ">=1.0 <2"\n', 'm.yaml');
    expect(f.entries).toEqual([{ source: 'registry.example:5000/app', target: 'localhost:5000/app', tags: { include: undefined, exclude: undefined, semver: '>=1.0 <2', latest: undefined }, referrers: false, line: 2 }]);
    expect(f.rateLimit).toEqual({ minRemaining: 10, onLow: 'stop', waitMs: 600_000 });
  });

  it('names the line of a bad entry, in one line', () => {
    const text = ['sync:', '  - source: a.example/app', '    target: b.example/app', '  - source: a.example/x', '    target: b.example/x', '    tags:', '      lates: 3', ''].join('\n');
    expect(bad(text)).toBe('m.yaml:7: sync[1].tags: unknown key "lates"');
    expect(bad('sync:\n  - source: a.example/app\n')).toBe('m.yaml:2: sync[0]: missing key "target"');
    expect(bad('sync:\n  - source: a.example/app\n    targt: b.example/app\n')).toBe('m.yaml:3: sync[0]: unknown key "targt"');
    expect(bad('sync:\n  - source: a\n    target: b\n    tags:\n      include: 5\n')).toBe('m.yaml:5: sync[0].tags.include: must be a string or a list of strings');
    expect(bad('sync:\n  - source: a.example/app\n    target: b.example/app\n    tags:\n      latest: 0\n')).toBe('m.yaml:5: sync[0].tags.latest: must be >= 1');
    expect(bad('sync:\n  - source: a\n    target: b\n    retag: yes\n')).toBe('m.yaml:4: sync[0].retag: must be one of: semver');
    expect(bad('sync:\n  - source: a\n    target: b\n    tags:\n      semver: "not a range"\n')).toBe('m.yaml:5: sync[0].tags.semver: invalid semver range "not a range"');
    expect(bad('sync:\n  - source: a\n    target: b\n    tags:\n      include: ["ok", "(unclosed"]\n')).toBe('m.yaml:5: sync[0].tags.include[1]: invalid regular expression "(unclosed": Unterminated group');
    expect(bad('')).toBe('m.yaml:1: expected a mapping with a "sync:" list of entries');
    expect(bad('- a\n')).toBe('m.yaml:1: expected a mapping with a "sync:" list of entries');
    expect(bad('sync: 5\n')).toBe('m.yaml:1: sync: must be a list (- item lines)');
    expect(bad('sync:\n  - 5\n')).toBe('m.yaml:2: sync[0]: must be a mapping (key: value lines)');
    expect(bad('sync:\n  - source: a\n    target: b\n    platform: linux\n')).toBe('m.yaml:4: sync[0].platform: invalid value (expected os/arch[/variant], e.g. linux/amd64)');
    expect(bad('sync: []\n')).toBe('m.yaml:1: sync: must list at least 1 item');
    expect(bad('sync:\n  - source: [a\n')).toMatch(/^m\.yaml:\d+: invalid YAML: /);
    expect(bad('other: 1\n')).toBe('m.yaml:1: unknown key "other"');
    expect(bad('concurrency: 2\n')).toBe('m.yaml:1: missing key "sync"');
    expect(bad('sync:\n  - {source: a, target: b}\nother: 1\n')).toBe('m.yaml:3: unknown key "other"');
    expect(bad('rate-limit:\n  wait: 7h\nsync:\n  - {source: a, target: b}\n')).toBe('m.yaml:2: rate-limit.wait: at most 6h');
  });

  it('docs/sync.schema.json is the schema the command validates with', async () => {
    const doc = JSON.parse(await readFile(new URL('../../docs/sync.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(doc).toEqual(JSON.parse(JSON.stringify(SYNC_SCHEMA)));
  });
});

describe('tag selection', () => {
  const tags = ['1.0.0', '1.2.0', 'v1.5.0', '1.9.3', '2.0.0', '1.3.0-rc1', 'latest', 'dev-x', '0.9.0', '1.10.0'];
  it('semver range, regex include/exclude, latest N', () => {
    expect(selectTags(tags, { semver: '>=1.0 <2' })).toEqual(['1.0.0', '1.2.0', 'v1.5.0', '1.9.3', '1.10.0']);
    expect(selectTags(tags, { include: [/^dev-/] })).toEqual(['dev-x']);
    expect(selectTags(tags, { include: [/^1\./], exclude: [/-rc/] })).toEqual(['1.0.0', '1.2.0', '1.9.3', '1.10.0']);
    expect(selectTags(tags, { latest: 3 })).toEqual(['2.0.0', '1.10.0', '1.9.3']);
    expect(selectTags(tags, { semver: '<2', latest: 2 })).toEqual(['1.10.0', '1.9.3']);
    expect(['b', '1.0.0', 'a', 'v1.0.0'].sort(newestFirst)).toEqual(['v1.0.0', '1.0.0', 'b', 'a']);
  });
});

describe('rate limits', () => {
  const headers = (h: Record<string, string>) => ({ registry: 'docker.io', status: 200, header: (n: string) => h[n] });
  it("reads Docker Hub's headers", () => {
    expect(parseRateLimitHeader('98;w=21600')).toEqual({ value: 98, window: 21600 });
    expect(rateLimitOf(headers({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '98;w=21600', 'docker-ratelimit-source': '203.0.113.7' }))).toEqual({ limit: 100, remaining: 98, windowSeconds: 21600, source: '203.0.113.7' });
    expect(rateLimitOf(headers({}))).toBeUndefined();
  });
  it('stops, or pauses once, below the threshold', async () => {
    const stop = new RateLimits({ minRemaining: 10, onLow: 'stop', waitMs: 1000 });
    await stop.before('docker.io');
    stop.observe(headers({ 'ratelimit-remaining': '9;w=21600' }));
    await expect(stop.before('docker.io')).rejects.toThrow('docker.io reports 9 pulls left (below rate-limit.min-remaining 10): not started');
    const slept: number[] = [];
    const wait = new RateLimits({ minRemaining: 10, onLow: 'wait', waitMs: 1234 }, async (ms) => void slept.push(ms));
    wait.observe(headers({ 'ratelimit-remaining': '3;w=21600' }));
    await Promise.all([wait.before('docker.io'), wait.before('docker.io')]);
    await wait.before('docker.io');
    expect(slept).toEqual([1234]);
    expect(wait.paused).toBe(1);
  });
});
