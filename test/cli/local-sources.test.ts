import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget } from '../../src/wiring/open-location.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { requireTool } from '../helpers/tools.js';
import { makeRealImage, type RealImage } from '../archive/fixtures.js';
import { formatBytes } from '../../src/cli/format.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, makeMultiArch, pushImage, pushIndex, type TestImage, type TestIndex } from '../helpers/images.js';

/**
 * inspect / tags / digest / manifest on local images: an OCI layout directory, an OCI layout
 * tar and a `docker save` archive, all written by the project's own writers.
 */

let dir: string;
let layout: string;
let ociTar: string;
let dockerTar: string;
let img: TestImage;
let multi: TestIndex;
let single: TestImage;
let saved: RealImage;
let env: NodeJS.ProcessEnv;

async function write(location: string, fill: (t: Awaited<ReturnType<typeof openTarget>>['target']) => Promise<void>): Promise<void> {
  const opened = await openTarget(location);
  try {
    await fill(opened.target);
    await opened.target.commit?.();
  } finally {
    await opened.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-local-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), HOME: dir };
  layout = join(dir, 'layout');
  ociTar = join(dir, 'image.tar');
  dockerTar = join(dir, 'saved.tar');
  img = makeImage({ layers: [1000, 2000], labels: { b: '2', a: '1' } });
  multi = makeMultiArch([300]);
  single = makeImage({ layers: [512] });
  saved = await makeRealImage({ layers: [3000, 4000], docker: true });
  await write(`oci:${layout}`, async (t) => {
    await pushImage(t, img, 'v1');
    await pushIndex(t, multi, 'multi');
  });
  await write(`oci-archive:${ociTar}`, (t) => pushImage(t, single, '1.0'));
  await write(`docker-archive:${dockerTar}:example.com/team/app:2.0`, (t) => pushImage(t, saved, '2.0'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What a docker-archive image looks like read as it is: uncompressed layers, digest = diff_id. */
function dockerArchiveManifest(image: RealImage): { bytes: Buffer; digest: string } {
  const body = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: image.config.desc.digest, size: image.config.bytes.length },
    layers: image.tars.map((t, i) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: image.diffIds[i], size: t.length })),
  };
  const bytes = Buffer.from(JSON.stringify(body, null, 3));
  return { bytes, digest: digestOf(bytes) };
}

describe('tags on local images', () => {
  it('lists every tag of an OCI layout directory (two images), plain and --json', async () => {
    const r = await runCli(['tags', `oci:${layout}`], { env });
    expect(r).toEqual({ code: 0, stdout: 'multi\nv1\n', stderr: '' });
    const j = await runCli(['tags', '--json', `oci:${layout}`], { env });
    expect(JSON.parse(j.stdout)).toEqual({ repository: `oci:${layout}`, tags: ['multi', 'v1'] });
  });

  it('lists the tag of an oci-archive and of a docker-archive', async () => {
    expect(await runCli(['tags', `oci-archive:${ociTar}`], { env })).toEqual({ code: 0, stdout: '1.0\n', stderr: '' });
    expect(await runCli(['tags', `docker-archive:${dockerTar}`], { env })).toEqual({ code: 0, stdout: '2.0\n', stderr: '' });
    const j = await runCli(['tags', '--json', `docker-archive:${dockerTar}`], { env });
    expect(JSON.parse(j.stdout)).toEqual({ repository: `docker-archive:${dockerTar}`, tags: ['2.0'] });
  });

  it('--sort semver applies to layout tags too', async () => {
    const sem = join(dir, 'semver');
    await write(`oci:${sem}`, async (t) => {
      for (const tag of ['1.10.0', '1.9.2', 'latest']) await pushImage(t, single, tag);
    });
    expect((await runCli(['tags', '--sort', 'semver', `oci:${sem}`], { env })).stdout).toBe('latest\n1.9.2\n1.10.0\n');
  });
});

