import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { FilesystemStorage } from '../../src/server/storage/fs.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'regctl-fsstore-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

test('thousands of tiny chunks are written in order and hashed exactly', async () => {
  const store = new FilesystemStorage(root);
  await store.init();
  const chunks = Array.from({ length: 5000 }, () => randomBytes(1 + Math.floor(Math.random() * 40)));
  const all = Buffer.concat(chunks);
  const up = await store.createUpload('tiny');
  const info = await store.appendUpload('tiny', up.id, Readable.from(chunks));
  expect(info.size).toBe(all.length);
  await store.completeUpload('tiny', up.id, digestOf(all));
  const read: Buffer[] = [];
  for await (const c of await store.readBlob('tiny', digestOf(all))) read.push(c as Buffer);
  expect(Buffer.concat(read).equals(all)).toBe(true);
});

test('a new storage instance (restart) recomputes the running hash from the session file', async () => {
  const a = new FilesystemStorage(root);
  await a.init();
  const data = randomBytes(3 << 20);
  const up = await a.createUpload('restart');
  await a.appendUpload('restart', up.id, Readable.from([data.subarray(0, 1 << 20)]));
  const b = new FilesystemStorage(root);
  await b.init();
  expect((await b.statUpload('restart', up.id))?.size).toBe(1 << 20);
  await expect(b.appendUpload('restart', up.id, Readable.from([data.subarray(1 << 20)]), 5)).rejects.toMatchObject({ status: 416 });
  await b.appendUpload('restart', up.id, Readable.from([data.subarray(1 << 20)]), 1 << 20);
  const wrong = `sha256:${createHash('sha256').update('x').digest('hex')}`;
  await expect(b.completeUpload('restart', up.id, wrong)).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
  // The failed attempt consumed nothing: the right digest still completes.
  expect(await b.completeUpload('restart', up.id, digestOf(data))).toEqual({ digest: digestOf(data), size: data.length });
});

test('the content store drops a blob when its last repository deletes it', async () => {
  const store = new FilesystemStorage(root);
  await store.init();
  const data = randomBytes(1000);
  const digest = digestOf(data);
  for (const repo of ['x', 'y']) {
    const up = await store.createUpload(repo);
    await store.appendUpload(repo, up.id, Readable.from([data]));
    await store.completeUpload(repo, up.id, digest);
  }
  const content = join(root, '_blobs/sha256', digest.slice(7));
  expect((await stat(content)).nlink).toBe(3);
  await store.deleteBlob('x', digest);
  expect((await stat(content)).nlink).toBe(2);
  await store.deleteBlob('y', digest);
  await expect(stat(content)).rejects.toMatchObject({ code: 'ENOENT' });
  expect(await store.mountBlob('z', digest)).toBe(false);
});

test('a repository directory removed while the server runs is laid out again on the next push', async () => {
  const store = new FilesystemStorage(root);
  await store.init();
  const push = async (data: Buffer) => {
    const up = await store.createUpload('gone/app');
    await store.appendUpload('gone/app', up.id, Readable.from([data]));
    await store.completeUpload('gone/app', up.id, digestOf(data));
  };
  await push(randomBytes(10));
  const manifest = Buffer.from('{"schemaVersion":2,"config":{},"layers":[]}');
  await store.putManifest('gone/app', { digest: digestOf(manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifest }, ['v1']);
  await rm(join(root, 'gone'), { recursive: true });
  const again = randomBytes(20);
  await push(again);
  expect(await store.statBlob('gone/app', digestOf(again))).toEqual({ digest: digestOf(again), size: 20 });
  await store.putManifest('gone/app', { digest: digestOf(manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifest }, ['v2']);
  expect(await store.listTags('gone/app')).toEqual(['v2']);
  expect((await stat(join(root, 'gone/app/oci-layout'))).isFile()).toBe(true);
});

test('a purge does not take a session that is still being created (directory made, files not yet)', async () => {
  const store = new FilesystemStorage(root);
  await store.init();
  // What createUpload leaves between its mkdir and its first file: a start-up purge once
  // removed such a directory under a client's first upload.
  const id = 'ab'.repeat(16);
  await mkdir(join(root, '_uploads', id), { recursive: true });
  expect(await store.purgeUploads(60_000)).toBe(0);
  expect((await stat(join(root, '_uploads', id))).isDirectory()).toBe(true);
  // An old empty one still goes.
  const old = new Date(Date.now() - 120_000);
  await utimes(join(root, '_uploads', id), old, old);
  expect(await store.purgeUploads(60_000)).toBe(1);
});
