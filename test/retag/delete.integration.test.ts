import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirm } from '../../src/cli/commands/delete.js';
import { run } from '../../src/cli/main.js';
import type { Repository } from '../../src/registry/repository.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startDistribution } from '../helpers/distribution.js';
import { BACKENDS, isolatedEnv, openRepository, runLogged, tagDigests, type Backend } from './backends.js';

describe.each(BACKENDS)('delete and tag rm against $name', (kind) => {
  let backend: Backend;
  let app: Repository;
  const env = isolatedEnv();
  let reg: string;

  beforeAll(async () => {
    backend = await kind.start();
    reg = backend.registry;
    app = openRepository(env, reg, 'team/app');
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('delete without --yes on a non-terminal stdin refuses (exit 2) after reads only, naming the other tags that would go', async () => {
    const img = makeImage();
    await pushImage(app, img, 'keep');
    const d = img.manifest.digest;
    let r = await runLogged(['delete', `${reg}/team/app:keep`], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: refusing to delete ${reg}/team/app@${d} without --yes: stdin is not a terminal, so regctl cannot ask\n`);
    expect(r.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    await app.putManifest('keep-too', img.manifest);
    await app.putManifest('latest', img.manifest);
    r = await runLogged(['delete', `${reg}/team/app:keep`], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: refusing to delete ${reg}/team/app@${d} without --yes: stdin is not a terminal, so regctl cannot ask; it would also remove 2 other tags: keep-too, latest\n`,
    );
    expect(r.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    expect((await app.headManifest('keep'))?.digest).toBe(d);
    expect((await app.headManifest('latest'))?.digest).toBe(d);
    await runLogged(['delete', '--yes', `${reg}/team/app:keep`], env);
  });

  it('delete --yes resolves the tag and deletes the manifest by digest, with every tag on it', async () => {
    const img = makeImage();
    const other = makeImage();
    await pushImage(app, img, '1.0.0');
    await app.putManifest('1.0', img.manifest);
    await pushImage(app, other, '2.0.0');
    const d = img.manifest.digest;
    const r = await runLogged(['delete', '--yes', `${reg}/team/app:1.0.0`], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`deleted ${reg}/team/app@${d} (tags removed: 1.0, 1.0.0)\n`);
    expect(r.stderr).toBe('');
    expect(r.requests.filter((q) => q.method === 'DELETE').map((q) => [q.path, q.status])).toEqual([[`/v2/team/app/manifests/${d}`, 202]]);
    expect(await app.headManifest(d)).toBeUndefined();
    const left = await tagDigests(app);
    expect(left['1.0.0']).toBeUndefined();
    expect(left['1.0']).toBeUndefined();
    expect(left['2.0.0']).toBe(other.manifest.digest);

    // --json names them too.
    await pushImage(app, img, '1.0.0');
    await app.putManifest('stable', img.manifest);
    const json = await runLogged(['--json', 'delete', '--yes', `${reg}/team/app:1.0.0`], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ deleted: `${reg}/team/app@${d}`, digest: d, mediaType: img.manifest.mediaType, tags: ['1.0.0', 'stable'], tagsComplete: true });
    expect(json.stderr).toBe('');

    const again = await runLogged(['delete', '--yes', `${reg}/team/app:1.0.0`], env);
    expect(again.code).toBe(3);
    expect(again.stderr.trim()).toBe(`error: manifest 1.0.0 not found in ${reg}/team/app`);
  });

  it('on a terminal, delete lists the tags that go and asks first', async () => {
    const img = makeImage();
    await pushImage(app, img, '3.0.0');
    await app.putManifest('3.0', img.manifest);
    const d = img.manifest.digest;
    const interactive = async (answer: string) => {
      const stdin = Object.assign(new PassThrough(), { isTTY: true });
      stdin.end(answer);
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (c: Buffer) => (out += c.toString()));
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await run(['delete', `${reg}/team/app:3.0`], { stdin, stdout, stderr, env: { ...env, NO_COLOR: '1' } });
      return { code, out, err };
    };
    let r = await interactive('n\n');
    // No is a choice, not an error: no "error:" line, but a non-zero status (1, README).
    expect(r.code).toBe(1);
    expect(r.err).toBe(`warning: deleting ${reg}/team/app@${d} removes every tag on that digest: 3.0, 3.0.0\nDelete? [y/N] nothing deleted\n`);
    expect((await app.headManifest('3.0.0'))?.digest).toBe(d);
    r = await interactive('y\n');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`deleted ${reg}/team/app@${d} (tags removed: 3.0, 3.0.0)\n`);
    expect(await app.headManifest(d)).toBeUndefined();
  });

  it('tag rm removes one tag and leaves the other tags on its digest (serve: DELETE by tag; elsewhere: placeholder)', async () => {
    const img = makeImage();
    await pushImage(app, img, 'a');
    await app.putManifest('b', img.manifest);
    const r = await runLogged(['tag', 'rm', `${reg}/team/app:a`], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`removed ${reg}/team/app:a (was ${img.manifest.digest})\n`);
    const del = r.requests.filter((q) => q.method === 'DELETE');
    if (kind.name === 'regctl serve') {
      expect(del.map((q) => [q.path, q.status])).toEqual([['/v2/team/app/manifests/a', 202]]);
      expect(r.requests.filter((q) => q.method === 'PUT')).toEqual([]);
    } else {
      // The tag moved to a placeholder of its own, which was then deleted by digest.
      const puts = r.requests.filter((q) => q.method === 'PUT' && q.path.includes('/manifests/'));
      expect(puts.map((q) => q.path)).toEqual(['/v2/team/app/manifests/a']);
      expect(del).toHaveLength(1);
      expect(del[0]!.path).toMatch(/^\/v2\/team\/app\/manifests\/sha256:[0-9a-f]{64}$/);
      expect(del[0]!.path).not.toContain(img.manifest.digest);
      expect(await app.headManifest(del[0]!.path.split('/').pop()!)).toBeUndefined();
    }
    const left = await tagDigests(app);
    expect(left.a).toBeUndefined();
    expect(left.b).toBe(img.manifest.digest);
    expect((await app.headManifest(img.manifest.digest))?.digest).toBe(img.manifest.digest);
    const missing = await runLogged(['tag', 'rm', `${reg}/team/app:nope`], env);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim()).toBe(`error: tag nope not found in ${reg}/team/app`);
    const bad = await runLogged(['tag', 'rm', `${reg}/team/app@sha256:${'a'.repeat(64)}`], env);
    expect(bad.code).toBe(2);
    expect(bad.requests).toEqual([]);
  });
});

