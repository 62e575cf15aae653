import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { blob, makeImage, makeMultiArch, pushImage, pushIndex, type TestBlob, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

/**
 * Raw access (blob get/put, manifest get/put, image config/diff) against regctl serve and
 * docker-registry: exact bytes and digests, streamed files verified, nothing partial left.
 */

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An image over given layers and config fields (B of a diff shares layers with A). */
function imageOf(layers: TestBlob[], config: Record<string, unknown>): TestImage {
  const cfg = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', ...config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.desc.digest) } })), MediaType.ociConfig);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg.desc, layers: layers.map((l) => l.desc) }));
  return { manifest: { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) }, config: cfg, layers, platform: { os: 'linux', architecture: 'amd64' } };
}

const l1 = blob(randomBytes(3000), MediaType.ociLayerGzip);
const l2 = blob(randomBytes(2000), MediaType.ociLayerGzip);
const l3 = blob(randomBytes(1000), MediaType.ociLayerGzip);
const A = imageOf([l1, l2], { created: '2026-01-01T00:00:00Z', config: { Cmd: ['/app'], Env: ['A=1'], Labels: { v: '1' } } });
const B = imageOf([l1, l3], { created: '2026-02-01T00:00:00Z', config: { Cmd: ['/app'], Env: ['A=2'], User: 'app' } });
const multi = makeMultiArch();

let dir: string;
let serve: ServeHandle;
let dist: Distribution;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-raw-'));
  env = { REGCTL_CONFIG_DIR: join(dir, 'cfg'), DOCKER_CONFIG: join(dir, 'docker'), REGCTL_REGISTRY: '' };
  serve = await startServe();
  dist = await startDistribution();
  const client = new RegistryClient({});
  for (const reg of [serve.registry, dist.registry]) {
    const repo = client.repository(reg, 'raw/app');
    await pushImage(repo, A, 'a');
    await pushImage(repo, B, 'b');
    await pushIndex(repo, multi, 'multi');
  }
});

afterAll(async () => {
  await serve?.close();
  await dist?.close();
  await rm(dir, { recursive: true, force: true });
});

