import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * How registries are named on the command line: a bare registry where a repository is wanted,
 * an http:// or https:// in front of any registry or reference, and the opt-in default registry
 * for names without one (REGCTL_REGISTRY, `config set-default`).
 */

let s: ServeHandle;
let dir: string;
let env: NodeJS.ProcessEnv;
const image = makeImage();
const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extra } });

beforeAll(async () => {
  s = await startServe({ memory: true });
  dir = mkdtempSync(join(tmpdir(), 'regctl-naming-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  const client = new RegistryClient();
  await pushImage(client.repository(s.registry, 'app'), image, '1.9.2');
  await pushImage(client.repository(s.registry, 'myimage'), image, '1.9.2');
});

afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a registry where a repository is wanted', () => {
  it.each([
    ['tags', () => s.registry],
    ['tags', () => `http://${s.registry}`],
    ['tags', () => `${s.registry}/`],
  ])('%s %s: says it is a registry and suggests catalog, exit 2', async (cmd, arg) => {
    const r = await cli([cmd, arg()]);
    expect(r).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: "${arg()}" is a registry, not a repository: name one as ${s.registry}/REPO, or list the registry's repositories with: regctl catalog ${s.registry}\n`,
    });
  });

  it('tags localhost:5000 names localhost:5000', async () => {
    const r = await cli(['tags', 'localhost:5000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('regctl catalog localhost:5000\n');
  });
});

describe('http:// and https:// wherever a registry is named', () => {
  const h = () => `http://${s.registry}`;
  it('tags, catalog, digest, manifest, inspect accept http://', async () => {
    expect(await cli(['tags', `${h()}/app`])).toEqual({ code: 0, stdout: '1.9.2\n', stderr: '' });
    expect((await cli(['catalog', `${h()}/`])).stdout).toBe('app\nmyimage\n');
    expect(await cli(['digest', `${h()}/app:1.9.2`])).toEqual({ code: 0, stdout: `${image.manifest.digest}\n`, stderr: '' });
    const m = await cli(['manifest', `${h()}/app:1.9.2`]);
    expect(m.code).toBe(0);
    expect(m.stdout).toBe(image.manifest.bytes.toString('utf8'));
    const i = await cli(['inspect', `${h()}/app:1.9.2`, '--json']);
    expect(JSON.parse(i.stdout)).toMatchObject({ reference: `${s.registry}/app:1.9.2`, digest: image.manifest.digest });
  });

  it('copy, retag, tag rm, delete accept http://', async () => {
    const c = await cli(['copy', '--progress', 'none', `${h()}/app:1.9.2`, `${h()}/copied:1`]);
    expect(c.code, c.stderr).toBe(0);
    expect((await cli(['digest', `${s.registry}/copied:1`])).stdout).toBe(`${image.manifest.digest}\n`);
    const r = await cli(['retag', `${h()}/copied:1`, 'two']);
    expect(r.code, r.stderr).toBe(0);
    expect((await cli(['tags', `${s.registry}/copied`])).stdout).toBe('1\ntwo\n');
    const rm = await cli(['tag', 'rm', `${h()}/copied:two`]);
    expect(rm.code, rm.stderr).toBe(0);
    const d = await cli(['delete', '--yes', `${h()}/copied@${image.manifest.digest}`]);
    expect(d.code, d.stderr).toBe(0);
    expect((await cli(['tags', `${s.registry}/copied`])).stdout).toBe('');
  });

  it('config set and show accept a scheme; other schemes are refused', async () => {
    const set = await cli(['config', 'set', 'http://registry.lan:5000/', '--insecure']);
    expect(set).toEqual({ code: 0, stdout: '', stderr: 'registry.lan:5000: insecure (plain HTTP)\n' });
    expect((await cli(['config', 'show', 'https://registry.lan:5000'])).stdout).toContain('registry.lan:5000\tinsecure (plain HTTP)\n');
    const ftp = await cli(['tags', `ftp://${s.registry}/app`]);
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toBe(`error: invalid reference "ftp://${s.registry}/app": unsupported scheme ftp:// (use http://, https:// or none)\n`);
  });

  it('one host named both ways in one command is refused', async () => {
    const r = await cli(['copy', '--progress', 'none', `${h()}/app:1.9.2`, `https://${s.registry}/other:1`]);
    expect(r).toEqual({ code: 2, stdout: '', stderr: `error: ${s.registry} is named both as http:// and https://: use one\n` });
  });
});

describe('default registry for names without one', () => {
  it("without it, Docker's rule: config show says docker.io", async () => {
    const r = await cli(['config', 'show', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ defaultRegistry: 'docker.io', defaultRegistryFrom: 'docker' });
  });

  it('REGCTL_REGISTRY: retag --semver myimage:1.9.2 goes to that registry', async () => {
    const r = await cli(['retag', '--semver', 'myimage:1.9.2'], { REGCTL_REGISTRY: s.registry });
    expect(r.code, r.stderr).toBe(0);
    expect((await cli(['tags', `${s.registry}/myimage`])).stdout).toBe('1\n1.9\n1.9.2\nlatest\n');
    expect(JSON.parse((await cli(['config', 'show', '--json'], { REGCTL_REGISTRY: s.registry })).stdout)).toMatchObject({
      defaultRegistry: s.registry,
      defaultRegistryFrom: 'REGCTL_REGISTRY',
    });
    const bad = await cli(['tags', 'app'], { REGCTL_REGISTRY: 'not a host' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: REGCTL_REGISTRY: invalid registry/);
  });

  it('config set-default stores it, config show shows it, --unset removes it', async () => {
    const set = await cli(['config', 'set-default', s.registry]);
    expect(set).toEqual({ code: 0, stdout: '', stderr: `names without a registry now mean ${s.registry}\n` });
    expect(await cli(['tags', 'app'])).toEqual({ code: 0, stdout: '1.9.2\n', stderr: '' });
    expect(await cli(['digest', 'app:1.9.2'])).toEqual({ code: 0, stdout: `${image.manifest.digest}\n`, stderr: '' });
    expect((await cli(['config', 'show'])).stdout).toContain(`default registry: ${s.registry} (set with config set-default)\n`);
    // The environment wins over the stored default.
    expect(JSON.parse((await cli(['config', 'show', '--json'], { REGCTL_REGISTRY: 'other.example:5000' })).stdout).defaultRegistry).toBe('other.example:5000');
    const unset = await cli(['config', 'set-default', '--unset']);
    expect(unset).toEqual({ code: 0, stdout: '', stderr: 'names without a registry mean docker.io again\n' });
    expect((await cli(['config', 'show'])).stdout).toContain("default registry: docker.io (Docker's rule)\n");
    expect((await cli(['config', 'set-default'])).code).toBe(2);
  });
});
