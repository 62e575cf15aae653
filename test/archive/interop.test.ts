import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayoutWriter } from '../../src/archive/layout-writer.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { runCli } from '../helpers/cli.js';
import { pushImage, pushIndex } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { requireTool } from '../helpers/tools.js';
import { dockerSaveTar, makeRealImage, makeRealMultiArch, type RealImage } from './fixtures.js';

const exec = promisify(execFile);

let dir: string;
let serve: ServeHandle;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-interop-'));
  env = { ...process.env, REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), HOME: dir, REGCTL_PROGRESS_INTERVAL_MS: '600000' };
  serve = await startServe();
});
afterAll(async () => {
  await serve?.close();
  await rm(dir, { recursive: true, force: true });
});

function repo(name: string) {
  return createRegistryClient({ env }).repository(serve.registry, name);
}

async function cli(...args: string[]) {
  return runCli(args, { env });
}

async function layoutWith(img: RealImage, tag: string): Promise<string> {
  const path = await mkdtemp(join(dir, 'layout-'));
  await pushImage(await LayoutWriter.create(path), img, tag);
  return path;
}

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await exec(requireTool('skopeo', 'skopeo'), ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

describe('with skopeo as the peer', () => {
  it('imports a skopeo-written docker-archive into serve: config and diff_ids match, layers gzipped', async () => {
    const img = await makeRealImage();
    const layout = await layoutWith(img, '1.0');
    const file = join(dir, 'skopeo-docker.tar');
    await skopeo('copy', `oci:${layout}:1.0`, `docker-archive:${file}:example/app:1.0`);
    const r = await cli('import', file, `${serve.registry}/app`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^imported docker-archive:${file} to ${serve.registry}/app:1.0: sha256:[0-9a-f]{64} \\(3 blobs copied`));
    const m = await repo('app').getManifest('1.0');
    const parsed = JSON.parse(m.bytes.toString()) as ImageManifest;
    expect(parsed.config.digest).toBe(img.config.desc.digest);
    expect(parsed.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip)).toBe(true);
    const cfg = JSON.parse((await readFile(join(layout, 'blobs', 'sha256', img.config.desc.digest.slice(7)))).toString());
    expect(cfg.rootfs.diff_ids).toEqual(img.diffIds);
    // skopeo reads what we pushed (and sees the same uncompressed layers)
    const inspect = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${serve.registry}/app:1.0`)) as { Layers: string[] };
    expect(inspect.Layers).toEqual(parsed.layers.map((l) => l.digest));
  });

  it('imports a skopeo-written oci-archive with the manifest digest unchanged', async () => {
    const img = await makeRealImage();
    const layout = await layoutWith(img, '2.0');
    const file = join(dir, 'skopeo-oci.tar');
    await skopeo('copy', `oci:${layout}:2.0`, `oci-archive:${file}:2.0`);
    const r = await cli('import', file, `${serve.registry}/ociapp:2.0`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await repo('ociapp').headManifest('2.0'))?.digest).toBe(img.manifest.digest);
  });

  it('exports from serve to a docker-archive that skopeo inspects and copies; config and diff_ids match end to end', async () => {
    const img = await makeRealImage({ docker: true });
    await pushImage(repo('exp'), img, '3.0');
    const file = join(dir, 'export.tar');
    const r = await cli('export', `${serve.registry}/exp:3.0`, file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const inspect = JSON.parse(await skopeo('inspect', `docker-archive:${file}`)) as { Layers: string[]; RepoTags: string[] };
    expect(inspect.Layers).toEqual(img.diffIds);
    const config = await skopeo('inspect', '--config', '--raw', `docker-archive:${file}`);
    expect(digestOf(Buffer.from(config))).toBe(img.config.desc.digest);
    const out = join(dir, 'from-export');
    await skopeo('copy', `docker-archive:${file}:${serve.registry}/exp:3.0`, `oci:${out}:x`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    const m = JSON.parse(await readFile(join(out, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8')) as ImageManifest;
    expect(m.config.digest).toBe(img.config.desc.digest);
    // and regctl re-imports its own export
    const back = await cli('import', file, `${serve.registry}/exp-back:3.0`);
    expect(back.code).toBe(0);
    expect(JSON.parse((await repo('exp-back').getManifest('3.0')).bytes.toString()).config.digest).toBe(img.config.desc.digest);
  });
});

describe('round trips and failures through regctl serve', () => {
  it('registry -> oci dir -> registry keeps manifest digests exactly (index and children)', async () => {
    const idx = await makeRealMultiArch();
    await pushIndex(repo('multi'), idx, 'v1');
    const layout = join(dir, 'rt-layout');
    const out = await cli('export', '--format', 'oci', `${serve.registry}/multi:v1`, layout);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const back = await cli('--json', 'import', `oci:${layout}:v1`, `${serve.registry}/multi-copy:v1`);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout).digest).toBe(idx.manifest.digest);
    const r = repo('multi-copy');
    expect((await r.getManifest('v1')).bytes.equals(idx.manifest.bytes)).toBe(true);
    for (const child of idx.images) expect((await r.headManifest(child.manifest.digest))?.digest).toBe(child.manifest.digest);
    // a plain directory path with :TAG is taken as an OCI layout; --platform picks one child
    const one = await cli('--json', 'import', '--platform', 'linux/arm64', `${layout}:v1`, `${serve.registry}/multi-one:v1`);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).digest).toBe(idx.images[1]!.manifest.digest);
    expect((await repo('multi-one').headManifest('v1'))?.digest).toBe(idx.images[1]!.manifest.digest);
    // also through an oci-archive
    const tarFile = join(dir, 'rt.tar');
    expect((await cli('export', '--format', 'oci-archive', `${serve.registry}/multi:v1`, tarFile)).code).toBe(0);
    expect((await cli('import', `oci-archive:${tarFile}`, `${serve.registry}/multi-tar:v1`)).code).toBe(0);
    expect((await repo('multi-tar').headManifest('v1'))?.digest).toBe(idx.manifest.digest);
    // a docker-archive needs a platform
    const noPlat = await cli('export', `${serve.registry}/multi:v1`, join(dir, 'multi.tar'));
    expect(noPlat.code).toBe(2);
    expect(noPlat.stderr).toMatch(/^error: docker-archive:.*multi-platform index \(linux\/amd64, linux\/arm64\/v8\): choose one with --platform\n$/);
    const plat = await cli('export', '--platform', 'linux/arm64', `${serve.registry}/multi:v1`, join(dir, 'multi.tar'));
    expect(plat.code).toBe(0);
  });

  it('bad archives: one-line error, non-zero exit, no tag left at the destination', async () => {
    const img = await makeRealImage();
    const good = await dockerSaveTar(img, ['app:1']);
    const cases: Array<[string, Buffer, RegExp, number]> = [
      ['truncated', good.subarray(0, good.length - 3000), /truncated tar archive/, 5],
      ['corrupt', Buffer.concat([Buffer.alloc(512, 0x41), good]), /corrupt tar archive/, 5],
      ['missing-layer', await dockerSaveTar(img, ['app:1'], { dropLayer: true }), /layer .*layer\.tar is missing from the archive/, 3],
      ['digest-mismatch', await dockerSaveTar(img, ['app:1'], { corruptLayer: true }), /diff_id\) digest mismatch: expected sha256:/, 5],
      ['unknown-format', Buffer.alloc(4096, 0x20), /corrupt tar archive|not a tar archive/, 5],
    ];
    for (const [name, bytes, re, code] of cases) {
      const f = join(dir, `${name}.tar`);
      await writeFile(f, bytes);
      const r = await cli('import', f, `${serve.registry}/bad:${name}`);
      expect(r.code, name).toBe(code);
      expect(r.stderr, name).toMatch(re);
      expect(r.stderr.split('\n').filter(Boolean), name).toHaveLength(1);
      expect(r.stdout, name).toBe('');
      expect(await repo('bad').headManifest(name), name).toBeUndefined();
    }
  });
});

