/**
 * Three `regctl serve --storage s3://...` processes (the built CLI, spawned) sharing one bucket
 * on a local s3rver: uploads hop between instances request by request, pulls from every
 * instance agree byte for byte, an instance is killed mid-test and the others carry on,
 * concurrent writers of one tag end with one of their digests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage } from '../helpers/images.js';
import { http, pushBlob, pushManifest } from '../server/client.js';
import { ensureBuilt, spawnServe, type ServeProcess } from '../server/spawn.js';
import { SECRET, startS3, type LocalS3 } from './s3rver.js';

let s3: LocalS3;
let dir: string;
let instances: ServeProcess[] = [];
let urls: string[] = [];

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  // Only what the child needs; no AWS settings from the developer's shell leak in.
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k] !== undefined) e[k] = process.env[k];
  return { ...e, ...s3.env, XDG_DATA_HOME: join(dir, 'xdg') };
}

beforeAll(async () => {
  [s3] = await Promise.all([startS3(), ensureBuilt()]);
  dir = await mkdtemp(join(tmpdir(), 'regctl-multi-'));
  const secretFile = join(dir, 'secret');
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const args = ['--storage', `s3://${s3.bucket}/multi`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-upload-secret-file', secretFile];
  instances = await Promise.all([0, 1, 2].map(() => spawnServe(args, env())));
  urls = instances.map((i) => i.url);
});

afterAll(async () => {
  for (const i of instances) if (i.child.exitCode === null) i.child.kill('SIGKILL');
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('three instances, one bucket', () => {
  test('start-up says where data lives; no SDK warning and no secret on any output', () => {
    for (const i of instances) {
      expect(i.stdout()).toContain(`storage: s3://${s3.bucket}/multi`);
      expect(i.stderr()).not.toContain('NodeVersionSupportWarning');
      expect(i.stderr() + i.stdout()).not.toContain(SECRET);
      // A secret was given: no "generated one" warning.
      expect(i.stderr()).not.toContain('no upload secret');
    }
  });

  test('a chunked upload hops instance to instance: POST on 1, PATCHes on 2 and 3, status on 1, PUT on 2', async () => {
    const data = randomBytes(300_000);
    const digest = digestOf(data);
    const [a, b, c] = urls as [string, string, string];
    const post = await http(a, 'POST', '/v2/hop/app/blobs/uploads/');
    expect(post.status).toBe(202);
    let loc = post.headers.location!;
    const p1 = await http(b, 'PATCH', loc, { body: data.subarray(0, 100_000), headers: { 'content-range': '0-99999', 'content-type': 'application/octet-stream' } });
    expect(p1.status).toBe(202);
    expect(p1.headers.range).toBe('0-99999');
    loc = p1.headers.location!;
    // Out of order on another instance: 416 with the true position.
    const bad = await http(a, 'PATCH', loc, { body: data.subarray(150_000, 200_000), headers: { 'content-range': '150000-199999', 'content-type': 'application/octet-stream' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.range).toBe('0-99999');
    const p2 = await http(c, 'PATCH', loc, { body: data.subarray(100_000, 250_000), headers: { 'content-range': '100000-249999', 'content-type': 'application/octet-stream' } });
    expect(p2.status).toBe(202);
    const status = await http(a, 'GET', p2.headers.location!);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-249999');
    const put = await http(b, 'PUT', `${status.headers.location!}?digest=${digest}`, { body: data.subarray(250_000), headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(digest);
    for (const u of urls) {
      const got = await http(u, 'GET', `/v2/hop/app/blobs/${digest}`);
      expect(got.status).toBe(200);
      expect(digestOf(got.body)).toBe(digest);
      expect(got.body.equals(data)).toBe(true);
    }
    // The session ended everywhere.
    for (const u of urls) expect((await http(u, 'GET', loc)).status).toBe(404);
  });

  test('upload ids are signed: a changed id, or one from another repository, is unknown on every instance', async () => {
    const loc = (await http(urls[0]!, 'POST', '/v2/signed/one/blobs/uploads/')).headers.location!;
    const id = loc.slice(loc.lastIndexOf('/') + 1);
    const forged = id.slice(0, 31) + (id[31] === '0' ? '1' : '0');
    for (const u of urls) {
      expect((await http(u, 'GET', loc)).status).toBe(204);
      const r = await http(u, 'GET', `/v2/signed/one/blobs/uploads/${forged}`);
      expect(r.status).toBe(404);
      expect(r.json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
      expect((await http(u, 'GET', `/v2/signed/other/blobs/uploads/${id}`)).status).toBe(404);
    }
  });

  test('push through one instance, pull identical bytes from every instance', async () => {
    const img = makeImage({ layers: [4096, 70_000] });
    for (const [i, blob] of [img.config, ...img.layers].entries()) await pushBlob(urls[i % 3]!, 'pull/any', blob.bytes);
    expect((await pushManifest(urls[1]!, 'pull/any', 'v1', img.manifest.bytes, img.manifest.mediaType)).status).toBe(201);
    for (const u of urls) {
      const m = await http(u, 'GET', '/v2/pull/any/manifests/v1', { headers: { accept: img.manifest.mediaType } });
      expect(m.status).toBe(200);
      expect(m.body.equals(img.manifest.bytes)).toBe(true);
      expect(m.headers['docker-content-digest']).toBe(img.manifest.digest);
      for (const blob of img.layers) expect((await http(u, 'GET', `/v2/pull/any/blobs/${blob.desc.digest}`)).body.equals(blob.bytes)).toBe(true);
      expect((await http(u, 'GET', '/v2/pull/any/tags/list')).json()).toEqual({ name: 'pull/any', tags: ['v1'] });
    }
  });

  test('concurrent writers of one tag on different instances: the tag ends at one of the written digests, the same everywhere', async () => {
    const imgs = Array.from({ length: 6 }, () => makeImage({ layers: [512] }));
    for (const img of imgs) for (const blob of [img.config, ...img.layers]) await pushBlob(urls[0]!, 'race/tag', blob.bytes);
    const results = await Promise.all(imgs.map((img, i) => pushManifest(urls[i % 3]!, 'race/tag', 'latest', img.manifest.bytes, img.manifest.mediaType)));
    for (const r of results) expect(r.status).toBe(201);
    const seen = new Set<string>();
    for (const u of urls) {
      const m = await http(u, 'GET', '/v2/race/tag/manifests/latest', { headers: { accept: imgs[0]!.manifest.mediaType } });
      expect(m.status).toBe(200);
      seen.add(m.headers['docker-content-digest']!);
      expect(digestOf(m.body)).toBe(m.headers['docker-content-digest']);
    }
    expect(seen.size).toBe(1);
    expect(imgs.map((i) => i.manifest.digest)).toContain([...seen][0]);
  });

  test('an instance killed mid-upload: the others continue its session and keep serving', async () => {
    const data = randomBytes(200_000);
    const digest = digestOf(data);
    const [a, b, c] = urls as [string, string, string];
    const post = await http(a, 'POST', '/v2/killed/app/blobs/uploads/');
    const p1 = await http(a, 'PATCH', post.headers.location!, { body: data.subarray(0, 80_000), headers: { 'content-range': '0-79999', 'content-type': 'application/octet-stream' } });
    expect(p1.status).toBe(202);
    const victim = instances[0]!;
    const exited = new Promise((r) => victim.child.once('exit', r));
    victim.child.kill('SIGKILL');
    await exited;
    await expect(http(a, 'GET', '/v2/')).rejects.toThrow();
    const status = await http(b, 'GET', p1.headers.location!);
    expect(status.headers.range).toBe('0-79999');
    const p2 = await http(c, 'PATCH', status.headers.location!, { body: data.subarray(80_000), headers: { 'content-range': '80000-199999', 'content-type': 'application/octet-stream' } });
    expect(p2.status).toBe(202);
    expect((await http(b, 'PUT', `${p2.headers.location!}?digest=${digest}`)).status).toBe(201);
    for (const u of [b, c]) {
      expect((await http(u, 'GET', `/v2/killed/app/blobs/${digest}`)).body.equals(data)).toBe(true);
      // Earlier content is still served by the survivors.
      expect((await http(u, 'GET', '/v2/pull/any/tags/list')).status).toBe(200);
      expect((await http(u, 'GET', '/v2/_catalog')).json().repositories).toEqual(['hop/app', 'killed/app', 'pull/any', 'race/tag']);
    }
  });
});
