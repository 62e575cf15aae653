import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repository } from '../../src/registry/repository.js';
import { makeImage, makeMultiArch, pushImage, pushIndex, type TestImage, type TestIndex } from '../helpers/images.js';
import { BACKENDS, blobTraffic, isolatedEnv, openRepository, runLogged, tagDigests, type Backend } from './backends.js';

const short = (d: string): string => d.slice(0, 'sha256:'.length + 12);

describe.each(BACKENDS)('retag SRC TAG... against $name', (kind) => {
  let backend: Backend;
  let app: Repository;
  const env = isolatedEnv();
  let image: TestImage;
  let multi: TestIndex;
  let reg: string;

  beforeAll(async () => {
    backend = await kind.start();
    reg = backend.registry;
    app = openRepository(env, reg, 'team/app');
    image = makeImage();
    multi = makeMultiArch();
    await pushImage(app, image, '1.9.2');
    await pushIndex(app, multi, 'multi');
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('puts the manifest under new tags in the same repository without blob traffic; a re-run changes nothing', async () => {
    const d = image.manifest.digest;
    let r = await runLogged(['retag', `${reg}/team/app:1.9.2`, 'stable', 'prod'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${reg}/team/app:stable\t- -> ${short(d)}\tcreate\n${reg}/team/app:prod\t- -> ${short(d)}\tcreate\n`);
    expect(r.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    // One GET of the manifest, one PUT per tag, the same bytes.
    expect(r.requests.filter((q) => q.method === 'GET').length).toBe(1);
    expect(r.requests.filter((q) => q.method === 'PUT').map((q) => q.path)).toEqual(['/v2/team/app/manifests/stable', '/v2/team/app/manifests/prod']);
    const got = await app.getManifest('prod');
    expect(got.bytes.equals(image.manifest.bytes)).toBe(true);
    expect(await tagDigests(app)).toMatchObject({ '1.9.2': d, stable: d, prod: d });

    r = await runLogged(['retag', `${reg}/team/app:1.9.2`, 'stable', 'prod', '--json'], env);
    expect(r.code).toBe(0);
    expect(r.requests.filter((q) => q.method === 'PUT')).toEqual([]);
    const json = JSON.parse(r.stdout) as { digest: string; targets: Array<{ tag: string; action: string }> };
    expect(json.digest).toBe(d);
    expect(json.targets.map((t) => [t.tag, t.action])).toEqual([['stable', 'unchanged'], ['prod', 'unchanged']]);
  });

  it('moves an existing tag, and works for an image index as is', async () => {
    let r = await runLogged(['retag', `${reg}/team/app:multi`, 'stable'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${reg}/team/app:stable\t${short(image.manifest.digest)} -> ${short(multi.manifest.digest)}\tmove\n`);
    expect(r.requests.filter((q) => q.path.includes('/blobs/'))).toEqual([]);
    const got = await app.getManifest('stable');
    expect(got.digest).toBe(multi.manifest.digest);
    expect(got.bytes.equals(multi.manifest.bytes)).toBe(true);
    r = await runLogged(['retag', '--dry-run', `${reg}/team/app:1.9.2`, 'stable'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\tmove\n');
    expect(r.requests.filter((q) => q.method === 'PUT')).toEqual([]);
    expect((await app.headManifest('stable'))?.digest).toBe(multi.manifest.digest);
  });

  it('into another repository of the same registry: mounts blobs (no upload), copies index children', async () => {
    const seen = backend.requests?.length ?? 0;
    let r = await runLogged(['retag', `${reg}/team/app:1.9.2`, 'archive/app:1.9.2', `${reg}/archive/app:keep`], env);
    expect(r.code).toBe(0);
    expect(blobTraffic(r.requests)).toEqual([]);
    const mounts = r.requests.filter((q) => q.method === 'POST' && q.path.includes('mount='));
    expect(mounts.length).toBe(1 + image.layers.length);
    expect(mounts.every((q) => q.status === 201 && q.path.startsWith('/v2/archive/app/blobs/uploads/') && q.path.includes('from=team%2Fapp'))).toBe(true);
    if (backend.requests) {
      expect(backend.requests.slice(seen).filter((q) => q.path.includes('/blobs/') && q.method !== 'POST')).toEqual([]);
    }
    const archive = openRepository(env, reg, 'archive/app');
    for (const b of [image.config, ...image.layers]) expect(await archive.hasBlob(b.desc)).toBe(true);
    expect(await tagDigests(archive)).toEqual({ '1.9.2': image.manifest.digest, keep: image.manifest.digest });

    r = await runLogged(['retag', `${reg}/team/app:multi`, 'mirror/app:multi'], env);
    expect(r.code).toBe(0);
    expect(blobTraffic(r.requests)).toEqual([]);
    const mirror = openRepository(env, reg, 'mirror/app');
    // Children first (by digest), then the index under its tag.
    expect(r.requests.filter((q) => q.method === 'PUT').map((q) => q.path)).toEqual([
      ...multi.images.map((i) => `/v2/mirror/app/manifests/${i.manifest.digest}`),
      '/v2/mirror/app/manifests/multi',
    ]);
    for (const child of multi.images) {
      expect((await mirror.getManifest(child.manifest.digest)).bytes.equals(child.manifest.bytes)).toBe(true);
      for (const b of [child.config, ...child.layers]) expect(await mirror.hasBlob(b.desc)).toBe(true);
    }
    expect((await mirror.getManifest('multi')).bytes.equals(multi.manifest.bytes)).toBe(true);
  });

  it('refuses another registry and bad destinations with one line and exit 2, before any request', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['retag', `${reg}/team/app:1.9.2`, 'localhost:5999/team/app:x'], /^error: localhost:5999\/team\/app:x is on another registry than .*use regctl copy /],
      [['retag', `${reg}/team/app:1.9.2`, 'docker.io/library/app:x'], /use regctl copy/],
      [['retag', `${reg}/team/app:1.9.2`], /^error: name at least one new tag/],
      [['retag', `${reg}/team/app:1.9.2`, 'bad tag!'], /^error: invalid tag/],
      [['retag', `${reg}/team/app:1.9.2`, `other@sha256:${'a'.repeat(64)}`], /needs a tag/],
      [['retag', `${reg}/team/app:1.9.2`, 'x', '--force'], /^error: --version, --force and --no-latest go with --semver$/],
    ];
    for (const [args, message] of cases) {
      const r = await runLogged(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(r.requests).toEqual([]);
    }
    const r = await runLogged(['retag', `${reg}/team/app:nope`, 'x'], env);
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
