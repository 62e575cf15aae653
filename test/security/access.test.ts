import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessPolicy, AccessPolicyError, AccessPolicyFile, authenticatedOnly, openAccess } from '../../src/server/security/access.js';
import { compileGlob, matchGlob } from '../../src/server/security/glob.js';

describe('repository globs', () => {
  it.each([
    ['team/*', 'team/app', true],
    ['team/*', 'team/app/sub', false],
    ['team/*', 'team', false],
    ['team/**', 'team', true],
    ['team/**', 'team/a/b/c', true],
    ['team/**', 'teamx/a', false],
    ['**', 'a', true],
    ['**', 'a/b/c', true],
    ['**/app', 'app', true],
    ['**/app', 'x/y/app', true],
    ['**/app', 'x/y/app2', false],
    ['a/**/z', 'a/z', true],
    ['a/**/z', 'a/b/c/z', true],
    ['a/**/z', 'a/b/c/y', false],
    ['app*', 'app', true],
    ['app*', 'app-dev', true],
    ['app*', 'myapp', false], // anchored at the start
    ['*app', 'myapp', true],
    ['*app', 'myapp2', false], // anchored at the end
    ['a*b*c', 'a-b-b-c', true],
    ['a*b*c', 'a-c-b', false],
    ['*', 'a/b', false], // * never crosses a slash
    ['*/*', 'a/b', true],
    ['lib.x', 'lib.x', true],
    ['lib.x', 'libyx', false], // dot is literal, not a regex wildcard
    ['**/**/x', 'x', true],
  ])('%s vs %s -> %s', (glob, name, expected) => {
    expect(matchGlob(compileGlob(glob), name)).toBe(expected);
  });

  it.each([
    ['', 'empty repository glob'],
    ['/abs', 'may not start or end with "/"'],
    ['a/', 'may not start or end with "/"'],
    ['a//b', 'empty segment'],
    ['a/../b', 'may not contain ".." segments'],
    ['./a', 'may not contain "." segments'],
    ['a**', '"**" must be a whole segment'],
    ['Team/*', 'repository names are lowercase'],
    ['a/[bc]', 'allowed are a-z 0-9'],
    ['a/b?', 'allowed are a-z 0-9'],
  ])('refuses glob %j', (glob, msg) => {
    expect(() => compileGlob(glob)).toThrow(msg);
  });

  it('stays fast on pathological patterns', () => {
    const g = compileGlob(`${'*a'.repeat(20)}/**/**/${'*b'.repeat(20)}`);
    const name = `${'a'.repeat(100)}/${'x/'.repeat(60)}${'c'.repeat(60)}`;
    const t = performance.now();
    expect(matchGlob(g, name)).toBe(false);
    expect(performance.now() - t).toBeLessThan(200);
  });
});

const YAML_POLICY = `
# groups of users
groups:
  devs: [alice, bob]
anonymous:
  - public/**
rules:
  - repositories: ["team/**", "tools/*"]
    groups: [devs]
    actions: [read, write]
  - repositories: ["team/**"]
    users: [carol]
    actions: [delete]
  - repositories: ["**"]
    users: [root]
    actions: ["*"]
  - repositories: shared/*
    users: ["*"]
    actions: read
`;

const JSON_POLICY = JSON.stringify({
  groups: { devs: ['alice', 'bob'] },
  anonymous: ['public/**'],
  rules: [
    { repositories: ['team/**', 'tools/*'], groups: ['devs'], actions: ['read', 'write'] },
    { repositories: ['team/**'], users: ['carol'], actions: ['delete'] },
    { repositories: ['**'], users: ['root'], actions: ['*'] },
    { repositories: 'shared/*', users: ['*'], actions: 'read' },
  ],
});

