import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { BACKEND_KINDS, type Backend } from './backends.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { ensureBuilt } from '../server/spawn.js';

const BIN = fileURLToPath(new URL('../../bin/regctl.js', import.meta.url));
const kind = BACKEND_KINDS.find((k) => k.name === 'docker-registry')!;
const env = { ...process.env, REGCTL_CONFIG_DIR: '/nonexistent-regctl-test', DOCKER_CONFIG: '/nonexistent-regctl-test' };

describe('copy under injected faults (loopback proxy in front of a real registry)', () => {
  let src: Backend;
  let dst: Backend;
  let proxy: FaultProxy;
  let img: TestImage;
  const client = createRegistryClient({ env });
  const layerPath = (): RegExp => new RegExp(`/blobs/${img.layers[0]!.desc.digest}$`);

  beforeAll(async () => {
    [src, dst] = await Promise.all([kind.start(), kind.start()]);
    img = makeImage({ layers: [400_000, 1000] });
    await pushImage(client.repository(src.registry, 'fault/app'), img, 'v1');
    proxy = await startFaultProxy(src.registry);
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([src?.close(), dst?.close()]);
  });

  async function copyThrough(dstRepo: string, from = proxy.registry, to = dst.registry): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
    const t0 = Date.now();
    const r = await runCli(['copy', '--progress', 'none', `${from}/fault/app:v1`, `${to}/${dstRepo}:v1`], { env });
    return { ...r, ms: Date.now() - t0 };
  }

  it('a connection dropped mid-blob is resumed with Range', async () => {
    proxy.log.length = 0;
    proxy.rules.splice(0, proxy.rules.length, { method: 'GET', path: layerPath(), fault: { kind: 'drop', afterBytes: 150_000 } });
    const r = await copyThrough('drop/app');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const gets = proxy.log.filter((e) => e.method === 'GET' && layerPath().test(e.path));
    expect(gets.length).toBe(2);
    expect(gets[0]!.fault).toBe('drop');
    expect(gets[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/bytes=(\d+)-/.exec(String(gets[1]!.headers.range))![1])).toBeGreaterThan(0);
    expect((await client.repository(dst.registry, 'drop/app').headManifest('v1'))?.digest).toBe(img.manifest.digest);
  });

  it('503 then 200 on a blob is retried', async () => {
    proxy.log.length = 0;
    proxy.rules.splice(0, proxy.rules.length, { method: 'GET', path: layerPath(), fault: { kind: 'status', status: 503 } });
    const r = await copyThrough('unavailable/app');
    expect(r.code).toBe(0);
    expect(proxy.log.filter((e) => layerPath().test(e.path)).map((e) => e.status)).toEqual([503, 200]);
  });

  it('503 on the destination manifest PUT is retried', async () => {
    const front = await startFaultProxy(dst.registry, [{ method: 'PUT', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 503 } }]);
    try {
      const r = await copyThrough('put503/app', src.registry, front.registry);
      expect(r.code).toBe(0);
      expect(front.log.filter((e) => e.method === 'PUT' && e.path.endsWith('/manifests/v1')).map((e) => e.status)).toEqual([503, 201]);
    } finally {
      await front.close();
    }
  });

  it('429 with Retry-After is honoured', async () => {
    proxy.log.length = 0;
    proxy.rules.splice(0, proxy.rules.length, { method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
    const r = await copyThrough('ratelimited/app');
    expect(r.code).toBe(0);
    const tries = proxy.log.filter((e) => e.path.endsWith('/manifests/v1'));
    expect(tries.map((e) => e.status)).toEqual([429, 200]);
    expect(r.ms).toBeGreaterThanOrEqual(950);
  });

  it('one corrupted byte: exit 5, the blob named, the destination not tagged', async () => {
    proxy.log.length = 0;
    proxy.rules.splice(0, proxy.rules.length, { method: 'GET', path: layerPath(), fault: { kind: 'corrupt', atByte: 200_000 } });
    const r = await copyThrough('corrupt/app');
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^error: blob ${img.layers[0]!.desc.digest} digest mismatch: expected ${img.layers[0]!.desc.digest}, got sha256:[0-9a-f]{64}$`));
    const target = client.repository(dst.registry, 'corrupt/app');
    expect(await target.headManifest('v1')).toBeUndefined();
    expect(await target.hasBlob(img.layers[0]!.desc)).toBe(false);
  });

  it('the real binary exits 5 on a corrupted byte', async () => {
    // Builds the bundle when missing or older than src/server (a minute on a busy machine).
    await ensureBuilt();
    proxy.rules.splice(0, proxy.rules.length, { method: 'GET', path: layerPath(), fault: { kind: 'corrupt', atByte: 10 } });
    // Asynchronous: the registries of this test run in this process and must keep answering.
    const child = spawn(process.execPath, [BIN, 'copy', `${proxy.registry}/fault/app:v1`, `${dst.registry}/spawned/app:v1`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const r = { status, stderr };
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`error: blob ${img.layers[0]!.desc.digest} digest mismatch`);
    expect(await client.repository(dst.registry, 'spawned/app').headManifest('v1')).toBeUndefined();
  }, 180_000);
});
