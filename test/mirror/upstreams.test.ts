import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeImage } from '../helpers/images.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';
import { requireTool } from '../helpers/tools.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { layoutContent, pull, pushHttp, runnableImage, startMirror, tempDir, type MirrorServe } from './harness.js';

/**
 * Other upstreams and clients: Debian's docker-registry as upstream, a Docker-Hub-like Bearer
 * token flow with credentials from --mirror-auth, and podman pulling through a registries.conf
 * mirror entry.
 */

const run = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await tempDir('regctl-mirror-up-');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('docker-registry (distribution) as upstream', () => {
  let dist: Distribution;
  let proxy: UpstreamProxy;
  let m: MirrorServe;
  beforeAll(async () => {
    dist = await startDistribution();
    proxy = await startUpstreamProxy(dist.url);
    m = await startMirror({ mirror: [`quay.io=${proxy.url}`] });
  });
  afterAll(async () => {
    await m?.close();
    await proxy?.close();
    await dist?.close();
  });

  test('skopeo pulls through; digests identical; a second pull sends no blob GET upstream', async () => {
    const image = makeImage({ layers: [120_000, 900], docker: true });
    await pushHttp(dist.url, 'org/tool', image, '1.0');
    await pull(`${m.registry}/quay.io/org/tool:1.0`, join(work, 'd1'));
    const got = await layoutContent(join(work, 'd1'));
    expect(got.manifest).toBe(image.manifest.digest);
    for (const b of [image.config, ...image.layers]) expect(proxy.blobGets().get(b.desc.digest)).toBe(1);
    await pull(`${m.registry}/quay.io/org/tool:1.0`, join(work, 'd2'));
    for (const b of [image.config, ...image.layers]) expect(proxy.blobGets().get(b.desc.digest)).toBe(1);
    expect((await layoutContent(join(work, 'd2'))).manifest).toBe(image.manifest.digest);
  });
});

describe('Bearer token upstream (Docker Hub flow) with --mirror-auth', () => {
  let upstream: ServeHandle;
  let proxy: UpstreamProxy;
  let m: MirrorServe;
  const password = 'hub-S3cret-pass';
  beforeAll(async () => {
    upstream = await startServe();
    proxy = await startUpstreamProxy(upstream.url, { bearer: { username: 'puller', password } });
    const auth = join(work, 'mirror-auth.json');
    await writeFile(auth, JSON.stringify({ auths: { 'docker.io': { auth: Buffer.from(`puller:${password}`).toString('base64') } } }));
    m = await startMirror({ mirror: [`docker.io=${proxy.url}`], mirrorAuth: auth, mirrorDefault: 'docker.io' });
  });
  afterAll(async () => {
    await m?.close();
    await proxy?.close();
    await upstream?.close();
  });

  test('401 + WWW-Authenticate: Bearer -> token for the repository scope with Basic credentials -> pull; secrets never logged', async () => {
    const image = makeImage({ layers: [50_000] });
    await pushHttp(upstream.url, 'library/alpine', image, '3.20');
    // Docker mirror mode: the daemon asks for library/alpine.
    await pull(`${m.registry}/library/alpine:3.20`, join(work, 'b1'));
    expect((await layoutContent(join(work, 'b1'))).manifest).toBe(image.manifest.digest);
    expect(proxy.tokenRequests.length).toBeGreaterThanOrEqual(1);
    expect(proxy.tokenRequests.every((t) => t.scope === 'repository:library/alpine:pull')).toBe(true);
    expect(proxy.tokenRequests[0]!.authorization).toBe(`Basic ${Buffer.from(`puller:${password}`).toString('base64')}`);
    // The token is reused: one 401 round trip, not one per request.
    expect(proxy.requests.filter((r) => r.status === 401).length).toBe(1);
    expect(proxy.requests.filter((r) => r.status === 200).every((r) => r.authorization?.startsWith('Bearer '))).toBe(true);
    expect(m.logs.join('\n')).not.toContain(password);

    // Namespaced name for the same upstream: Docker Hub's library/ prefix is added.
    const r = await fetch(`${m.url}/v2/docker.io/alpine/manifests/3.20`, { headers: { Accept: image.manifest.mediaType } });
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  });

  test('wrong credentials: a clear 502 naming the upstream, no secret in it', async () => {
    const bad = join(work, 'bad-auth.json');
    await writeFile(bad, JSON.stringify({ auths: { 'docker.io': { username: 'puller', password: 'wrong-pass-XYZ' } } }));
    const other = await startMirror({ mirror: [`docker.io=${proxy.url}`], mirrorAuth: bad });
    try {
      const r = await fetch(`${other.url}/v2/docker.io/library/alpine/manifests/3.20`);
      const body = (await r.json()) as { errors: Array<{ message: string }> };
      expect(r.status).toBe(502);
      expect(body.errors[0]!.message).toMatch(/upstream docker\.io: token service refused \(401\)/);
      expect(JSON.stringify(body) + other.logs.join('\n')).not.toContain('wrong-pass-XYZ');
    } finally {
      await other.close();
    }
  });
});

describe('podman with a registries.conf mirror entry', () => {
  let upstream: ServeHandle;
  let proxy: UpstreamProxy;
  let m: MirrorServe;
  beforeAll(async () => {
    upstream = await startServe();
    proxy = await startUpstreamProxy(upstream.url);
    m = await startMirror({ mirror: [`docker.io=${proxy.url}`], mirrorDefault: 'docker.io' });
  });
  afterAll(async () => {
    await m?.close();
    await proxy?.close();
    await upstream?.close();
  });

  test('podman pull docker.io/NAME goes to the mirror (default mode), digest identical to upstream', async () => {
    const podman = requireTool('podman', 'podman');
    const image = runnableImage(80_000);
    await pushHttp(upstream.url, 'team/web', image, 'v3');
    const conf = join(work, 'registries.conf');
    await writeFile(
      conf,
      [
        'unqualified-search-registries = []',
        '[[registry]]',
        'prefix = "docker.io"',
        'location = "docker.io"',
        '[[registry.mirror]]',
        `location = "${m.registry}"`,
        'insecure = true',
        '',
      ].join('\n'),
    );
    const policy = join(work, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const store = join(work, 'podman');
    const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: conf, XDG_CONFIG_HOME: join(store, 'config'), };
    const base = ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
    await run(podman, [...base, 'pull', '--signature-policy', policy, 'docker.io/team/web:v3'], { env });
    const { stdout } = await run(podman, [...base, 'image', 'inspect', '--format', '{{.Digest}}', 'docker.io/team/web:v3'], { env });
    expect(stdout.trim()).toBe(image.manifest.digest);
    for (const b of [image.config, ...image.layers]) expect(proxy.blobGets().get(b.desc.digest)).toBe(1);
    expect(await m.runtime.registry.storage.resolveTag('docker.io/team/web', 'v3')).toBe(image.manifest.digest);
  }, 120_000);
});
