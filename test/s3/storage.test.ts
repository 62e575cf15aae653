/** What is particular to the S3 backend: where things are in the bucket, upload mechanics, GC, the factory. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { collectGarbage } from '../../src/server/ops/gc.js';
import { createRegistryServer } from '../../src/server/server.js';
import { openStorage, parseStorageUrl } from '../../src/server/storage/open-storage.js';
import type { S3Storage } from '../../src/server/storage/s3/s3.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, makeReferrer } from '../helpers/images.js';
import { http, pushBlob, pushManifest } from '../server/client.js';
import { CREDENTIALS, startS3, type LocalS3 } from './s3rver.js';

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.close();
});

async function keys(storage: S3Storage, under = ''): Promise<string[]> {
  const prefix = storage.keys.prefix + '/';
  return (await storage.bucket.listAll(prefix + under)).map((o) => o.key.slice(prefix.length));
}

const stream = (...chunks: Buffer[]) => Readable.from(chunks);

describe('S3Storage', () => {
  test('layout: content once per digest, a link per repository, one object per tag, catalog markers', async () => {
    const st = s3.storage();
    const data = randomBytes(1000);
    const digest = digestOf(data);
    for (const repo of ['a/one', 'a/two']) {
      const u = await st.createUpload(repo);
      await st.appendUpload(repo, u.id, stream(data));
      await st.completeUpload(repo, u.id, digest);
    }
    const hex = digest.slice(7);
    expect((await keys(st)).sort()).toEqual(
      [
        `blobrefs/sha256/${hex}/a/one`,
        `blobrefs/sha256/${hex}/a/two`,
        `blobs/sha256/${hex}`,
        'catalog/a/one',
        'catalog/a/two',
        `repositories/a/one/_blobs/sha256/${hex}`,
        `repositories/a/two/_blobs/sha256/${hex}`,
      ].sort(),
    );
    const img = makeImage({ layers: [10] });
    await st.putManifest('a/one', { digest: img.manifest.digest, mediaType: img.manifest.mediaType, bytes: img.manifest.bytes }, ['v1', 'latest']);
    expect(await keys(st, 'repositories/a/one/_tags/')).toEqual(['repositories/a/one/_tags/latest', 'repositories/a/one/_tags/v1']);
    expect(await st.bucket.getText(st.keys.tag('a/one', 'v1'))).toBe(img.manifest.digest);
    expect(await st.listTags('a/one')).toEqual(['latest', 'v1']);
    expect(await st.listTags('a/two')).toEqual([]);
    expect(await st.listTags('a/none')).toBeUndefined();
    expect(await st.listRepositories()).toEqual(['a/one', 'a/two']);
    // Deleting from one repository keeps the other's view (and the shared content).
    expect(await st.deleteBlob('a/one', digest)).toBe(true);
    expect(await st.statBlob('a/one', digest)).toBeUndefined();
    expect(await st.statBlob('a/two', digest)).toEqual({ digest, size: 1000 });
    expect(await st.touchBlob('a/two', digest)).toEqual({ digest, size: 1000 });
    expect(await st.touchBlob('a/one', digest)).toBeUndefined();
    expect(await st.stats()).toEqual({ bytes: 1000 + img.manifest.bytes.length, blobs: 2 });
  });

  test('chunks are part objects; the session survives a new S3Storage (another instance) and completes there', async () => {
    const first = s3.storage();
    const second = s3.storage({ prefix: first.keys.prefix });
    const data = randomBytes(20_000);
    const digest = digestOf(data);
    const u = await first.createUpload('chunks');
    await first.appendUpload('chunks', u.id, stream(data.subarray(0, 5000)), 0);
    await second.appendUpload('chunks', u.id, stream(data.subarray(5000, 12_000)), 5000);
    await expect(first.appendUpload('chunks', u.id, stream(data.subarray(0, 10)), 5000)).rejects.toMatchObject({ status: 416, code: 'BLOB_UPLOAD_INVALID' });
    await first.appendUpload('chunks', u.id, stream(data.subarray(12_000)));
    const parts = await keys(first, `uploads/${u.id}/parts/`);
    expect(parts.map((k) => Number(k.split('/').pop()!.split('-')[0]))).toEqual([0, 5000, 12_000]);
    expect((await second.statUpload('chunks', u.id))?.size).toBe(20_000);
    // Wrong digest: refused, nothing stored, session intact.
    await expect(second.completeUpload('chunks', u.id, digestOf(Buffer.from('other')))).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(await second.bucket.head(second.keys.content(digestOf(Buffer.from('other'))))).toBeUndefined();
    expect(await second.completeUpload('chunks', u.id, digest)).toEqual({ digest, size: 20_000 });
    expect(await keys(first, 'uploads/')).toEqual([]);
    const back = await first.readBlob('chunks', digest, { start: 4990, end: 5009 });
    const got: Buffer[] = [];
    for await (const c of back) got.push(c as Buffer);
    expect(Buffer.concat(got).equals(data.subarray(4990, 5010))).toBe(true);
  });

  test('a multi-part blob larger than the S3 part size streams through the hash into a multipart upload', async () => {
    const st = s3.storage();
    const data = randomBytes(18 * 1024 * 1024);
    const digest = digestOf(data);
    const u = await st.createUpload('big');
    const half = 9 * 1024 * 1024;
    await st.appendUpload('big', u.id, stream(data.subarray(0, half)));
    await st.appendUpload('big', u.id, stream(data.subarray(half)));
    await st.completeUpload('big', u.id, digest);
    const head = await st.bucket.head(st.keys.content(digest));
    expect(head?.size).toBe(data.length);
    const got: Buffer[] = [];
    for await (const c of await st.readBlob('big', digest)) got.push(c as Buffer);
    expect(digestOf(Buffer.concat(got))).toBe(digest);
  });

  test('a session with overlapping chunks (two writers at once) cannot complete', async () => {
    const st = s3.storage();
    const data = Buffer.from('abcdef');
    const u = await st.createUpload('overlap');
    await st.appendUpload('overlap', u.id, stream(data));
    // What a second instance racing on the same offset would leave behind.
    await st.bucket.put(`${st.keys.uploadParts(u.id)}${'0'.padStart(16, '0')}-1-ffffffff`, Buffer.from('xyz'));
    await expect(st.completeUpload('overlap', u.id, digestOf(data))).rejects.toMatchObject({ code: 'BLOB_UPLOAD_INVALID' });
  });

  test('purge removes idle sessions only; forged or foreign ids are unknown', async () => {
    const st = s3.storage();
    const old = await st.createUpload('p');
    await st.appendUpload('p', old.id, stream(Buffer.from('x')));
    await new Promise((r) => setTimeout(r, 300));
    const fresh = await st.createUpload('p');
    expect(await st.purgeUploads(200)).toBe(1);
    expect(await st.statUpload('p', old.id)).toBeUndefined();
    expect((await st.statUpload('p', fresh.id))?.size).toBe(0);
    expect(await st.statUpload('q', fresh.id)).toBeUndefined();
    const other = s3.storage({ prefix: st.keys.prefix, uploadSecret: 'a-different-secret-of-enough-length' });
    expect(await other.statUpload('p', fresh.id)).toBeUndefined();
  });
});

describe('content rules on S3 (issue 13)', () => {
  test('--max-tags-per-repository: a new tag past the cap is 400 DENIED, moving one is fine; bad media types are refused', async () => {
    const reg = await createRegistryServer({ open: true, storage: s3.storage(), maxTagsPerRepository: 2 });
    const { url } = await reg.listen(0, '127.0.0.1');
    try {
      const img = makeImage({ layers: [100] });
      for (const b of [img.config, ...img.layers]) await pushBlob(url, 'capped', b.bytes);
      const put = (tag: string) => pushManifest(url, 'capped', tag, img.manifest.bytes, img.manifest.mediaType);
      expect([(await put('a')).status, (await put('b')).status]).toEqual([201, 201]);
      const over = await put('c');
      expect(over.status).toBe(400);
      expect(over.json().errors[0]).toEqual({ code: 'DENIED', message: 'repository capped would have more than 2 tags (--max-tags-per-repository): delete tags first', detail: { limit: 2 } });
      expect((await put('a')).status).toBe(201);
      expect((await http(url, 'GET', '/v2/capped/tags/list')).json().tags).toEqual(['a', 'b']);
      const html = await pushManifest(url, 'capped', 'html', img.manifest.bytes, 'text/html');
      expect(html.status).toBe(400);
      expect(html.json().errors[0].code).toBe('MANIFEST_INVALID');
    } finally {
      await reg.close();
    }
  });
});

describe('interrupted uploads on S3', () => {
  test('a client that drops mid-PATCH leaves no part: the session stays where it was and resumes', async () => {
    const st = s3.storage();
    const reg = await createRegistryServer({ open: true, storage: st });
    const { url } = await reg.listen(0, '127.0.0.1');
    try {
      const data = randomBytes(12 << 20);
      const first = 1 << 20;
      const loc = (await http(url, 'POST', '/v2/drop/blobs/uploads/')).headers.location!;
      expect((await http(url, 'PATCH', loc, { body: data.subarray(0, first), headers: { 'content-range': `0-${first - 1}` } })).status).toBe(202);
      const { request: rawRequest } = await import('node:http');
      await new Promise<void>((resolve) => {
        const req = rawRequest(`${url}${loc}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
        req.on('error', () => resolve());
        // More than one S3 part (8 MiB) goes out before the drop: a multipart upload was under way.
        req.write(data.subarray(first, first + (9 << 20)), () => {
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 300);
        });
      });
      const id = loc.slice(loc.lastIndexOf('/') + 1);
      let parts: string[] = [];
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 50));
        parts = await keys(st, `uploads/${id}/parts/`);
        const status = await http(url, 'GET', loc);
        expect(status.headers.range).toBe(`0-${first - 1}`);
        if (parts.length === 1) break;
      }
      expect(parts).toHaveLength(1);
      const rest = await http(url, 'PATCH', loc, { body: data.subarray(first), headers: { 'content-range': `${first}-${data.length - 1}` } });
      expect(rest.status).toBe(202);
      expect((await http(url, 'PUT', `${loc}?digest=${digestOf(data)}`)).status).toBe(201);
      expect((await http(url, 'GET', `/v2/drop/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
    } finally {
      await reg.close();
    }
  });
});

describe('garbage collection on S3', () => {
  test('removes untagged manifests and unreferenced blobs past the grace period; keeps tagged content, referrers, young objects', async () => {
    const st = s3.storage();
    const reg = await createRegistryServer({ open: true, storage: st });
    const { url } = await reg.listen(0, '127.0.0.1');
    try {
      const keep = makeImage({ layers: [100, 200] });
      const drop = makeImage({ layers: [300] });
      const sig = makeReferrer(keep.manifest);
      for (const img of [keep, drop, sig]) for (const b of [img.config, ...img.layers]) await pushBlob(url, 'gc/app', b.bytes);
      // A kept layer also lies unreferenced in another repository: unlinked there, content stays.
      await pushBlob(url, 'gc/other', keep.layers[0]!.bytes);
      const orphan = await pushBlob(url, 'gc/app', randomBytes(500));
      expect((await pushManifest(url, 'gc/app', 'v1', keep.manifest.bytes, keep.manifest.mediaType)).status).toBe(201);
      expect((await pushManifest(url, 'gc/app', 'v2', drop.manifest.bytes, drop.manifest.mediaType)).status).toBe(201);
      expect((await pushManifest(url, 'gc/app', sig.manifest.digest, sig.manifest.bytes, sig.manifest.mediaType)).status).toBe(201);
      expect((await http(url, 'DELETE', '/v2/gc/app/manifests/v2')).status).toBe(202);
      const staleUpload = await st.createUpload('gc/app');

      // Right now everything is young: nothing goes.
      const young = await collectGarbage(st.gcStore(), { untagged: true, graceMs: 60_000 });
      expect(young.removed).toEqual([]);

      const later = () => Date.now() + 120_000;
      const report = await collectGarbage(st.gcStore(), { untagged: true, graceMs: 60_000, now: later });
      const removed = report.removed.map((r) => `${r.repository} ${r.kind} ${r.digest ?? r.id}`).sort();
      expect(removed).toEqual(
        [
          `gc/app manifest ${drop.manifest.digest}`,
          `gc/app blob ${drop.config.desc.digest}`,
          `gc/app blob ${drop.layers[0]!.desc.digest}`,
          `gc/app blob ${orphan}`,
          `gc/app upload ${staleUpload.id}`,
          `gc/other blob ${keep.layers[0]!.desc.digest}`,
        ].sort(),
      );
      expect((await http(url, 'GET', `/v2/gc/app/manifests/${drop.manifest.digest}`)).status).toBe(404);
      expect((await http(url, 'GET', `/v2/gc/app/blobs/${orphan}`)).status).toBe(404);
      expect(await st.bucket.head(st.keys.content(orphan))).toBeUndefined();
      expect(await st.bucket.head(st.keys.content(drop.config.desc.digest))).toBeUndefined();
      expect((await http(url, 'GET', `/v2/gc/other/blobs/${keep.layers[0]!.desc.digest}`)).status).toBe(404);
      expect(await st.bucket.head(st.keys.content(keep.layers[0]!.desc.digest))).toBeDefined();
      // Everything the tag and its referrer reach is intact.
      expect((await http(url, 'GET', '/v2/gc/app/manifests/v1', { headers: { accept: keep.manifest.mediaType } })).body.equals(keep.manifest.bytes)).toBe(true);
      for (const b of [keep.config, ...keep.layers, ...sig.layers]) expect((await http(url, 'GET', `/v2/gc/app/blobs/${b.desc.digest}`)).body.equals(b.bytes)).toBe(true);
      expect((await http(url, 'GET', `/v2/gc/app/referrers/${keep.manifest.digest}`)).json().manifests.map((m: { digest: string }) => m.digest)).toEqual([sig.manifest.digest]);
      expect(report.bytesReclaimed).toBe(drop.manifest.bytes.length + drop.config.bytes.length + 300 + 500);
    } finally {
      await reg.close();
    }
  });
});

describe('regctl serve gc --storage s3://...', () => {
  test('collects in the bucket from the command line: the orphan goes, the tagged image stays', async () => {
    const st = s3.storage();
    const reg = await createRegistryServer({ open: true, storage: st });
    const { url } = await reg.listen(0, '127.0.0.1');
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      const img = makeImage({ layers: [64] });
      for (const b of [img.config, ...img.layers]) await pushBlob(url, 'cli/gc', b.bytes);
      expect((await pushManifest(url, 'cli/gc', 'v1', img.manifest.bytes, img.manifest.mediaType)).status).toBe(201);
      const orphan = await pushBlob(url, 'cli/gc', randomBytes(77));
      // Older than the 1 s grace period plus S3's one-second timestamps.
      await new Promise((r) => setTimeout(r, 2200));
      const args = ['serve', 'gc', '--json', '--grace', '1s', '--storage', `s3://${s3.bucket}/${st.keys.prefix}`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style'];
      const r = await runCli(args, { env: { ...s3.env, HOME: tmpdir() } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.removed).toEqual([{ kind: 'blob', repository: 'cli/gc', digest: orphan, size: 77 }]);
      expect(report.bytesReclaimed).toBe(77);
      expect((await http(url, 'GET', `/v2/cli/gc/blobs/${orphan}`)).status).toBe(404);
      expect((await http(url, 'GET', '/v2/cli/gc/manifests/v1', { headers: { accept: img.manifest.mediaType } })).body.equals(img.manifest.bytes)).toBe(true);
    } finally {
      process.env = saved;
      await reg.close();
    }
  });
});

describe('openStorage and serve flags', () => {
  test('s3:// URLs parse; bad ones are refused', () => {
    expect(parseStorageUrl('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseStorageUrl('s3://my-bucket/a/b/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b' });
    expect(parseStorageUrl('/var/lib/registry')).toBeUndefined();
    expect(() => parseStorageUrl('s3://B')).toThrow(/invalid S3 bucket/);
    expect(() => parseStorageUrl('s3://bucket/../x')).toThrow(/invalid S3 prefix/);
  });

  test('openStorage: S3 with a generated secret warns once; a missing bucket is one clear error', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      const warnings: string[] = [];
      const st = await openStorage({ storage: `s3://${s3.bucket}/opened`, s3: { endpoint: s3.endpoint, forcePathStyle: true }, onWarning: (m) => warnings.push(m) });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('give them all the same secret');
      expect(await st.listRepositories()).toEqual([]);
      await st.close();
      await expect(openStorage({ storage: 's3://no-such-bucket', s3: { endpoint: s3.endpoint, forcePathStyle: true, uploadSecret: 'x'.repeat(32) } })).rejects.toThrow(
        'S3 bucket "no-such-bucket" does not exist',
      );
    } finally {
      process.env = saved;
    }
  });

  test('regctl serve: bad --storage is a usage error (exit 2); an unusable bucket is one line (exit 1); neither prints a stack or the secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-s3-flags-'));
    // The SDK reads credentials from the process environment, as in a real `regctl serve`.
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      const secretFile = join(dir, 'secret');
      await writeFile(secretFile, 'short');
      const env = { ...s3.env, HOME: dir };
      const bad = await runCli(['serve', '--storage', 'gs://bucket'], { env });
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      const short = await runCli(['serve', '--storage', `s3://${s3.bucket}`, '--s3-upload-secret-file', secretFile], { env });
      expect(short.code).toBe(2);
      expect(short.stderr).toContain('at least 16');
      expect(short.stderr).not.toContain('short');
      await writeFile(secretFile, 'a-long-enough-secret-value-1234');
      const missing = await runCli(['serve', '--port', '0', '--storage', 's3://not-there', '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-upload-secret-file', secretFile], {
        env,
      });
      expect(missing.code).toBe(1);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(missing.stderr).toContain('S3 bucket "not-there" does not exist');
      expect(missing.stderr).not.toContain('a-long-enough-secret');
      expect(missing.stderr).not.toContain(CREDENTIALS.secretAccessKey + '/');
    } finally {
      process.env = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('start-up cost', () => {
  test('only the S3 backend imports the AWS SDK, and only open.ts reaches it (dynamically)', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const src = join(import.meta.dirname, '../../src');
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          if (!p.endsWith(join('storage', 's3'))) await walk(p);
          continue;
        }
        if (!e.name.endsWith('.ts')) continue;
        const text = await readFile(p, 'utf8');
        // Static imports (type-only ones cost nothing at run time).
        for (const m of text.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)) {
          if (m[1]!.startsWith('@aws-sdk/') || m[1]!.includes('/s3/') || m[1]!.endsWith('storage/open-storage.js')) offenders.push(`${p}: ${m[1]}`);
        }
      }
    };
    await walk(src);
    expect(offenders).toEqual([]);
  });
});