for (const which of ['serve', 'docker-registry'] as const) {
  describe(`raw access on ${which}`, () => {
    const reg = (): string => (which === 'serve' ? serve.registry : dist.registry);

    it('blob get: to a file and to stdout, byte for byte', async () => {
      const file = join(dir, `${which}-l2.bin`);
      const r = await runCli(['blob', 'get', `${reg()}/raw/app@${l2.desc.digest}`, file], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect((await readFile(file)).equals(l2.bytes)).toBe(true);
      const out = await runCli(['blob', 'get', `${reg()}/raw/app@${A.config.desc.digest}`], { env });
      expect(out).toEqual({ code: 0, stdout: A.config.bytes.toString('utf8'), stderr: '' });
      const missing = await runCli(['blob', 'get', `${reg()}/raw/app@${digestOf('nothing')}`, join(dir, 'none')], { env });
      expect(missing.code).toBe(3);
      expect(existsSync(join(dir, 'none'))).toBe(false);
      expect((await runCli(['blob', 'get', `${reg()}/raw/app:a`], { env })).code).toBe(2);
      const nodir = join(dir, 'no-such-dir', 'x.bin');
      const unwritable = await runCli(['blob', 'get', `${reg()}/raw/app@${l2.desc.digest}`, nodir], { env });
      expect(unwritable).toEqual({ code: 1, stdout: '', stderr: `error: cannot write ${nodir}: ENOENT\n` });
    });

    it('blob put: streamed, prints the digest the registry then serves', async () => {
      const bytes = randomBytes(300_000);
      const file = join(dir, `${which}-up.bin`);
      await writeFile(file, bytes);
      const r = await runCli(['blob', 'put', `${reg()}/raw/up`, file], { env });
      expect(r).toEqual({ code: 0, stdout: `${sha(bytes)}\n`, stderr: '' });
      const back = join(dir, `${which}-up.back`);
      expect((await runCli(['blob', 'get', `${reg()}/raw/up@${sha(bytes)}`, back], { env })).code).toBe(0);
      expect((await readFile(back)).equals(bytes)).toBe(true);
      const piped = await runCli(['--json', 'blob', 'put', `${reg()}/raw/up`, '-'], { env, stdin: 'from stdin\n' });
      expect(JSON.parse(piped.stdout)).toEqual({ mediaType: 'application/octet-stream', digest: digestOf('from stdin\n'), size: 11 });
    });

    it('manifest put: blobs by blob put, then the manifest file byte for byte; manifest get returns it', async () => {
      for (const b of [B.config, ...B.layers]) {
        const f = join(dir, `${which}-${b.desc.digest.slice(7, 19)}`);
        await writeFile(f, b.bytes);
        expect((await runCli(['blob', 'put', `${reg()}/raw/rebuilt`, f], { env })).stdout).toBe(`${b.desc.digest}\n`);
      }
      const mfile = join(dir, `${which}-manifest.json`);
      await writeFile(mfile, B.manifest.bytes);
      const put = await runCli(['manifest', 'put', `${reg()}/raw/rebuilt:v1`, mfile], { env });
      expect(put).toEqual({ code: 0, stdout: `${B.manifest.digest}\n`, stderr: '' });
      expect(await runCli(['manifest', 'get', `${reg()}/raw/rebuilt:v1`], { env })).toEqual({ code: 0, stdout: B.manifest.bytes.toString('utf8'), stderr: '' });
      expect((await runCli(['manifest', `${reg()}/raw/rebuilt@${B.manifest.digest}`], { env })).stdout).toBe(B.manifest.bytes.toString('utf8'));
      // No mediaType in the document (umoci writes them so): an OCI image manifest by its shape
      // (config + layers); a document of neither shape needs --media-type.
      const bare = JSON.parse(B.manifest.bytes.toString('utf8')) as Record<string, unknown>;
      delete bare.mediaType;
      const bareBytes = Buffer.from(JSON.stringify(bare));
      await writeFile(mfile, bareBytes);
      const inferred = await runCli(['manifest', 'put', `${reg()}/raw/rebuilt:v3`, mfile], { env });
      expect(inferred).toEqual({ code: 0, stdout: `${sha(bareBytes)}\n`, stderr: '' });
      const odd = join(dir, `${which}-odd.json`);
      await writeFile(odd, '{"schemaVersion":2,"blobs":[]}');
      const no = await runCli(['manifest', 'put', `${reg()}/raw/rebuilt:v2`, odd], { env });
      expect(no).toEqual({ code: 2, stdout: '', stderr: 'error: the manifest names no mediaType and is neither an OCI image manifest nor an index: pass --media-type\n' });
      const yes = await runCli(['--json', 'manifest', 'put', '--media-type', MediaType.ociManifest, `${reg()}/raw/rebuilt:v2`, mfile], { env });
      expect(JSON.parse(yes.stdout)).toEqual({ reference: `${reg()}/raw/rebuilt:v2`, digest: sha(bareBytes), mediaType: MediaType.ociManifest, size: bareBytes.length });
      const got = JSON.parse((await runCli(['--json', 'manifest', 'get', `${reg()}/raw/rebuilt:v2`], { env })).stdout) as { digest: string; mediaType: string };
      expect([got.digest, got.mediaType]).toEqual([sha(bareBytes), MediaType.ociManifest]);
      // A digest reference must be the file's digest.
      const wrong = await runCli(['manifest', 'put', '--media-type', MediaType.ociManifest, `${reg()}/raw/rebuilt@${B.manifest.digest}`, mfile], { env });
      expect(wrong).toEqual({ code: 5, stdout: '', stderr: `error: manifest file digest mismatch: expected ${B.manifest.digest}, got ${sha(bareBytes)}\n` });
    });

    it('image config: the config blob exactly; --platform picks from an index', async () => {
      expect(await runCli(['image', 'config', `${reg()}/raw/app:a`], { env })).toEqual({ code: 0, stdout: A.config.bytes.toString('utf8'), stderr: '' });
      const arm = multi.images[1]!;
      expect((await runCli(['image', 'config', '--platform', 'linux/arm64/v8', `${reg()}/raw/app:multi`], { env })).stdout).toBe(arm.config.bytes.toString('utf8'));
      const j = JSON.parse((await runCli(['--json', 'image', 'config', '--platform', 'linux/arm64', `${reg()}/raw/app:multi`], { env })).stdout) as Record<string, unknown>;
      expect(j).toEqual({ reference: `${reg()}/raw/app:multi`, manifest: arm.manifest.digest, digest: arm.config.desc.digest, mediaType: MediaType.ociConfig, size: arm.config.desc.size, config: JSON.parse(arm.config.bytes.toString('utf8')) });
      // manifest get takes --platform after the sub-command too.
      expect((await runCli(['manifest', 'get', `${reg()}/raw/app:multi`, '--platform', 'linux/arm64'], { env })).stdout).toBe(arm.manifest.bytes.toString('utf8'));
      const idx = await runCli(['image', 'config', `${reg()}/raw/app:multi`], { env });
      expect(idx).toEqual({ code: 2, stdout: '', stderr: `error: ${reg()}/raw/app:multi is an index: pick an image with --platform (it has linux/amd64, linux/arm64/v8)\n` });
    });

    it('image diff: layers same/removed/added and the config fields that differ', async () => {
      const r = await runCli(['--json', 'image', 'diff', `${reg()}/raw/app:a`, `${reg()}/raw/app:b`], { env });
      expect(r.code, r.stderr).toBe(0);
      const d = (b: TestBlob) => ({ digest: b.desc.digest, size: b.desc.size, mediaType: b.desc.mediaType });
      expect(JSON.parse(r.stdout)).toEqual({
        a: { reference: `${reg()}/raw/app:a`, digest: A.manifest.digest, config: A.config.desc.digest },
        b: { reference: `${reg()}/raw/app:b`, digest: B.manifest.digest, config: B.config.desc.digest },
        identical: false,
        layers: { same: [d(l1)], removed: [d(l2)], added: [d(l3)] },
        config: [
          { path: 'config.Env', a: ['A=1'], b: ['A=2'] },
          { path: 'config.Labels.v', a: '1' },
          { path: 'config.User', b: 'app' },
          { path: 'created', a: '2026-01-01T00:00:00Z', b: '2026-02-01T00:00:00Z' },
        ],
      });
      const human = await runCli(['image', 'diff', `${reg()}/raw/app:a`, `${reg()}/raw/app:b`], { env });
      expect(human.stdout).toBe(
        [
          'layers: 1 same, 1 removed, 1 added',
          `  = ${l1.desc.digest}  2.9 KiB`,
          `  - ${l2.desc.digest}  2.0 KiB`,
          `  + ${l3.desc.digest}  1000 B`,
          'config: 4 fields differ',
          '  config.Env: ["A=1"] -> ["A=2"]',
          '  config.Labels.v: "1" -> (absent)',
          '  config.User: (absent) -> "app"',
          '  created: "2026-01-01T00:00:00Z" -> "2026-02-01T00:00:00Z"',
          '',
        ].join('\n'),
      );
      const same = JSON.parse((await runCli(['--json', 'image', 'diff', `${reg()}/raw/app:a`, `${reg()}/raw/app@${A.manifest.digest}`], { env })).stdout) as { identical: boolean; config: unknown[] };
      expect([same.identical, same.config]).toEqual([true, []]);
    });
  });
}

describe('blob get from a registry serving the wrong bytes', () => {
  let server: Server;
  let host: string;
  const wanted = randomBytes(4096);
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'content-length': '0' }).end();
      if (req.url?.startsWith('/v2/bad/blobs/')) {
        res.writeHead(200, { 'content-length': String(wanted.length), 'content-type': 'application/octet-stream' });
        return void res.end(req.method === 'HEAD' ? undefined : randomBytes(wanted.length));
      }
      res.writeHead(404, { 'content-length': '0' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('exit 5, no file, no partial file, an existing file untouched', async () => {
    const out = await mkdtemp(join(dir, 'bad-'));
    const r = await runCli(['blob', 'get', `${host}/bad@${sha(wanted)}`, join(out, 'blob.bin')], { env });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error: blob sha256:[0-9a-f]{64} digest mismatch: expected sha256:/);
    expect(await readdir(out)).toEqual([]);
    await writeFile(join(out, 'keep.bin'), 'old');
    expect((await runCli(['blob', 'get', `${host}/bad@${sha(wanted)}`, join(out, 'keep.bin')], { env })).code).toBe(5);
    expect(await readdir(out)).toEqual(['keep.bin']);
    expect(await readFile(join(out, 'keep.bin'), 'utf8')).toBe('old');
  });
});
