import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect, test } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { VerifiedUploads, type UploadBytes } from '../../src/server/storage/verified-uploads.js';

/** Sessions as arrays, counting how often verification reads them back. */
function sessions() {
  const data = new Map<string, Buffer[]>();
  const counts = { reads: 0, commits: 0 };
  const size = (id: string) => (data.get(id) ?? []).reduce((n, b) => n + b.length, 0);
  const bytes: UploadBytes = {
    async appendBytes(repo, id, chunks) {
      const parts = data.get(id) ?? [];
      data.set(id, parts);
      for await (const c of chunks) parts.push(c);
      return { id, repository: repo, size: size(id), startedAt: 0 };
    },
    uploadSize: async (_repo, id) => size(id),
    readUpload: async (_repo, id) => {
      counts.reads++;
      return Readable.from(data.get(id) ?? []);
    },
    commitUpload: async (_repo, _id, digest, n) => {
      counts.commits++;
      return { digest, size: n };
    },
  };
  return { data, counts, bytes };
}

test('bytes appended through one VerifiedUploads are hashed on the way: completing reads nothing back', async () => {
  const s = sessions();
  const v = new VerifiedUploads(s.bytes);
  const a = randomBytes(70_000);
  const b = randomBytes(5);
  await v.append('r', 'id1', Readable.from([a]));
  await v.append('r', 'id1', Readable.from([b]), a.length);
  const all = Buffer.concat([a, b]);
  expect(await v.complete('r', 'id1', digestOf(all))).toEqual({ digest: digestOf(all), size: all.length });
  expect(s.counts).toEqual({ reads: 0, commits: 1 });
});

test('a wrong digest is DIGEST_INVALID and commits nothing; the next attempt re-reads and commits', async () => {
  const s = sessions();
  const v = new VerifiedUploads(s.bytes);
  const data = randomBytes(1000);
  await v.append('r', 'id2', Readable.from([data]));
  const wrong = digestOf(Buffer.from('x'));
  await expect(v.complete('r', 'id2', wrong)).rejects.toMatchObject({
    code: 'DIGEST_INVALID',
    message: `uploaded content has digest ${digestOf(data)}, not ${wrong}`,
    detail: { expected: wrong, actual: digestOf(data) },
  });
  expect(s.counts).toEqual({ reads: 0, commits: 0 });
  expect(await v.complete('r', 'id2', digestOf(data))).toEqual({ digest: digestOf(data), size: 1000 });
  expect(s.counts).toEqual({ reads: 1, commits: 1 });
});

test('bytes appended elsewhere (another instance, a restart) and sha512 digests are verified by reading the session', async () => {
  const s = sessions();
  const v = new VerifiedUploads(s.bytes);
  const first = randomBytes(300);
  const second = randomBytes(200);
  s.data.set('id3', [first]); // written by someone else
  await v.append('r', 'id3', Readable.from([second]), 300);
  const all = Buffer.concat([first, second]);
  expect(await v.complete('r', 'id3', digestOf(all))).toEqual({ digest: digestOf(all), size: 500 });
  expect(s.counts).toEqual({ reads: 1, commits: 1 });
  await v.append('r', 'id4', Readable.from([first]));
  expect(await v.complete('r', 'id4', digestOf(first, 'sha512'))).toEqual({ digest: digestOf(first, 'sha512'), size: 300 });
  expect(s.counts).toEqual({ reads: 2, commits: 2 });
});
