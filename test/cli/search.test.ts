import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * `regctl search HOST TERM` against regctl serve (its /v1/search) and docker-registry (no
 * /v1/search: the catalog is filtered instead), with the same names in the same order.
 */

const REPOS = ['alpha/tool', 'app', 'tools/app-cli', 'webapp', 'zeta'];
let dir: string;
let env: NodeJS.ProcessEnv;
let serve: ServeHandle;
let dist: Distribution;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regctl-search-cli-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  [serve, dist] = await Promise.all([startServe({ memory: true }), startDistribution()]);
  const client = new RegistryClient();
  const image = makeImage({ layers: [16] });
  for (const reg of [serve.registry, dist.registry]) for (const r of REPOS) await pushImage(client.repository(reg, r), image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all([serve?.close(), dist?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['regctl serve', () => serve.registry, 'search'],
  ['docker-registry', () => dist.registry, 'catalog'],
] as const)('regctl search against %s', (_name, registry, source) => {
  it('prints matching names, prefix matches first', async () => {
    expect(await runCli(['search', registry(), 'app'], { env })).toEqual({ code: 0, stdout: 'app\ntools/app-cli\nwebapp\n', stderr: '' });
  });

  it('--json says where the names came from; --limit stops early', async () => {
    const r = await runCli(['search', registry(), 'TOOL', '--json', '--limit', '1'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ registry: registry(), term: 'TOOL', source, results: ['alpha/tool'] });
  });

  it('no match: empty output, exit 0', async () => {
    expect(await runCli(['search', registry(), 'nothing-here'], { env })).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

it('pages through /v1/search when the limit is above one page', async () => {
  const r = await runCli(['search', serve.registry, 'a', '--json', '--limit', '200'], { env });
  expect(JSON.parse(r.stdout).results).toEqual(['alpha/tool', 'app', 'tools/app-cli', 'webapp', 'zeta']);
  expect(serve.requests.filter((q) => q.path === '/v1/search').length).toBeGreaterThan(0);
});

it('a bad --limit is a usage error (exit 2)', async () => {
  const r = await runCli(['search', serve.registry, 'a', '--limit', '0'], { env });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--limit must be a positive integer');
});
