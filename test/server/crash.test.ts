import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage } from '../helpers/images.js';
import { http, pushBlob, pushManifest } from './client.js';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, spawnServe } from './spawn.js';

let root: string;
beforeAll(async () => {
  await ensureBuilt();
  root = await mkdtemp(join(tmpdir(), 'regctl-crash-'));
}, 120_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Every repository directory (has index.json) under root. */
async function repositories(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  if (prefix && entries.some((e) => e.name === 'index.json')) out.push(prefix);
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('_') || e.name.startsWith('.') || e.name === 'blobs') continue;
    out.push(...(await repositories(join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name)));
  }
  return out;
}

/** Keep pushing images (chunked layers, then tagged manifests) until the server dies. */
async function pushUntilDead(url: string, worker: number, pushed: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      const img = makeImage({ layers: [300_000, 50_000] });
      const repo = `crash/w${worker}`;
      for (const b of [img.config, ...img.layers]) {
        const loc = (await http(url, 'POST', `/v2/${repo}/blobs/uploads/`)).headers.location!;
        const half = Math.floor(b.bytes.length / 2);
        await http(url, 'PATCH', loc, { body: b.bytes.subarray(0, half), headers: { 'content-range': `0-${half - 1}` } });
        await http(url, 'PATCH', loc, { body: b.bytes.subarray(half), headers: { 'content-range': `${half}-${b.bytes.length - 1}` } });
        await http(url, 'PUT', `${loc}?digest=${b.desc.digest}`);
      }
      const r = await pushManifest(url, repo, `t${i}`, img.manifest.bytes, img.manifest.mediaType);
      if (r.status === 201) pushed.push(`${repo}:t${i}`);
      // Everyone also fights over one shared tag.
      await pushManifest(url, repo, 'latest', img.manifest.bytes, img.manifest.mediaType);
    } catch {
      return;
    }
  }
}

test('kill -9 during pushes: after restart every blob matches its digest, every tag resolves, an interrupted upload resumes', async () => {
  const first = await spawnServe(['--root', root, '--no-log']);
  // A chunked upload left half-done, to resume after the crash.
  const data = randomBytes(200_000);
  const loc = (await http(first.url, 'POST', '/v2/crash/resume/blobs/uploads/')).headers.location!;
  await http(first.url, 'PATCH', loc, { body: data.subarray(0, 120_000), headers: { 'content-range': '0-119999' } });
  await pushBlob(first.url, 'crash/resume', randomBytes(10));

  const pushed: string[] = [];
  const workers = [0, 1, 2, 3].map((w) => pushUntilDead(first.url, w, pushed));
  // Kill once every worker is mid-stream with some images already tagged (polled, not slept).
  await waitFor(() => pushed.length >= 4, { timeoutMs: 20_000, what: 'the first pushes to complete' });
  const dead = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await Promise.all(workers);
  await dead;
  expect(pushed.length).toBeGreaterThan(0);

  const second = await spawnServe(['--root', root, '--no-log']);
  try {
    // 1. Every blob file in every layout and in the content store hashes to its name.
    let blobs = 0;
    const repos = await repositories(root);
    for (const dir of [...repos.map((r) => join(root, r, 'blobs/sha256')), join(root, '_blobs/sha256')]) {
      for (const name of await readdir(dir)) {
        expect(name).toMatch(/^[0-9a-f]{64}$/);
        expect(await sha256File(join(dir, name))).toBe(`sha256:${name}`);
        blobs++;
      }
    }
    expect(blobs).toBeGreaterThan(0);
    // 2. Every tag in every index.json resolves to a manifest whose blobs are all present.
    let tags = 0;
    for (const repo of repos) {
      const index = JSON.parse(await readFile(join(root, repo, 'index.json'), 'utf8'));
      for (const d of index.manifests) {
        const bytes = await readFile(join(root, repo, 'blobs/sha256', d.digest.slice(7)));
        expect(digestOf(bytes)).toBe(d.digest);
        const m = JSON.parse(bytes.toString());
        for (const b of [m.config, ...m.layers]) await stat(join(root, repo, 'blobs/sha256', b.digest.slice(7)));
        const tag = d.annotations?.['org.opencontainers.image.ref.name'];
        if (tag) {
          tags++;
          const get = await http(second.url, 'GET', `/v2/${repo}/manifests/${tag}`);
          expect(get.status).toBe(200);
          expect(get.headers['docker-content-digest']).toBe(d.digest);
        }
      }
    }
    // Every push the server acknowledged before the kill is still there.
    for (const ref of pushed) {
      const [repo, tag] = ref.split(':') as [string, string];
      expect((await http(second.url, 'HEAD', `/v2/${repo}/manifests/${tag}`)).status).toBe(200);
    }
    expect(tags).toBeGreaterThanOrEqual(pushed.length);
    // 3. The interrupted chunked upload continues where the server says it stands.
    const status = await http(second.url, 'GET', loc);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-119999');
    const rest = await http(second.url, 'PATCH', loc, { body: data.subarray(120_000), headers: { 'content-range': '120000-199999' } });
    expect(rest.status).toBe(202);
    const done = await http(second.url, 'PUT', `${rest.headers.location}?digest=${digestOf(data)}`);
    expect(done.status).toBe(201);
    expect((await http(second.url, 'GET', `/v2/crash/resume/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }
}, 120_000);
