import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { dockerSaveTar, makeRealImage, type RealImage } from '../archive/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * `regctl copy` with a docker-archive on either side: the source streams through the path
 * `regctl import` uses (layers gzipped on the fly into putBlobComputed, no spool), `--no-compress`
 * pushes the layers as they are, and a docker-archive destination records RepoTags from the source.
 */

let dir: string;
let serve: ServeHandle;
let env: NodeJS.ProcessEnv;
let img: RealImage;
let saved: string;

const repo = (name: string) => createRegistryClient({ env }).repository(serve.registry, name);
const cli = (...args: string[]) => runCli(['--json', ...args, ...(args[0] === 'copy' || args[0] === 'import' ? ['--progress', 'none'] : [])], { env });

async function blobBytes(name: string, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await repo(name).getBlob({ mediaType: '', digest, size: 0 })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** manifest.json of a docker-archive file. */
async function saveManifest(file: string): Promise<{ Config: string; RepoTags: string[]; Layers: string[] }[]> {
  const extract = tar.extract();
  let found: Buffer | undefined;
  extract.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      if (h.name === 'manifest.json') found = Buffer.concat(chunks);
      next();
    });
  });
  const done = new Promise<void>((res, rej) => {
    extract.on('finish', () => res());
    extract.on('error', rej);
  });
  extract.end(await readFile(file));
  await done;
  return JSON.parse(found!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-archive-copy-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), HOME: dir };
  serve = await startServe();
  img = await makeRealImage({ layers: [40_000, 70_000] });
  saved = join(dir, 'saved.tar');
  await writeFile(saved, await dockerSaveTar(img, ['team/app:5']));
});

afterAll(async () => {
  await serve?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('copy docker-archive:FILE REGISTRY', () => {
  it('streams the layers gzipped (one PATCH each, no HEAD of a layer first) and gives the same manifest as import', async () => {
    const before = serve.requests.length;
    const r = await cli('copy', `docker-archive:${saved}`, `${serve.registry}/streamed`, '--tag', 'extra');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { digest: string; tags: { tag: string; outcome: string }[]; blobs: { copied: number } };
    expect(report.tags).toEqual([
      { tag: '5', digest: report.digest, outcome: 'pushed' },
      { tag: 'extra', digest: report.digest, outcome: 'pushed' },
    ]);
    expect(report.blobs.copied).toBe(3);
    const reqs = serve.requests.slice(before).filter((q) => q.path.startsWith('/v2/streamed/'));
    expect(reqs.filter((q) => q.method === 'PATCH')).toHaveLength(2);
    const data = await repo('streamed').getManifest('5');
    expect(data.digest).toBe(report.digest);
    expect((await repo('streamed').headManifest('extra'))!.digest).toBe(report.digest);
    const m = JSON.parse(data.bytes.toString()) as ImageManifest;
    expect(m.config.digest).toBe(img.config.desc.digest);
    expect(m.layers.map((l) => l.mediaType)).toEqual([MediaType.dockerLayerGzip, MediaType.dockerLayerGzip]);
    for (const l of m.layers) expect(reqs.some((q) => q.method === 'HEAD' && q.path.endsWith(l.digest))).toBe(false);
    // The gzipped layers hold exactly the archive's tars (diff_ids unchanged).
    for (const [i, l] of m.layers.entries()) {
      const bytes = await blobBytes('streamed', l.digest);
      expect(digestOf(bytes)).toBe(l.digest);
      expect(digestOf(gunzipSync(bytes))).toBe(img.diffIds[i]);
    }

    // One code path: `regctl import` of the same archive writes the same manifest bytes.
    const imp = await cli('import', saved, `${serve.registry}/imported:5`);
    expect(imp.code).toBe(0);
    expect((await repo('imported').getManifest('5')).digest).toBe(report.digest);
  });

  it('--no-compress pushes the uncompressed layers as they are (digest = diff_id)', async () => {
    const r = await cli('copy', '--no-compress', `docker-archive:${saved}`, `${serve.registry}/plain:v1`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = JSON.parse((await repo('plain').getManifest('v1')).bytes.toString()) as ImageManifest;
    expect(m.layers).toEqual(img.tars.map((t, i) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: img.diffIds[i], size: t.length })));
    expect(digestOf(await blobBytes('plain', img.diffIds[1]!))).toBe(img.diffIds[1]);
  });

  it('a corrupt layer: exit 5, one line, nothing tagged, from stdin too', async () => {
    const bad = await dockerSaveTar(img, ['team/app:5'], { corruptLayer: true });
    const file = join(dir, 'bad.tar');
    await writeFile(file, bad);
    const r = await cli('copy', `docker-archive:${file}`, `${serve.registry}/broken:v1`);
    expect(r.code).toBe(5);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/diff_id/);
    expect(await repo('broken').headManifest('v1')).toBeUndefined();
    const piped = await runCli(['copy', '--progress', 'none', 'docker-archive:-', `${serve.registry}/broken:v2`], { env, stdin: bad.toString('latin1') });
    expect(piped.code).not.toBe(0);
    expect(await repo('broken').headManifest('v2')).toBeUndefined();
  });
});

describe('copy to docker-archive:FILE without NAME:TAG', () => {
  it('records RepoTags from the source registry reference', async () => {
    const src = await makeRealImage({ layers: [5000] });
    await pushImage(repo('named'), src, '1.2');
    const out = join(dir, 'out.tar');
    const r = await cli('copy', `${serve.registry}/named:1.2`, `docker-archive:${out}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await saveManifest(out)).map((e) => e.RepoTags)).toEqual([[`${serve.registry}/named:1.2`]]);
  });

  it('records the source archive name when copying archive to archive; a NAME:TAG in DST wins', async () => {
    const out = join(dir, 'again.tar');
    expect((await cli('copy', `docker-archive:${saved}`, `docker-archive:${out}`)).code).toBe(0);
    const entries = await saveManifest(out);
    expect(entries.map((e) => e.RepoTags)).toEqual([['team/app:5']]);
    // The layers come back uncompressed and unchanged.
    expect(entries[0]!.Layers).toHaveLength(2);

    const named = join(dir, 'named.tar');
    expect((await cli('copy', `${serve.registry}/streamed:5`, `docker-archive:${named}:other/name:9`)).code).toBe(0);
    expect((await saveManifest(named)).map((e) => e.RepoTags)).toEqual([['other/name:9']]);
  });
});

describe('interrupting the streaming push', () => {
  it('an abort while a layer streams stops it with ABORTED and tags nothing', async () => {
    const { openSource, openTarget } = await import('../../src/wiring/open-location.js');
    const { copyImage } = await import('../../src/copy/index.js');
    const source = await openSource(`docker-archive:${saved}`);
    const target = await openTarget(`${serve.registry}/stopped:v1`, { registry: { env } });
    const ctl = new AbortController();
    try {
      const err = await copyImage({
        source: source.source,
        target: target.target,
        ref: source.ref,
        tags: ['v1', 'v2'],
        signal: ctl.signal,
        onEvent: (e) => {
          if (e.type === 'blob-progress') ctl.abort();
        },
      }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('ABORTED');
      expect(await repo('stopped').headManifest('v1')).toBeUndefined();
      expect(await repo('stopped').headManifest('v2')).toBeUndefined();
    } finally {
      await target.close();
      await source.close();
    }
  });
});