describe('tag rm on a docker-registry with deletes disabled', () => {
  it('refuses with the registry answer and puts the tag back where it was', async () => {
    const d = await startDistribution({ deleteEnabled: false });
    try {
      const env = isolatedEnv();
      const app = openRepository(env, d.registry, 'team/app');
      const img = makeImage();
      await pushImage(app, img, 'a');
      const r = await runLogged(['tag', 'rm', `${d.registry}/team/app:a`], env);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(
        new RegExp(`^error: ${d.registry}/team/app refused to delete the placeholder for tag a: HTTP 405 \\(UNSUPPORTED[^)]*\\); the tag is unchanged \\(deletes may be disabled on this registry\\)$`),
      );
      expect(await tagDigests(app)).toEqual({ a: img.manifest.digest });
    } finally {
      await d.close();
    }
  });
});

describe('confirmation prompt', () => {
  const ask = async (answer: string | null) => {
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    let prompt = '';
    stderr.on('data', (c: Buffer) => (prompt += c.toString()));
    if (answer === null) stdin.end();
    else stdin.end(answer);
    const ok = await confirm({ stdin, stdout: new PassThrough(), stderr }, 'Delete?');
    return { ok, prompt };
  };
  it.each([
    ['y\n', true],
    ['yes\n', true],
    ['Y\n', true],
    ['n\n', false],
    ['\n', false],
    ['yess\n', false],
    [null, false],
  ])('answer %j -> %s', async (answer, want) => {
    const { ok, prompt } = await ask(answer);
    expect(ok).toBe(want);
    expect(prompt).toBe('Delete? [y/N] ');
  });
});

describe('delete on a registry with deletes disabled', () => {
  it('fails with one line naming the registry answer, and keeps the image', async () => {
    const dist = await startDistribution({ deleteEnabled: false });
    try {
      const env = isolatedEnv();
      const repo = openRepository(env, dist.registry, 'team/app');
      const img = makeImage();
      await pushImage(repo, img, '1.0.0');
      const r = await runLogged(['delete', '--yes', `${dist.registry}/team/app:1.0.0`], env);
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(`error: DELETE http://${dist.registry}/v2/team/app/manifests/${img.manifest.digest}: HTTP 405 (UNSUPPORTED: The operation is unsupported.)`);
      expect((await repo.headManifest('1.0.0'))?.digest).toBe(img.manifest.digest);
    } finally {
      await dist.close();
    }
  });
});
