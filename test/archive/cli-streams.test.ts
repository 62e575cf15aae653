import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { openSource } from '../../src/wiring/open-location.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { dockerSaveTar, makeRealImage } from './fixtures.js';

let dir: string;
let serve: ServeHandle;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-streams-'));
  env = { ...process.env, REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), HOME: dir, NO_COLOR: '', REGCTL_PROGRESS_INTERVAL_MS: '600000' };
  serve = await startServe();
});
afterAll(async () => {
  await serve?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The CLI in-process with binary stdin/stdout (runCli's are text). */
async function runBinary(args: string[], stdin?: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const input = Readable.from(stdin ? [stdin] : []);
  const code = await run(args, { stdout, stderr, stdin: input, env });
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

describe('docker save | regctl import - ; regctl export REF - | docker load', () => {
  it('imports from standard input and exports to standard output', async () => {
    const img = await makeRealImage();
    const imported = await runBinary(['import', '-', `${serve.registry}/piped:1.0`], await dockerSaveTar(img, ['piped:1.0']));
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    const repo = createRegistryClient({ env }).repository(serve.registry, 'piped');
    const m = JSON.parse((await repo.getManifest('1.0')).bytes.toString()) as ImageManifest;
    expect(m.config.digest).toBe(img.config.desc.digest);

    const exported = await runBinary(['export', `${serve.registry}/piped:1.0`, '-']);
    expect(exported.code).toBe(0);
    // The summary goes to stderr; stdout is only the archive.
    const digest = (await repo.headManifest('1.0'))!.digest;
    expect(exported.stderr).toBe(`exported ${serve.registry}/piped:1.0 to docker-archive:-: ${digest}\n`);
    const back = await openSource(`docker-archive:-:${serve.registry}/piped:1.0`, { stdin: Readable.from([exported.stdout]), compress: false });
    const bm = JSON.parse((await back.source.getManifest(back.ref)).bytes.toString()) as ImageManifest;
    expect(bm.config.digest).toBe(img.config.desc.digest);
    expect(bm.layers.map((l) => l.digest)).toEqual(img.diffIds);
    await back.close();
  });

  it('reports progress for the streaming import (plain lines for logs)', async () => {
    const img = await makeRealImage({ layers: [200_000, 300_000] });
    const saved = env;
    env = { ...env, REGCTL_PROGRESS_INTERVAL_MS: '1' };
    try {
      const r = await runBinary(['import', '--progress', 'plain', '-', `${serve.registry}/piped:progress`], await dockerSaveTar(img, ['x:1']));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^import: \d\/[23] blobs, [\d.]+ \w+ of [\d.]+ \w+, /m);
    } finally {
      env = saved;
    }
  });

  it('a bad stdin archive fails with one line and tags nothing', async () => {
    const r = await runBinary(['import', '-', `${serve.registry}/piped:bad`], Buffer.from('definitely not a tar archive'));
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error: standard input: (truncated|corrupt) tar archive.*\n$/);
    expect(r.stdout.length).toBe(0);
    expect(await createRegistryClient({ env }).repository(serve.registry, 'piped').headManifest('bad')).toBeUndefined();
  });
});