describe('digest on local images', () => {
  it('prints the manifest digest of a layout tag, an index and an index platform', async () => {
    expect(await runCli(['digest', `oci:${layout}:v1`], { env })).toEqual({ code: 0, stdout: `${img.manifest.digest}\n`, stderr: '' });
    expect((await runCli(['digest', `oci:${layout}:multi`], { env })).stdout).toBe(`${multi.manifest.digest}\n`);
    const arm = multi.images[1]!.manifest;
    const j = await runCli(['digest', '--json', '--platform', 'linux/arm64', `oci:${layout}:multi`], { env });
    expect(JSON.parse(j.stdout)).toEqual({ reference: `oci:${layout}:multi`, digest: arm.digest, mediaType: arm.mediaType, size: arm.bytes.length });
  });

  it('resolves an oci-archive holding one image without a tag, and names the tag read', async () => {
    const j = await runCli(['digest', '--json', `oci-archive:${ociTar}`], { env });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({
      reference: `oci-archive:${ociTar}:1.0`,
      digest: single.manifest.digest,
      mediaType: MediaType.ociManifest,
      size: single.manifest.bytes.length,
    });
  });

  it('a docker-archive: the digest of its image as stored (uncompressed layers)', async () => {
    const want = dockerArchiveManifest(saved);
    expect(await runCli(['digest', `docker-archive:${dockerTar}`], { env })).toEqual({ code: 0, stdout: `${want.digest}\n`, stderr: '' });
    expect((await runCli(['digest', `docker-archive:${dockerTar}:example.com/team/app:2.0`], { env })).stdout).toBe(`${want.digest}\n`);
  });

  it('a layout by digest, and errors: unknown tag (exit 3), several images without a tag (exit 2), missing layout (exit 3)', async () => {
    expect((await runCli(['digest', `oci:${layout}@${img.manifest.digest}`], { env })).stdout).toBe(`${img.manifest.digest}\n`);
    const missing = await runCli(['digest', `oci:${layout}:nope`], { env });
    expect(missing).toEqual({ code: 3, stdout: '', stderr: `error: manifest oci:${layout}:nope not found\n` });
    const several = await runCli(['digest', `oci:${layout}`], { env });
    expect(several).toEqual({ code: 2, stdout: '', stderr: `error: oci:${layout} holds 2 images; name one with :TAG (tags: multi, v1)\n` });
    const none = await runCli(['digest', `oci:${join(dir, 'absent')}`], { env });
    expect(none).toEqual({ code: 3, stdout: '', stderr: `error: OCI layout ${join(dir, 'absent')} not found\n` });
  });
});

describe('standard input', () => {
  it('digest docker-archive:- and tags oci-archive:- read the archive from stdin', async () => {
    const { run } = await import('../../src/cli/main.js');
    const { PassThrough, Readable } = await import('node:stream');
    const viaStdin = async (args: string[], file: string): Promise<{ code: number; stdout: string }> => {
      const stdout = new PassThrough();
      const chunks: Buffer[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c));
      const stderr = new PassThrough().resume();
      const code = await run(args, { stdout, stderr, stdin: Readable.from([await readFile(file)]), env: { ...process.env, ...env } });
      return { code, stdout: Buffer.concat(chunks).toString() };
    };
    expect(await viaStdin(['digest', 'docker-archive:-'], dockerTar)).toEqual({ code: 0, stdout: `${dockerArchiveManifest(saved).digest}\n` });
    expect(await viaStdin(['tags', 'oci-archive:-'], ociTar)).toEqual({ code: 0, stdout: '1.0\n' });
  });
});

describe('manifest on local images', () => {
  it('prints the stored bytes exactly (layout dir, oci-archive, index platform)', async () => {
    expect((await runCli(['manifest', `oci:${layout}:v1`], { env })).stdout).toBe(img.manifest.bytes.toString());
    expect((await runCli(['manifest', `oci-archive:${ociTar}:1.0`], { env })).stdout).toBe(single.manifest.bytes.toString());
    expect((await runCli(['manifest', `oci:${layout}:multi`], { env })).stdout).toBe(multi.manifest.bytes.toString());
    expect((await runCli(['manifest', '--platform', 'linux/amd64', `oci:${layout}:multi`], { env })).stdout).toBe(
      multi.images[0]!.manifest.bytes.toString(),
    );
  });

  it('a docker-archive image as a Docker v2 manifest; --json wraps it', async () => {
    const want = dockerArchiveManifest(saved);
    expect((await runCli(['manifest', `docker-archive:${dockerTar}`], { env })).stdout).toBe(want.bytes.toString());
    const j = await runCli(['manifest', '--json', `docker-archive:${dockerTar}`], { env });
    expect(JSON.parse(j.stdout)).toEqual({
      reference: `docker-archive:${dockerTar}`,
      digest: want.digest,
      mediaType: MediaType.dockerManifest,
      size: want.bytes.length,
      manifest: JSON.parse(want.bytes.toString()),
    });
  });
});

