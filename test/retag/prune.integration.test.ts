import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repository } from '../../src/registry/repository.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { runCli } from '../helpers/cli.js';
import { BACKENDS, isolatedEnv, openRepository, tagDigests, type Backend } from './backends.js';

/** A loopback proxy that forwards everything to `target` and records each request line. */
async function loggingProxy(target: string): Promise<{ registry: string; log: string[]; close(): Promise<void> }> {
  const [host, port] = target.split(':') as [string, string];
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: { ...req.headers, host: target } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: p } = server.address() as AddressInfo;
  return { registry: `127.0.0.1:${p}`, log, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const DAY = 86_400_000;
const ago = (days: number): string => new Date(Date.now() - days * DAY).toISOString();

describe.each(BACKENDS)('prune against $name', (kind) => {
  let backend: Backend;
  let proxy: Awaited<ReturnType<typeof loggingProxy>>;
  let repo: Repository;
  const env = isolatedEnv();
  const img: Record<string, TestImage> = {
    '1.0.0': makeImage({ created: ago(400) }),
    '1.0.1': makeImage({ created: ago(300) }),
    '1.1.0': makeImage({ created: ago(200) }),
    'sha-a': makeImage({ created: ago(100) }),
    'sha-b': makeImage({ created: ago(60) }),
    'sha-c': makeImage({ created: ago(1) }),
  };
  const d = (k: string): string => img[k]!.manifest.digest;

  beforeAll(async () => {
    backend = await kind.start();
    proxy = await loggingProxy(backend.registry);
    repo = openRepository(env, backend.registry, 'tidy/app');
    for (const [tag, i] of Object.entries(img)) await pushImage(repo, i, tag);
    for (const [tag, from] of [['1.0', '1.0.1'], ['1.1', '1.1.0'], ['1', '1.1.0'], ['latest', '1.1.0'], ['stable', 'sha-a']] as const) {
      await repo.putManifest(tag, img[from]!.manifest);
    }
  });
  afterAll(async () => {
    await proxy?.close();
    await backend?.close();
  });

  const args = (...extra: string[]) => ['prune', `${proxy.registry}/tidy/app`, '--older-than', '30d', '--keep', '^stable$', ...extra];

  it('--dry-run --json: the exact verdicts, and not one DELETE (or PUT) reaches the registry', async () => {
    proxy.log.length = 0;
    const r = await runCli(args('--dry-run', '--json'), { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { dryRun: boolean; repositories: Array<{ tags: Array<{ tag: string; action: string; reason: string }>; deleteManifests: string[]; removeTags: string[]; applied: boolean }> };
    expect(doc.dryRun).toBe(true);
    const only = doc.repositories[0]!;
    expect(only.tags.map((t) => `${t.tag} ${t.action}: ${t.reason}`)).toEqual([
      '1 keep: floating tag',
      '1.0 keep: floating tag',
      '1.0.0 remove: older than 30d',
      '1.0.1 keep: image of floating tag 1.0',
      '1.1 keep: floating tag',
      '1.1.0 keep: image of floating tag 1',
      'latest keep: floating tag',
      'sha-a remove: older than 30d',
      'sha-b remove: older than 30d',
      'sha-c keep: newer than 30d',
      'stable keep: matches --keep ^stable$',
    ]);
    expect(only.deleteManifests).toEqual([d('1.0.0'), d('sha-b')].sort());
    expect(only.removeTags).toEqual(['sha-a']);
    expect(only.applied).toBe(false);
    expect(proxy.log.length).toBeGreaterThan(0);
    expect(proxy.log.filter((l) => !/^(GET|HEAD) /.test(l))).toEqual([]);
  });

  it('without --yes on a non-terminal it refuses (exit 2) after reads only', async () => {
    proxy.log.length = 0;
    const r = await runCli(args(), { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: refusing to remove 3 tags without --yes: stdin is not a terminal, so regctl cannot ask (--dry-run only shows)\n');
    expect(proxy.log.filter((l) => !/^(GET|HEAD) /.test(l))).toEqual([]);
  });

  it('--yes removes exactly those: the same tags are left on both registries', async () => {
    const r = await runCli(args('--yes'), { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('removed 3 tags (2 manifests deleted by digest)\n');
    expect(await tagDigests(repo)).toEqual({
      '1': d('1.1.0'), '1.0': d('1.0.1'), '1.0.1': d('1.0.1'), '1.1': d('1.1.0'), '1.1.0': d('1.1.0'), latest: d('1.1.0'),
      'sha-c': d('sha-c'), stable: d('sha-a'),
    });
    expect(await repo.headManifest(d('1.0.0'))).toBeUndefined();
    expect(await repo.headManifest(d('sha-b'))).toBeUndefined();
    // A second run finds nothing to do.
    const again = await runCli(args('--yes'), { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('nothing to remove\n');
  });

  it('HOST --repo-match prunes every matching repository; bad input is one line, exit 2', async () => {
    const other = openRepository(env, backend.registry, 'tidy/other');
    const old = makeImage({ created: ago(90) });
    const fresh = makeImage({ created: ago(2) });
    await pushImage(other, old, 'build-1');
    await pushImage(other, fresh, 'build-2');
    const r = await runCli(['prune', proxy.registry, '--repo-match', '^tidy/other$', '--keep-last', '1', '--yes'], { env });
    expect(r.code).toBe(0);
    expect(await tagDigests(other)).toEqual({ 'build-2': fresh.manifest.digest });
    for (const bad of [['prune', proxy.registry, '--keep-last', '1'], ['prune', `${proxy.registry}/tidy/app`], ['prune', `${proxy.registry}/tidy/app`, '--older-than', '30x'], ['prune', `${proxy.registry}/tidy/app`, '--match', '(']]) {
      const b = await runCli(bad, { env });
      expect(b.code).toBe(2);
      expect(b.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    }
  });
});
