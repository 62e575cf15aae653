import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { makeImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { runCli } from '../helpers/cli.js';
import { layoutContent, pull, pushHttp, startMirror, tempDir, type MirrorServe } from './harness.js';

/**
 * The mirror answers only for mirrored names and only with the mirrored repository's own
 * content: blob requests under a local name (a push in progress) reach the registry's own
 * handlers, so a client is never told "you need not upload" for a blob the repository lacks.
 */

let upstream: ServeHandle;
let proxy: UpstreamProxy;
let work: string;
const mirrors: MirrorServe[] = [];

async function mirror(flags: Record<string, unknown> = {}): Promise<MirrorServe> {
  const m = await startMirror({ mirror: [`x=${proxy.url}`], ...flags });
  mirrors.push(m);
  return m;
}

async function status(url: string, method = 'HEAD'): Promise<number> {
  const r = await fetch(url, { method });
  await r.arrayBuffer();
  return r.status;
}

async function catalog(m: MirrorServe): Promise<string[]> {
  return ((await (await fetch(`${m.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
}

beforeAll(async () => {
  upstream = await startServe();
  proxy = await startUpstreamProxy(upstream.url);
  work = await tempDir();
});

afterEach(async () => {
  while (mirrors.length > 0) await mirrors.pop()!.close();
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await rm(work, { recursive: true, force: true });
});

describe('mirror and local names', () => {
  test('--mirror-default: regctl copy of a pulled-through image to a local name uploads its blobs and pushes', async () => {
    const image = makeImage({ layers: [70_000, 3000] });
    await pushHttp(upstream.url, 'hello', image, '2');
    const m = await mirror({ mirrorDefault: 'x' });
    const dir = join(work, 'hello');
    await pull(`${m.registry}/hello:2`, dir);
    expect((await layoutContent(dir)).manifest).toBe(image.manifest.digest);

    // The cached blob is not the local repository's: HEAD under the local name says so.
    const layer = image.layers[0]!.desc.digest;
    expect(await status(`${m.url}/v2/local/blobs/${layer}`)).toBe(404);
    expect(await status(`${m.url}/v2/local/blobs/${layer}`, 'GET')).toBe(404);

    const r = await runCli(['copy', '--progress', 'none', `oci:${dir}:latest`, `${m.registry}/local:1`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = await fetch(`${m.url}/v2/local/manifests/1`, { headers: { Accept: image.manifest.mediaType } });
    await got.arrayBuffer();
    expect(got.status).toBe(200);
    expect(got.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(await status(`${m.url}/v2/local/blobs/${layer}`)).toBe(200);
    // The push never went upstream, and the catalog has no phantom x/local.
    expect(proxy.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    expect((await catalog(m)).sort()).toEqual(['local', 'x/hello']);
  });

  test('--mirror-default: the first push to a local name that was pulled through (same name) succeeds and then wins', async () => {
    const image = makeImage({ layers: [40_000] });
    await pushHttp(upstream.url, 'shadow', image, 'up');
    const m = await mirror({ mirrorDefault: 'x' });
    const dir = join(work, 'shadow');
    await pull(`${m.registry}/shadow:up`, dir);
    const r = await runCli(['copy', '--progress', 'none', `oci:${dir}:latest`, `${m.registry}/shadow:mine`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = await fetch(`${m.url}/v2/shadow/manifests/mine`, { headers: { Accept: image.manifest.mediaType } });
    await got.arrayBuffer();
    expect(got.status).toBe(200);
    expect(got.headers.get('regctl-mirror')).toBeNull();
    expect(await (await fetch(`${m.url}/v2/shadow/tags/list`)).json()).toEqual({ name: 'shadow', tags: ['mine'] });
    expect(proxy.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
  });

  test('namespaced: a cached digest is not confirmed under another mirror name, nor does it make a repository', async () => {
    const image = makeImage({ layers: [5000] });
    await pushHttp(upstream.url, 'team/real', image, 'v1');
    const m = await mirror();
    await pull(`${m.registry}/x/team/real:v1`, join(work, 'real'));
    const layer = image.layers[0]!.desc.digest;
    expect(await status(`${m.url}/v2/x/team/real/blobs/${layer}`)).toBe(200);
    // Upstream has no x/pushed: neither HEAD nor GET answers 200 from the shared cache.
    expect(await status(`${m.url}/v2/x/pushed/blobs/${layer}`)).toBe(404);
    expect(await status(`${m.url}/v2/x/pushed/blobs/${layer}`, 'GET')).toBe(404);
    // Nor under any local name.
    expect(await status(`${m.url}/v2/elsewhere/blobs/${layer}`)).toBe(404);
    expect(await catalog(m)).toEqual(['x/team/real']);
  });

  test('tags/list pulls through: upstream-only names list upstream tags, local repositories win, unknown names are NAME_UNKNOWN', async () => {
    const image = makeImage({ layers: [1200] });
    await pushHttp(upstream.url, 'team/listed', image, '2');
    await pushHttp(upstream.url, 'team/listed', image, '1');
    await pushHttp(upstream.url, 'team/both', image, 'theirs');
    const m = await mirror({ mirrorDefault: 'x' });
    await pushHttp(m.url, 'team/both', image, 'mine');
    const tags = async (path: string) => {
      const r = await fetch(`${m.url}/v2/${path}/tags/list`);
      return { status: r.status, body: (await r.json()) as unknown };
    };
    expect(await tags('team/listed')).toEqual({ status: 200, body: { name: 'team/listed', tags: ['1', '2'] } });
    expect(await tags('x/team/listed')).toEqual({ status: 200, body: { name: 'x/team/listed', tags: ['1', '2'] } });
    expect(await tags('team/both')).toEqual({ status: 200, body: { name: 'team/both', tags: ['mine'] } });
    const unknown = await tags('team/nowhere');
    expect(unknown.status).toBe(404);
    expect((unknown.body as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('NAME_UNKNOWN');
    // Pagination passes through; the next link names this server's path.
    const page = await fetch(`${m.url}/v2/team/listed/tags/list?n=1`);
    expect(await page.json()).toEqual({ name: 'team/listed', tags: ['1'] });
    expect(page.headers.get('link')).toBe('</v2/team/listed/tags/list?n=1&last=1>; rel="next"');
    // Nothing was written for it.
    expect((await catalog(m)).sort()).toEqual(['team/both']);
  });
});