describe('regctl copy with archive locations', () => {
  it('copies docker-archive -> registry, registry -> docker-archive (--platform) and registry -> oci dir', async () => {
    const img = await makeRealImage();
    const file = join(dir, 'copy-in.tar');
    await writeFile(file, await dockerSaveTar(img, ['app:5']));
    const a = await cli('copy', '--progress', 'none', `docker-archive:${file}`, `${serve.registry}/copied`);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    const m = JSON.parse((await repo('copied').getManifest('5')).bytes.toString()) as ImageManifest;
    expect(m.config.digest).toBe(img.config.desc.digest);
    expect(m.layers.map((l) => l.mediaType)).toEqual([MediaType.dockerLayerGzip, MediaType.dockerLayerGzip]);

    const idx = await makeRealMultiArch();
    await pushIndex(repo('copymulti'), idx, 'v2');
    const out = join(dir, 'copy-out.tar');
    const refused = await cli('copy', '--progress', 'none', `${serve.registry}/copymulti:v2`, `docker-archive:${out}:app:v2`);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/choose one with --platform/);
    const b = await cli('copy', '--progress', 'none', '--platform', 'linux/arm64', `${serve.registry}/copymulti:v2`, `docker-archive:${out}:app:v2`);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const back = await openSourceFor(`docker-archive:${out}:app:v2`);
    expect(back).toBe(idx.images[1]!.config.desc.digest);

    const layout = join(dir, 'copy-layout');
    const c = await cli('copy', '--progress', 'none', `${serve.registry}/copymulti:v2`, `oci:${layout}:v2`);
    expect(c.code).toBe(0);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests.map((d: { digest: string }) => d.digest)).toEqual([idx.manifest.digest]);
  });
});

async function openSourceFor(loc: string): Promise<string> {
  const { openSource } = await import('../../src/wiring/open-location.js');
  const s = await openSource(loc);
  try {
    return (JSON.parse((await s.source.getManifest(s.ref)).bytes.toString()) as ImageManifest).config.digest;
  } finally {
    await s.close();
  }
}