describe('access policy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regctl-access-'));
    await writeFile(join(dir, 'access.yaml'), YAML_POLICY);
    await writeFile(join(dir, 'access.json'), JSON_POLICY);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: Array<[string | undefined, 'read' | 'write' | 'delete', string, boolean]> = [
    [undefined, 'read', 'public/x', true],
    [undefined, 'read', 'public', true],
    [undefined, 'write', 'public/x', false],
    [undefined, 'read', 'team/app', false],
    ['alice', 'read', 'public/x', true], // anonymous globs apply to everybody
    ['alice', 'read', 'team/app', true],
    ['alice', 'write', 'team/a/b', true],
    ['alice', 'delete', 'team/app', false],
    ['alice', 'write', 'tools/x', true],
    ['alice', 'write', 'tools/x/y', false],
    ['alice', 'read', 'other', false],
    ['carol', 'delete', 'team/app', true],
    ['carol', 'read', 'team/app', false],
    ['root', 'delete', 'anything/at/all', true],
    ['mallory', 'read', 'shared/stuff', true],
    ['mallory', 'read', 'shared/stuff/deeper', false],
    ['mallory', 'write', 'shared/stuff', false],
    ['root', 'read', 'a/../etc', false], // invalid names never match
    ['root', 'read', 'UPPER', false],
    [undefined, 'read', 'public/../team/app', false],
  ];

  for (const file of ['access.yaml', 'access.json']) {
    it.each(cases)(`${file}: %s may %s %s -> %s`, async (user, action, repo, expected) => {
      const p = await AccessPolicy.load(join(dir, file));
      expect(p.can(user, action, repo)).toBe(expected);
    });
  }

  it('filters the catalog per caller, keeping order', async () => {
    const p = await AccessPolicy.load(join(dir, 'access.yaml'));
    const repos = ['other', 'public/a', 'shared/s', 'team/app', 'tools/t'];
    expect(p.filterCatalog(undefined, repos)).toEqual(['public/a']);
    expect(p.filterCatalog('alice', repos)).toEqual(['public/a', 'shared/s', 'team/app', 'tools/t']);
    expect(p.filterCatalog('carol', repos)).toEqual(['public/a', 'shared/s']);
    expect(p.filterCatalog('root', repos)).toEqual(repos);
    expect(p.anonymousReads).toBe(true);
    expect(AccessPolicy.parse('rules: []').anonymousReads).toBe(false);
  });

  it.each([
    ['[1,2]', 'p.yaml: top level: expected an object'],
    ['foo: 1', 'p.yaml: "foo": unknown key'],
    ['groups: [a]', 'p.yaml: groups: expected a map'],
    ['groups: {devs: [a], "bad name": [b]}', 'p.yaml: groups.bad name: invalid group name'],
    ['groups: {devs: [1]}', 'p.yaml: groups.devs[0]: expected a non-empty string'],
    ['anonymous: ["../etc"]', 'p.yaml: anonymous[0]: glob "../etc" may not contain ".." segments'],
    ['rules: {a: 1}', 'p.yaml: rules: expected a list'],
    ['rules: [{users: [a], actions: [read]}]', 'p.yaml: rules[0].repositories: missing'],
    ['rules: [{repositories: [], users: [a], actions: [read]}]', 'p.yaml: rules[0].repositories: empty list'],
    ['rules: [{repositories: [x], actions: [read]}]', 'p.yaml: rules[0]: needs users or groups'],
    ['rules: [{repositories: [x], users: [a]}]', 'p.yaml: rules[0].actions: missing'],
    ['rules: [{repositories: [x], users: [a], actions: [read, push]}]', 'p.yaml: rules[0].actions[1]: unknown action "push"'],
    ['rules: [{repositories: [x], users: [a], actions: [read], allow: 1}]', 'p.yaml: rules[0].allow: unknown key'],
    ['rules: [{repositories: [x], groups: [nope], actions: [read]}]', 'p.yaml: rules[0].groups[0]: unknown group "nope"'],
    ['rules: [{repositories: [x], users: ["a:b"], actions: [read]}]', 'p.yaml: rules[0].users[0]: invalid user name'],
    ['rules: [{repositories: ["A/*"], users: [a], actions: [read]}]', 'p.yaml: rules[0].repositories[0]: glob "A/*"'],
    ['a: [', 'p.yaml: cannot parse:'],
    ['a: 1\na: 2', 'p.yaml: cannot parse:'],
    ['rules: [{repositories: [**], users: [a], actions: [read]}]', 'cannot parse: Unresolved alias (the anchor must be set before the alias): * (quote globs that start with *, e.g. "**")'],
    ['anonymous:\n  - *\n', '(quote globs that start with *, e.g. "**")'],
  ])('rejects %j with one line', (text, msg) => {
    let err: unknown;
    try {
      AccessPolicy.parse(text, 'p.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AccessPolicyError);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).not.toContain('\n');
  });

  it('JSON files are parsed as JSON', () => {
    expect(() => AccessPolicy.parse('rules: []', 'p.json')).toThrow('p.json: cannot parse:');
  });

  it('built-in policies', () => {
    expect(openAccess.can(undefined, 'delete', 'a/b')).toBe(true);
    expect(openAccess.can(undefined, 'read', 'a/../b')).toBe(false);
    expect(authenticatedOnly.can(undefined, 'read', 'a')).toBe(false);
    expect(authenticatedOnly.can('x', 'delete', 'a')).toBe(true);
    expect(authenticatedOnly.filterCatalog(undefined, ['a'])).toEqual([]);
  });
});

describe('access file reload', () => {
  it('applies edits without a restart and keeps the old rules when the new file is invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-access-reload-'));
    try {
      const path = join(dir, 'access.yaml');
      await writeFile(path, 'rules: [{repositories: ["a/**"], users: [u], actions: [read]}]\n');
      let now = 0;
      const errors: string[] = [];
      const f = await AccessPolicyFile.open(path, { now: () => now, onReloadError: (e) => errors.push(e.message) });
      expect(f.can('u', 'read', 'a/x')).toBe(true);
      expect(f.can('u', 'read', 'b/x')).toBe(false);
      await writeFile(path, 'anonymous: ["b/**"]\nrules: [{repositories: ["b/**"], users: [u], actions: [read, write]}]\n');
      await f.refresh(); // within the check interval: not looked at yet
      expect(f.can('u', 'read', 'b/x')).toBe(false);
      now = 1001;
      await f.refresh();
      expect(f.can('u', 'write', 'b/x')).toBe(true);
      expect(f.can('u', 'read', 'a/x')).toBe(false);
      expect(f.anonymousReads).toBe(true);
      await writeFile(path, 'rules: [{repositories: ["../x"], users: [u], actions: [read]}]\n');
      now = 2002;
      await f.refresh();
      expect(f.can('u', 'write', 'b/x')).toBe(true);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`${path}: rules[0].repositories[0]: glob "../x" may not contain ".." segments`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
