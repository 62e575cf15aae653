import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { syncEvery, syncOnce, type SyncReport } from '../../src/sync/index.js';
import { openSource } from '../../src/wiring/open-location.js';
import { syncOpener } from '../../src/wiring/sync-opener.js';
import { startFaultProxy, type FaultProxy } from '../copy/fault-proxy.js';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

const env = { ...process.env, REGCTL_CONFIG_DIR: '/nonexistent-regctl-test', DOCKER_CONFIG: '/nonexistent-regctl-test' };
const WRITES = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const client = new RegistryClient();

let serve: ServeHandle;
let dist: Distribution;
let dir: string;

beforeAll(async () => {
  [serve, dist] = await Promise.all([startServe({ memory: true }), startDistribution()]);
  dir = await mkdtemp(join(tmpdir(), 'regctl-sync-'));
}, 30_000);
afterAll(async () => {
  await Promise.all([serve?.close(), dist?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The source's repositories: app with versions and other tags, tools/one|two|three. */
async function seed(registry: string): Promise<void> {
  const a = makeImage({ layers: [3000] });
  const b = makeImage({ layers: [2000, 100] });
  const app = client.repository(registry, 'app');
  await pushImage(app, a, '1.0.0');
  await pushImage(app, b, '1.2.0');
  for (const t of ['v1.5.0', '1.9.3', '2.0.0', '1.3.0-rc1', 'latest', 'dev-x', 'dev-old', '0.9.0']) await pushImage(app, t === '1.9.3' ? b : a, t);
  for (const [name, tag] of [['tools/one', '1.0'], ['tools/two', '2.0'], ['tools/three', '3.0']] as const) await pushImage(client.repository(registry, name), makeImage({ layers: [500] }), tag);
}

const tagsOf = async (registry: string, repo: string): Promise<string[]> => (await client.repository(registry, repo).listTags()).sort();

async function run(file: string) {
  return syncOnce({ file, open: (hooks) => syncOpener({ registry: { env }, onResponse: hooks.onResponse }), concurrency: 3 });
}

const CASES = [
  { name: 'serve -> docker-registry', source: () => serve.registry, target: () => dist.registry },
  { name: 'docker-registry -> serve', source: () => dist.registry, target: () => serve.registry },
];

describe.each(CASES)('sync $name', (c) => {
  let proxy: FaultProxy;
  let file: string;
  let layout: string;
  beforeAll(async () => {
    await seed(c.source());
    // Every request to the target is logged (what the second run writes: nothing).
    proxy = await startFaultProxy(c.target());
    layout = join(dir, `layout-${c.source().replace(/\W/g, '-')}`);
    file = join(dir, `${c.name.replace(/\W/g, '-')}.yaml`);
    const S = c.source();
    const T = proxy.registry;
    await writeFile(
      file,
      `sync:
  - source: ${S}/app
    target: ${T}/into/app
    tags:
      semver: ">=1.0 <2"
    retag: semver
  - source: ${S}/app
    target: ${T}/into/dev
    tags:
      include: "^dev-"
      exclude: ["-old$"]
  - source: ${S}/tools
    repo-match: "^(one|two)$"
    target: ${T}/into/mirror
  - source: ${S}/app
    target: oci:${layout}
    tags:
      latest: 2
`,
    );
  }, 60_000);
  afterAll(() => proxy?.close());

  it('copies exactly the selected tags; the second run writes nothing', async () => {
    const first = await run(file);
    expect(first.images.map((r) => [r.source, r.target, r.selected, r.copied, r.skipped, r.failed, r.error])).toEqual([
      [`${c.source()}/app`, `${proxy.registry}/into/app`, 4, 4, 0, 0, undefined],
      [`${c.source()}/app`, `${proxy.registry}/into/dev`, 1, 1, 0, 0, undefined],
      [`${c.source()}/tools/one`, `${proxy.registry}/into/mirror/one`, 1, 1, 0, 0, undefined],
      [`${c.source()}/tools/two`, `${proxy.registry}/into/mirror/two`, 1, 1, 0, 0, undefined],
      [`${c.source()}/app`, `oci:${layout}`, 2, 2, 0, 0, undefined],
    ]);
    expect(first.images[0]!.retagged).toEqual(['1', '1.0', '1.2', '1.9', 'latest', 'v1', 'v1.5']);
    expect(first.totals).toMatchObject({ images: 5, copied: 9, skipped: 0, failed: 0, failedImages: 0 });
    expect(first.totals.bytes).toBeGreaterThan(5000);

    const T = c.target();
    expect(await tagsOf(T, 'into/app')).toEqual(['1', '1.0', '1.0.0', '1.2', '1.2.0', '1.9', '1.9.3', 'latest', 'v1', 'v1.5', 'v1.5.0']);
    expect(await tagsOf(T, 'into/dev')).toEqual(['dev-x']);
    expect(await tagsOf(T, 'into/mirror/one')).toEqual(['1.0']);
    expect(await tagsOf(T, 'into/mirror/two')).toEqual(['2.0']);
    expect(await tagsOf(T, 'into/mirror/three').catch((e: { exitCode?: number }) => e.exitCode)).toBe(3);
    const lay = await openSource(`oci:${layout}:2.0.0`);
    expect((await lay.source.listTags()).sort()).toEqual(['1.9.3', '2.0.0']);
    await lay.close();
    expect((await lay.source.headManifest('1.9.3'))?.digest).toBe((await client.repository(c.source(), 'app').headManifest('1.9.3'))?.digest);
    // Digests are preserved.
    expect((await client.repository(T, 'into/app').headManifest('1.9.3'))?.digest).toBe((await client.repository(c.source(), 'app').headManifest('1.9.3'))?.digest);

    const index = await readFile(join(layout, 'index.json'));
    const before = proxy.log.length;
    const second = await runCli(['sync', '--json', file], { env });
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as { totals: Record<string, number>; images: { copied: number; skipped: number }[] };
    expect(report.totals).toMatchObject({ images: 5, copied: 0, skipped: 9, failed: 0, bytes: 0, failedImages: 0 });
    const seen = proxy.log.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((e) => WRITES.has(e.method))).toEqual([]);
    // The fewest requests at the (proxied) target: per repository one tag list, then one manifest
    // HEAD per selected tag; a regctl serve target answers the tag list with each tag's digest
    // (Regctl-Features: tag-digests), so it needs no HEAD at all.
    expect(seen.filter((e) => e.method === 'GET' && e.path.endsWith('/tags/list')).length).toBe(4);
    expect(seen.filter((e) => e.method === 'HEAD').length).toBe(c.target() === serve.registry ? 0 : 4 + 1 + 1 + 1);
    expect(seen.filter((e) => e.method === 'GET' && e.path.includes('/manifests/'))).toEqual([]);
    expect(await readFile(join(layout, 'index.json'))).toEqual(index);
  }, 60_000);
});

describe('sync against a registry that answers 429', () => {
  it('waits out Retry-After and completes', async () => {
    await pushImage(client.repository(serve.registry, 'limited/app'), makeImage({ layers: [700] }), '1.0.0');
    const proxy = await startFaultProxy(serve.registry, [
      { method: 'HEAD', path: /\/v2\/limited\/app\/manifests\/1\.0\.0$/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } },
    ]);
    try {
      const file = join(dir, 'limited.yaml');
      await writeFile(file, `sync:\n  - source: ${proxy.registry}/limited/app\n    target: ${serve.registry}/limited-copy\n`);
      const started = Date.now();
      const report = await run(file);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(report.totals).toMatchObject({ copied: 1, failed: 0, failedImages: 0 });
      const heads = proxy.log.filter((e) => e.method === 'HEAD' && e.path === '/v2/limited/app/manifests/1.0.0').map((e) => e.status);
      expect(heads.slice(0, 2)).toEqual([429, 200]);
      expect(await tagsOf(serve.registry, 'limited-copy')).toEqual(['1.0.0']);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

describe('sync command', () => {
  it('a bad file: one line with its line number, exit 2, nothing contacted', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, `sync:\n  - source: ${serve.registry}/app\n    target: ${serve.registry}/x\n    tags:\n      semver: ">=1.0 <2"\n      newest: 2\n`);
    const before = serve.requests.length;
    const r = await runCli(['sync', file], { env });
    expect(r).toEqual({ code: 2, stdout: '', stderr: `error: ${file}:6: sync[0].tags: unknown key "newest"\n` });
    expect(serve.requests.length).toBe(before);
  });

  it('--dry-run writes and creates nothing; a failed repository makes the exit code 1', async () => {
    await pushImage(client.repository(serve.registry, 'dry/app'), makeImage({ layers: [300] }), '1.0.0');
    const layout = join(dir, 'never-created');
    const file = join(dir, 'dry.yaml');
    await writeFile(file, `sync:\n  - source: ${serve.registry}/dry/app\n    target: ${serve.registry}/dry/copy\n  - source: ${serve.registry}/dry/app\n    target: oci:${layout}\n  - source: ${serve.registry}/dry/missing\n    target: ${serve.registry}/dry/never\n`);
    const before = serve.requests.length;
    const r = await runCli(['sync', '--dry-run', file], { env });
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      // Same registry: the blobs would be mounted, not copied.
      `${serve.registry}/dry/app\t${serve.registry}/dry/copy\t1\t0\t0\t0 B`,
      `${serve.registry}/dry/app\toci:${layout}\t1\t0\t0\t615 B`,
      `${serve.registry}/dry/missing\t${serve.registry}/dry/never\t0\t0\t1\t0 B`,
      expect.stringMatching(new RegExp(`^failed: ${serve.registry}/dry/missing -> ${serve.registry}/dry/never \\(file line 6\\): `)),
      expect.stringMatching(/^dry run: would copy 2 tags, skipped 0 up to date, 1 failed in 3 repositories; 615 B in /),
      '',
    ]);
    expect(serve.requests.slice(before).filter((e) => WRITES.has(e.method))).toEqual([]);
    await expect(readFile(join(layout, 'index.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('--interval: a pass, a pause, another pass (up to date); an abort ends the pause', async () => {
    await pushImage(client.repository(serve.registry, 'every/app'), makeImage({ layers: [200] }), 'v2.0.0');
    const file = join(dir, 'every.yaml');
    await writeFile(file, `sync:\n  - source: ${serve.registry}/every/app\n    target: ${serve.registry}/every/copy\n`);
    const open = (hooks: { onResponse: Parameters<typeof syncOpener>[0]['onResponse'] }) => syncOpener({ registry: { env }, onResponse: hooks.onResponse });
    const rounds: SyncReport[] = [];
    await syncEvery({ file, open, intervalMs: 10, rounds: 2, onRound: (r) => void rounds.push(r) });
    expect(rounds.map((r) => [r.totals.copied, r.totals.skipped])).toEqual([[1, 0], [0, 1]]);
    const controller = new AbortController();
    const endless = syncEvery({ file, open, intervalMs: 3_600_000, signal: controller.signal, onRound: () => controller.abort() });
    await expect(endless).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('stops before a registry that reports fewer pulls left than rate-limit.min-remaining', async () => {
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      const name = /^\/v2\/(.+)\/tags\/list/.exec(req.url ?? '')?.[1];
      res.writeHead(name ? 200 : 404, { 'content-type': 'application/json', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '4;w=21600' });
      res.end(JSON.stringify(name ? { name, tags: [] } : { errors: [{ code: 'NAME_UNKNOWN' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const file = join(dir, 'limits.yaml');
      await writeFile(file, `concurrency: 1\nrate-limit: { min-remaining: 5 }\nsync:\n  - source: ${host}/a\n    target: ${serve.registry}/rl/a\n  - source: ${host}/b\n    target: ${serve.registry}/rl/b\n`);
      const r = await runCli(['sync', '--json', file], { env });
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as SyncReport;
      expect(report.images.map((i) => [i.selected, i.failed, i.error?.code])).toEqual([[0, 0, undefined], [0, 1, 'RATE_LIMITED']]);
      expect(report.images[1]!.error!.message).toBe(`${host} reports 4 pulls left (below rate-limit.min-remaining 5): not started`);
      // b was never asked for anything.
      expect(seen.filter((s) => s.includes('/b/'))).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("ratelimit shows Docker Hub's headers from one HEAD", async () => {
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      res.writeHead(200, { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '98;w=21600', 'docker-ratelimit-source': '203.0.113.7', 'docker-content-digest': `sha256:${'a'.repeat(64)}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '10' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await runCli(['ratelimit', `${host}/library/alpine`], { env });
      expect(r).toEqual({ code: 0, stdout: `${host}: 98 of 100 pulls left per 6 h (counted for 203.0.113.7)\n`, stderr: '' });
      expect(seen.filter((s) => !s.startsWith('GET /v2/'))).toEqual(['HEAD /v2/library/alpine/manifests/latest']);
      const j = await runCli(['ratelimit', '--json', `${host}/library/alpine:3`], { env });
      expect(JSON.parse(j.stdout)).toEqual({ registry: host, reference: `${host}/library/alpine:3`, found: true, rateLimit: { limit: 100, remaining: 98, windowSeconds: 21600, source: '203.0.113.7' } });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