describe('inspect on local images', () => {
  it('an image in a layout directory: exact text', async () => {
    const r = await runCli(['inspect', `oci:${layout}:v1`], { env });
    const f = (k: string, v: string | number): string => `${`${k}:`.padEnd(12)}${v}\n`;
    const total = img.manifest.bytes.length + img.config.desc.size + 3000;
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      f('Reference', `oci:${layout}:v1`) +
        f('Digest', img.manifest.digest) +
        f('Media type', MediaType.ociManifest) +
        f('Size', formatBytes(img.manifest.bytes.length)) +
        f('Created', '2026-01-02T03:04:05Z') +
        f('Platform', 'linux/amd64') +
        f('Entrypoint', '["/bin/app"]') +
        f('Cmd', '["--serve"]') +
        'Labels:\n  a=1\n  b=2\n' +
        'Layers:\n' +
        img.layers.map((l) => `${l.desc.digest}\t${formatBytes(l.desc.size)}\t${MediaType.ociLayerGzip}\n`).join('') +
        f('Total size', formatBytes(total)),
    );
  });

  it('an index in a layout directory lists its platforms', async () => {
    const j = JSON.parse((await runCli(['inspect', '--json', `oci:${layout}:multi`], { env })).stdout) as Record<string, unknown>;
    expect(j).toEqual({
      reference: `oci:${layout}:multi`,
      digest: multi.manifest.digest,
      mediaType: MediaType.ociIndex,
      size: multi.manifest.bytes.length,
      kind: 'index',
      manifests: multi.images.map((i) => ({
        digest: i.manifest.digest,
        mediaType: i.manifest.mediaType,
        size: i.manifest.bytes.length,
        platform: i.platform.variant ? `linux/${i.platform.architecture}/${i.platform.variant}` : `linux/${i.platform.architecture}`,
      })),
    });
  });

  it('an oci-archive and a docker-archive (--json)', async () => {
    const a = JSON.parse((await runCli(['inspect', '--json', `oci-archive:${ociTar}`], { env })).stdout) as { reference: string; digest: string; layers: unknown[] };
    expect(a.reference).toBe(`oci-archive:${ociTar}:1.0`);
    expect(a.digest).toBe(single.manifest.digest);
    expect(a.layers).toEqual([{ digest: single.layers[0]!.desc.digest, mediaType: MediaType.ociLayerGzip, size: 512 }]);

    const want = dockerArchiveManifest(saved);
    const r = await runCli(['inspect', '--json', `docker-archive:${dockerTar}`], { env });
    expect(r.stderr).toBe('');
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(d).toEqual({
      reference: `docker-archive:${dockerTar}`,
      digest: want.digest,
      mediaType: MediaType.dockerManifest,
      size: want.bytes.length,
      kind: 'image',
      config: {
        digest: saved.config.desc.digest,
        created: '2026-01-02T03:04:05Z',
        platform: 'linux/amd64',
        cmd: ['/bin/sh'],
        labels: JSON.parse(saved.config.bytes.toString()).config.Labels,
      },
      layers: saved.tars.map((t, i) => ({ digest: saved.diffIds[i], mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: t.length })),
      totalSize: want.bytes.length + saved.config.bytes.length + saved.tars.reduce((n, t) => n + t.length, 0),
    });
  });

  it('a corrupt docker-archive: one line, non-zero exit', async () => {
    const bad = join(dir, 'bad.tar');
    const bytes = await readFile(dockerTar);
    await (await import('node:fs/promises')).writeFile(bad, bytes.subarray(0, 1536));
    const r = await runCli(['inspect', `docker-archive:${bad}`], { env });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
  });
});

describe('skopeo reads the same local images (interop)', () => {
  it('skopeo sees the config digest and layers regctl reports for the docker-archive and the layout', async () => {
    const run = promisify(execFile);
    const skopeo = requireTool('skopeo', 'skopeo');
    const raw = JSON.parse((await run(skopeo, ['inspect', '--raw', `docker-archive:${dockerTar}`])).stdout) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    const ours = JSON.parse((await runCli(['manifest', `docker-archive:${dockerTar}`], { env })).stdout) as typeof raw;
    expect(ours.config.digest).toBe(raw.config.digest);
    expect(ours.layers.map((l) => l.digest)).toEqual(raw.layers.map((l) => l.digest));
    const sk = (await run(skopeo, ['inspect', '--raw', `oci:${layout}:v1`], { encoding: 'buffer' })).stdout;
    expect((await runCli(['digest', `oci:${layout}:v1`], { env })).stdout).toBe(`${digestOf(sk)}\n`);
  });
});
