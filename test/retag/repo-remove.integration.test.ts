import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectGarbage } from '../../src/server/ops/gc.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { BACKENDS, isolatedEnv, openRepository, runLogged, type Backend } from './backends.js';

describe.each(BACKENDS)('repo rm against $name', (kind) => {
  let backend: Backend;
  const env = isolatedEnv();

  beforeAll(async () => {
    backend = await kind.start();
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('refuses without --yes off a terminal (reads only), then deletes every tagged manifest', async () => {
    const repo = openRepository(env, backend.registry, 'old/app');
    const keep = openRepository(env, backend.registry, 'old/keep');
    const a = makeImage();
    const b = makeImage();
    await pushImage(repo, a, '1');
    await repo.putManifest('latest', a.manifest);
    await pushImage(repo, b, '2');
    await pushImage(keep, a, 'stays');
    let r = await runLogged(['repo', 'rm', `${backend.registry}/old/app`], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: refusing to delete ${backend.registry}/old/app (3 tags, 2 tagged manifests) without --yes: stdin is not a terminal, so regctl cannot ask\n`);
    expect(r.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);

    r = await runLogged(['repo', 'rm', '--yes', `${backend.registry}/old/app`], env);
    expect(r.code).toBe(0);
    const serve = kind.name === 'regctl serve';
    expect(r.stdout).toBe(`deleted ${backend.registry}/old/app (3 tags, 2 tagged manifests)${serve ? '; the repository is gone' : ''}\n`);
    const deletes = r.requests.filter((q) => q.method === 'DELETE').map((q) => q.path);
    expect(deletes).toEqual(serve ? ['/v2/old/app/_repository'] : [`/v2/old/app/manifests/${a.manifest.digest}`, `/v2/old/app/manifests/${b.manifest.digest}`].sort());
    expect(await repo.headManifest(a.manifest.digest)).toBeUndefined();
    expect(await repo.headManifest(b.manifest.digest)).toBeUndefined();
    // The other repository, holding the same image, is untouched.
    expect((await keep.headManifest('stays'))?.digest).toBe(a.manifest.digest);
    const catalog = await createRegistryClient({ env }).catalog(backend.registry);
    if (serve) expect(catalog).toEqual(['old/keep']);
    const missing = await runLogged(['repo', 'rm', '--yes', `${backend.registry}/old/app`], env);
    expect(missing.code).toBe(3);
  });
});

describe('repo rm on regctl serve: data gone after gc', () => {
  let serve: ServeHandle;
  beforeAll(async () => {
    serve = await startServe();
  });
  afterAll(async () => {
    await serve?.close();
  });

  it('the layout leaves at once, the blob bytes at the next gc; a nested repository stays', async () => {
    const env = isolatedEnv();
    const parent = openRepository(env, serve.registry, 'team');
    const child = openRepository(env, serve.registry, 'team/app');
    const gone = makeImage();
    const shared = makeImage();
    await pushImage(parent, gone, '1');
    await pushImage(parent, shared, 'shared');
    await pushImage(child, shared, '1');
    const r = await runLogged(['repo', 'rm', '--yes', `${serve.registry}/team`], env);
    expect(r.code).toBe(0);
    expect(await createRegistryClient({ env }).catalog(serve.registry)).toEqual(['team/app']);
    expect(existsSync(join(serve.root!, 'team', 'index.json'))).toBe(false);
    expect((await child.headManifest('1'))?.digest).toBe(shared.manifest.digest);
    const layer = gone.layers[0]!.desc.digest.split(':')[1]!;
    const report = await collectGarbage(serve.storage.gcStore!(), { graceMs: 0 });
    expect(report.warnings).toEqual([]);
    expect(existsSync(join(serve.root!, '_blobs', 'sha256', layer))).toBe(false);
    // What the nested repository uses is still there.
    expect(await child.hasBlob(shared.layers[0]!.desc)).toBe(true);
  });
});
