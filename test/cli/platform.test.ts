import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, makeMultiArch, pushImage, pushIndex } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * --platform on a single-platform image: the platform it has is checked like an index's
 * platforms are (content/platform.ts), in copy, export, inspect, digest and manifest.
 */

let s: ServeHandle;
let dir: string;
let env: NodeJS.ProcessEnv;
const amd64 = makeImage({ platform: { os: 'linux', architecture: 'amd64' } });
const multi = makeMultiArch();
const cli = (...args: string[]) => runCli(args, { env });

beforeAll(async () => {
  s = await startServe({ memory: true });
  dir = mkdtempSync(join(tmpdir(), 'regctl-platform-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  const client = new RegistryClient();
  await pushImage(client.repository(s.registry, 'single'), amd64, 'v1');
  await pushIndex(client.repository(s.registry, 'multi'), multi, 'v1');
});

afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('--platform linux/arm64 on a single-platform linux/amd64 image', () => {
  const wrong = () => `error: ${s.registry}/single:v1 has no linux/arm64 image: it is a single-platform linux/amd64 image\n`;
  it.each([
    ['inspect', () => ['inspect', `${s.registry}/single:v1`]],
    ['digest', () => ['digest', `${s.registry}/single:v1`]],
    ['manifest', () => ['manifest', `${s.registry}/single:v1`]],
    ['copy', () => ['copy', '--progress', 'none', `${s.registry}/single:v1`, `${s.registry}/arm:v1`]],
    ['export', () => ['export', '--progress', 'none', `${s.registry}/single:v1`, join(dir, 'arm.tar')]],
  ])('%s: exit 3, one line naming the platform it has; nothing written', async (_name, args) => {
    expect(await cli(...args(), '--platform', 'linux/arm64')).toEqual({ code: 3, stdout: '', stderr: wrong() });
    expect((await cli('tags', `${s.registry}/arm`)).code).toBe(3);
    expect(existsSync(join(dir, 'arm.tar'))).toBe(false);
  });

  it('the platform it has is accepted (variant-free match), the same digest as without --platform', async () => {
    expect(await cli('digest', `${s.registry}/single:v1`, '--platform', 'linux/amd64')).toEqual({ code: 0, stdout: `${amd64.manifest.digest}\n`, stderr: '' });
    expect((await cli('manifest', `${s.registry}/single:v1`, '--platform', 'linux/amd64')).stdout).toBe(amd64.manifest.bytes.toString('utf8'));
    const c = await cli('copy', '--progress', 'none', '--platform', 'linux/amd64', `${s.registry}/single:v1`, `${s.registry}/amd:v1`);
    expect(c.code, c.stderr).toBe(0);
    expect((await cli('digest', `${s.registry}/amd:v1`)).stdout).toBe(`${amd64.manifest.digest}\n`);
    const i = JSON.parse((await cli('inspect', `${s.registry}/single:v1`, '--platform', 'linux/amd64', '--json')).stdout);
    expect(i).toMatchObject({ kind: 'image', digest: amd64.manifest.digest, config: { platform: 'linux/amd64' } });
  });

  it('an index without the platform: the same kind of message, exit 3', async () => {
    const r = await cli('digest', `${s.registry}/multi:v1`, '--platform', 'linux/s390x');
    expect(r).toEqual({ code: 3, stdout: '', stderr: `error: ${s.registry}/multi:v1 has no linux/s390x image (it has linux/amd64, linux/arm64/v8)\n` });
    expect((await cli('digest', `${s.registry}/multi:v1`, '--platform', 'linux/arm64')).stdout).toBe(`${multi.images[1]!.manifest.digest}\n`);
  });
});
