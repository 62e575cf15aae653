import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { RegistryClient } from '../../src/registry/client.js';
import { formatBytes } from '../../src/cli/format.js';
import { runCli } from '../helpers/cli.js';
import { seedTags, startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, makeMultiArch, pushImage, pushIndex, type TestImage, type TestIndex } from '../helpers/images.js';

describe('read-only commands against docker-registry', () => {
  let d: Distribution;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let img: TestImage;
  let idx: TestIndex;
  const cli = (...args: string[]) => runCli(args, { env });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regctl-cli-'));
    env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker') };
    d = await startDistribution();
    const client = new RegistryClient();
    img = makeImage({ labels: { 'org.opencontainers.image.title': 'demo' } });
    idx = makeMultiArch();
    const app = client.repository(d.registry, 'image1');
    await pushImage(app, img, 'latest');
    await pushIndex(app, idx, 'multi');
    const tags = ['1.10.0', '1.9.2', 'v1.9.0', '2.0.0', '1.9.10', 'latest-rc', '2.0.0-rc.1', 'stable'];
    await seedTags(d, 'image1', img.manifest.digest, tags);
    await pushImage(client.repository(d.registry, 'team/other'), makeImage(), 'v1');
  });
  afterAll(async () => {
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tags: one per line, sorted, exit 0', async () => {
    const r = await cli('tags', `${d.registry}/image1`);
    expect(r).toEqual({
      code: 0,
      stdout: ['1.10.0', '1.9.10', '1.9.2', '2.0.0', '2.0.0-rc.1', 'latest', 'latest-rc', 'multi', 'stable', 'v1.9.0'].join('\n') + '\n',
      stderr: '',
    });
  });

  it('tags --sort semver and --semver-range', async () => {
    const sorted = await cli('tags', `${d.registry}/image1`, '--sort', 'semver');
    expect(sorted.stdout.trim().split('\n')).toEqual(['latest', 'latest-rc', 'multi', 'stable', '2.0.0-rc.1', 'v1.9.0', '1.9.2', '1.9.10', '1.10.0', '2.0.0']);
    const ranged = await cli('tags', `${d.registry}/image1`, '--semver-range', '>=1.9 <2');
    expect(ranged.stdout).toBe('v1.9.0\n1.9.2\n1.9.10\n1.10.0\n');
    const bad = await cli('tags', `${d.registry}/image1`, '--semver-range', 'not a range');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: invalid --semver-range "not a range"\n');
  });

  it('tags --json', async () => {
    const r = await cli('--json', 'tags', `${d.registry}/image1`, '--semver-range', '^2.0.0-0');
    expect(JSON.parse(r.stdout)).toEqual({ repository: `${d.registry}/image1`, tags: ['2.0.0-rc.1', '2.0.0'] });
  });

  it('catalog (plain and --json, --limit)', async () => {
    expect((await cli('catalog', d.registry)).stdout).toBe('image1\nteam/other\n');
    expect(JSON.parse((await cli('catalog', d.registry, '--json', '--limit', '1')).stdout)).toEqual({ registry: d.registry, repositories: ['image1'] });
    expect((await cli('catalog', d.registry, '--last', 'image1')).stdout).toBe('team/other\n');
  });

  it('digest: HEAD digest, and a platform child of an index', async () => {
    expect(await cli('digest', `${d.registry}/image1:latest`)).toEqual({ code: 0, stdout: `${img.manifest.digest}\n`, stderr: '' });
    expect((await cli('digest', `${d.registry}/image1:multi`, '--platform', 'linux/arm64')).stdout).toBe(`${idx.images[1]!.manifest.digest}\n`);
    expect(JSON.parse((await cli('digest', `${d.registry}/image1:multi`, '--json')).stdout)).toEqual({
      reference: `${d.registry}/image1:multi`,
      digest: idx.manifest.digest,
      mediaType: MediaType.ociIndex,
      size: idx.manifest.bytes.length,
    });
  });

  it('manifest: the exact bytes; --platform picks the child; --json wraps it', async () => {
    const raw = await cli('manifest', `${d.registry}/image1:multi`);
    expect(raw.stdout).toBe(idx.manifest.bytes.toString('utf8'));
    expect(digestOf(raw.stdout)).toBe(idx.manifest.digest);
    const child = await cli('manifest', `${d.registry}/image1:multi`, '--platform', 'linux/amd64');
    expect(child.stdout).toBe(idx.images[0]!.manifest.bytes.toString('utf8'));
    const wrapped = JSON.parse((await cli('manifest', `${d.registry}/image1@${img.manifest.digest}`, '--json')).stdout);
    expect(wrapped).toEqual({
      reference: `${d.registry}/image1@${img.manifest.digest}`,
      digest: img.manifest.digest,
      mediaType: MediaType.ociManifest,
      size: img.manifest.bytes.length,
      manifest: JSON.parse(img.manifest.bytes.toString()),
    });
  });

  it('inspect: an image (config summary, layers) and an index (platforms)', async () => {
    const j = JSON.parse((await cli('inspect', `${d.registry}/image1:latest`, '--json')).stdout);
    expect(j).toEqual({
      reference: `${d.registry}/image1:latest`,
      digest: img.manifest.digest,
      mediaType: MediaType.ociManifest,
      size: img.manifest.bytes.length,
      kind: 'image',
      config: {
        digest: img.config.desc.digest,
        created: '2026-01-02T03:04:05Z',
        platform: 'linux/amd64',
        entrypoint: ['/bin/app'],
        cmd: ['--serve'],
        labels: { 'org.opencontainers.image.title': 'demo' },
      },
      layers: img.layers.map((l) => ({ digest: l.desc.digest, mediaType: l.desc.mediaType, size: l.desc.size })),
      totalSize: img.manifest.bytes.length + img.config.desc.size + img.layers.reduce((a, l) => a + l.desc.size, 0),
    });
    const plain = await cli('inspect', `${d.registry}/image1:latest`);
    expect(plain.stdout).toContain(`Digest:     ${img.manifest.digest}\n`);
    expect(plain.stdout).toContain('Platform:   linux/amd64\n');
    expect(plain.stdout).toContain('  org.opencontainers.image.title=demo\n');
    expect(plain.stdout).toContain(`${img.layers[0]!.desc.digest}\t${formatBytes(img.layers[0]!.desc.size)}\t${img.layers[0]!.desc.mediaType}\n`);
    const index = await cli('inspect', `${d.registry}/image1:multi`);
    expect(index.stdout).toContain(`linux/arm64/v8\t${idx.images[1]!.manifest.digest}\t${formatBytes(idx.images[1]!.manifest.bytes.length)}\n`);
    const ij = JSON.parse((await cli('inspect', `${d.registry}/image1:multi`, '--json')).stdout);
    expect(ij.kind).toBe('index');
    expect(ij.manifests.map((m: { platform: string }) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it('errors: not found exit 3, bad reference exit 2, missing platform exit 3; one line each', async () => {
    const nf = await cli('digest', `${d.registry}/image1:nope`);
    expect(nf.code).toBe(3);
    expect(nf.stderr).toBe(`error: manifest ${d.registry}/image1:nope not found\n`);
    const repo = await cli('tags', `${d.registry}/missing`);
    expect(repo.code).toBe(3);
    expect(repo.stderr.split('\n')).toHaveLength(2);
    const bad = await cli('tags', `${d.registry}/Upper`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: invalid repository "Upper": component "Upper" must be lowercase\n$/);
    const plat = await cli('manifest', `${d.registry}/image1:multi`, '--platform', 'linux/s390x');
    expect(plat.code).toBe(3);
    expect(plat.stderr).toBe(`error: ${d.registry}/image1:multi has no linux/s390x image (it has linux/amd64, linux/arm64/v8)\n`);
  });

  it('--verbose logs requests on stderr, stdout stays clean', async () => {
    const r = await cli('--verbose', 'tags', `${d.registry}/team/other`);
    expect(r.stdout).toBe('v1\n');
    expect(r.stderr).toMatch(new RegExp(`^GET http://${d.registry}/v2/team/other/tags/list -> 200 \\(\\d+ ms\\)\\n$`));
  });
});
