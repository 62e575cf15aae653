import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { collectGarbage } from '../../src/server/ops/gc.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/server.js';
import { FilesystemStorage } from '../../src/server/storage/fs.js';
import { MemoryStorage } from '../../src/server/storage/memory.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { blob, makeImage, makeIndex, makeReferrer, type TestBlob, type TestImage } from '../helpers/images.js';
import { http } from '../server/client.js';
import { ensureBuilt } from '../server/spawn.js';

/**
 * Online gc on a real filesystem root behind a running server: what is reachable from tags
 * survives byte for byte (index children, referrers, layers shared across repositories), what
 * nothing reaches goes, and pushes running while gc runs - in this process and from a separate
 * `regctl serve gc` process - complete and pull back identical.
 */

const repoRoot = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const HOUR = 3_600_000;

let root: string;
let reg: RegistryServer;
let url: string;

beforeAll(async () => {
  await ensureBuilt();
});

afterEach(async () => {
  await reg?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function start(): Promise<void> {
  root = await mkdtemp(join(tmpdir(), 'regctl-gc-'));
  reg = await createRegistryServer({ open: true, root });
  url = (await reg.listen(0)).url;
}

async function putBlob(repo: string, b: TestBlob | Buffer): Promise<string> {
  const bytes = Buffer.isBuffer(b) ? b : b.bytes;
  const digest = digestOf(bytes);
  // What clients do: HEAD first, upload only when missing.
  if ((await http(url, 'HEAD', `/v2/${repo}/blobs/${digest}`)).status === 200) return digest;
  const r = await http(url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: bytes });
  if (r.status !== 201) throw new Error(`blob ${repo}: ${r.status} ${r.body.toString()}`);
  return digest;
}

async function putImage(repo: string, img: TestImage, ref?: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) await putBlob(repo, b);
  const r = await http(url, 'PUT', `/v2/${repo}/manifests/${ref ?? img.manifest.digest}`, { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } });
  if (r.status !== 201) throw new Error(`manifest ${repo}: ${r.status} ${r.body.toString()}`);
}

/** Pull an image back and compare every byte. */
async function expectPullable(repo: string, img: TestImage, ref = img.manifest.digest): Promise<void> {
  const m = await http(url, 'GET', `/v2/${repo}/manifests/${ref}`);
  expect(m.status, `${repo}@${ref}`).toBe(200);
  expect(m.body.equals(img.manifest.bytes)).toBe(true);
  for (const b of [img.config, ...img.layers]) {
    const r = await http(url, 'GET', `/v2/${repo}/blobs/${b.desc.digest}`);
    expect(r.status, `${repo} ${b.desc.digest}`).toBe(200);
    expect(digestOf(r.body)).toBe(b.desc.digest);
  }
}

async function blobStatus(repo: string, digest: string): Promise<number> {
  return (await http(url, 'HEAD', `/v2/${repo}/blobs/${digest}`)).status;
}

async function contentExists(digest: string): Promise<boolean> {
  return stat(join(root, '_blobs', 'sha256', digest.slice(7))).then(
    () => true,
    () => false,
  );
}

describe('gc on the filesystem backend', () => {
  it('keeps everything reachable, removes the rest, counts shared bytes once', async () => {
    await start();
    const index = makeIndex([makeImage({ layers: [3000] }), makeImage({ layers: [2000] })]);
    for (const child of index.images) await putImage('a/multi', child);
    const r1 = await http(url, 'PUT', '/v2/a/multi/manifests/v1', { body: index.manifest.bytes, headers: { 'content-type': index.manifest.mediaType } });
    expect(r1.status).toBe(201);
    const sig = makeReferrer(index.manifest);
    await putImage('a/multi', sig);
    const shared = makeImage({ layers: [4000, 1000] });
    await putImage('a/shared', shared, 'v1');
    await putImage('b/shared', shared, 'v1');
    // Unreachable: blobs nobody references, an image whose tag goes, a shared image untagged in one repo only.
    const orphans = [Buffer.from('orphan one'), Buffer.from('orphan two '.repeat(100))];
    for (const o of orphans) await putBlob('a/multi', o);
    const dropped = makeImage({ layers: [5000] });
    await putImage('c/dropped', dropped, 'old');
    expect((await http(url, 'DELETE', '/v2/c/dropped/manifests/old')).status).toBe(202);
    expect((await http(url, 'DELETE', '/v2/a/shared/manifests/v1')).status).toBe(202);

    const store = new FilesystemStorage(root).gcStore();
    const later = () => Date.now() + 2 * HOUR;
    // Without --untagged, untagged manifests are roots: only the orphan blobs go.
    const dry = await collectGarbage(store, { dryRun: true, now: later });
    expect(dry.removed.map((r) => r.digest).sort()).toEqual(orphans.map((o) => digestOf(o)).sort());
    for (const o of orphans) expect(await blobStatus('a/multi', digestOf(o))).toBe(200);

    const report = await collectGarbage(store, { untagged: true, now: later });
    const removed = new Set(report.removed.map((r) => `${r.repository} ${r.digest}`));
    for (const o of orphans) expect(removed).toContain(`a/multi ${digestOf(o)}`);
    for (const d of [dropped.manifest.digest, dropped.config.desc.digest, dropped.layers[0]!.desc.digest]) expect(removed).toContain(`c/dropped ${d}`);
    for (const d of [shared.manifest.digest, shared.layers[0]!.desc.digest]) expect(removed).toContain(`a/shared ${d}`);
    expect(report.removed).toHaveLength(2 + 3 + 4);
    // Bytes freed: the orphans and the dropped image; the shared image lives on in b/shared.
    const size = (b: Buffer | TestBlob) => (Buffer.isBuffer(b) ? b.length : b.bytes.length);
    const expected = orphans.reduce((n, o) => n + o.length, 0) + dropped.manifest.bytes.length + size(dropped.config) + size(dropped.layers[0]!);
    expect(report.bytesReclaimed).toBe(expected);

    // Reachable: index, its children, the referrer, the shared image in b.
    const m = await http(url, 'GET', '/v2/a/multi/manifests/v1');
    expect(m.body.equals(index.manifest.bytes)).toBe(true);
    for (const child of index.images) await expectPullable('a/multi', child);
    await expectPullable('a/multi', sig);
    const refs = (await http(url, 'GET', `/v2/a/multi/referrers/${index.manifest.digest}`)).json();
    expect(refs.manifests.map((d: { digest: string }) => d.digest)).toEqual([sig.manifest.digest]);
    await expectPullable('b/shared', shared, 'v1');
    // Gone, also from the content store; the shared layer's single copy stays.
    for (const o of orphans) {
      expect(await blobStatus('a/multi', digestOf(o))).toBe(404);
      expect(await contentExists(digestOf(o))).toBe(false);
    }
    expect(await blobStatus('c/dropped', dropped.layers[0]!.desc.digest)).toBe(404);
    expect(await contentExists(dropped.layers[0]!.desc.digest)).toBe(false);
    expect(await blobStatus('a/shared', shared.layers[0]!.desc.digest)).toBe(404);
    expect(await contentExists(shared.layers[0]!.desc.digest)).toBe(true);
    expect((await http(url, 'GET', `/v2/c/dropped/manifests/${dropped.manifest.digest}`)).status).toBe(404);
    // A second run finds nothing; no tombstones or lock files are left behind.
    expect((await collectGarbage(store, { untagged: true, now: later })).removed).toEqual([]);
    expect(await leftovers(root)).toEqual([]);
  });

  it('within the grace period nothing goes; a blob HEAD touched is kept by the next run', async () => {
    await start();
    const old = Buffer.from(`reused ${Math.random()}`);
    await putBlob('r', old);
    const store = new FilesystemStorage(root).gcStore();
    expect((await collectGarbage(store, { graceMs: HOUR })).removed).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    // A client asks for it (and will reference it) just before gc: it stays.
    expect(await blobStatus('r', digestOf(old))).toBe(200);
    expect((await collectGarbage(store, { graceMs: 200 })).removed).toEqual([]);
    // 300 ms later (gc's clock, not a sleep) the touch is older than the grace period too.
    expect((await collectGarbage(store, { graceMs: 200, now: () => Date.now() + 300 })).removed.map((r) => r.digest)).toEqual([digestOf(old)]);
  });

  it('pushes running while gc runs (this process and a separate `regctl serve gc` process) complete and pull back identical', async () => {
    await start();
    // Unreferenced blobs older than the grace period; half of them get reused by the pushes.
    const seeded = Array.from({ length: 8 }, (_, i) => blob(Buffer.from(`seed ${i} ${Math.random()}`.repeat(50)), 'application/vnd.oci.image.layer.v1.tar'));
    for (const b of seeded) await putBlob('seed', b);
    // Longer than any push here takes even on a busy CI machine (a push slower than the grace
    // period may lose its layers: that is what the grace period is for).
    const GRACE = 3000;
    await new Promise((r) => setTimeout(r, GRACE + 200));
    const images = Array.from({ length: 12 }, (_, i) => {
      const img = makeImage({ layers: [1500, 700] });
      // Rebuild with one reused seed blob as an extra layer.
      const reuse = seeded[i % 4]!;
      const body = JSON.parse(img.manifest.bytes.toString()) as { layers: unknown[] };
      body.layers.push(reuse.desc);
      const bytes = Buffer.from(JSON.stringify(body));
      return { ...img, layers: [...img.layers, reuse], manifest: { ...img.manifest, bytes, digest: digestOf(bytes) } } satisfies TestImage;
    });

    let pushing = true;
    const gcStore = new FilesystemStorage(root).gcStore();
    let inProcessRuns = 0;
    const inProcess = (async () => {
      while (pushing) {
        await collectGarbage(gcStore, { graceMs: GRACE });
        inProcessRuns++;
      }
    })();
    const cli = join(repoRoot, 'bin', 'regctl.js');
    let cliRuns = 0;
    const separate = (async () => {
      while (pushing) {
        const { stdout } = await run(process.execPath, [cli, 'serve', 'gc', '--root', root, '--grace', `${GRACE}ms`, '--json']);
        expect(JSON.parse(stdout).dryRun).toBe(false);
        cliRuns++;
      }
    })();
    // Pushes through the server, 3 at a time, into every repository including the seed one.
    const queue = images.map((img, i) => async () => {
      const repo = i % 3 === 0 ? 'seed' : `app${i % 3}`;
      await putImage(repo, img, `t${i}`);
      return repo;
    });
    const repos: string[] = [];
    const workers = Array.from({ length: 3 }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        repos.push(await job());
        await new Promise((r) => setTimeout(r, 30));
      }
    });
    await Promise.all(workers);
    // Let each gc finish at least one full pass over the pushed data.
    const target = { inProcess: inProcessRuns + 1, cli: cliRuns + 1 };
    await waitFor(() => inProcessRuns >= target.inProcess && cliRuns >= target.cli, { timeoutMs: 60_000, what: 'one more full gc pass in each process' });
    pushing = false;
    await Promise.all([inProcess, separate]);
    expect(cliRuns).toBeGreaterThan(0);

    for (const [i, img] of images.entries()) await expectPullable(i % 3 === 0 ? 'seed' : `app${i % 3}`, img, `t${i}`);
    // The seeds nobody reused are gone from the seed repository.
    // A grace period later (gc's clock, not a sleep).
    await collectGarbage(gcStore, { graceMs: GRACE, now: () => Date.now() + GRACE + 1 });
    for (const b of seeded.slice(4)) expect(await blobStatus('seed', b.desc.digest)).toBe(404);
    for (const [i, img] of images.entries()) await expectPullable(i % 3 === 0 ? 'seed' : `app${i % 3}`, img, `t${i}`);
    expect(await leftovers(root)).toEqual([]);
  }, 60_000);
});

describe('crash safety', () => {
  it('a tombstone left by a gc that died mid-decision is put back by the next run', async () => {
    await start();
    const img = makeImage();
    await putImage('crash', img, 'v1');
    const layer = img.layers[0]!.desc.digest;
    const path = join(root, 'crash', 'blobs', 'sha256', layer.slice(7));
    const { rename } = await import('node:fs/promises');
    const tomb = join(root, 'crash', 'blobs', 'sha256', `.gc-${layer.slice(7)}`);
    await rename(path, tomb);
    expect(await blobStatus('crash', layer)).toBe(404);
    // A fresh tombstone belongs to a gc still deciding: left alone.
    await collectGarbage(new FilesystemStorage(root).gcStore(), { now: () => Date.now() + 2 * HOUR });
    expect(await blobStatus('crash', layer)).toBe(404);
    // An old one (ctime cannot be set back: the threshold is lowered instead) is put back.
    const report = await collectGarbage(new FilesystemStorage(root).gcStore({ tombstoneAgeMs: 0 }), { now: () => Date.now() + 2 * HOUR });
    expect(report.removed).toEqual([]);
    await expectPullable('crash', img, 'v1');
  });
});

describe('regctl serve gc (CLI)', () => {
  it('dry run, then removal: table lines on stdout, summary on stderr, --json report', async () => {
    await start();
    const orphan = Buffer.from(`cli orphan ${Math.random()}`);
    const d = await putBlob('cli/repo', orphan);
    const img = makeImage();
    await putImage('cli/repo', img, 'v1');
    const dry = await runCli(['serve', 'gc', '--root', root, '--grace', '0s', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(`blob\tcli/repo\t${d}\t${orphan.length} B\n`);
    expect(dry.stderr).toContain(`would remove 0 manifests, 1 blob, 0 uploads; would reclaim ${orphan.length} B; kept 1 manifest, 4 blobs in 1 repository`);
    expect(await blobStatus('cli/repo', d)).toBe(200);
    const json = await runCli(['--json', 'serve', 'gc', '--root', root, '--grace', '0s']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ dryRun: false, bytesReclaimed: orphan.length, removed: [{ kind: 'blob', repository: 'cli/repo', digest: d, size: orphan.length }] });
    expect(report.seconds).toBeGreaterThanOrEqual(0);
    expect(await blobStatus('cli/repo', d)).toBe(404);
    await expectPullable('cli/repo', img, 'v1');
    const again = await putBlob('cli/repo', Buffer.from(`tty orphan ${Math.random()}`));
    const tty = await runCli(['serve', 'gc', '--root', root, '--grace', '0s'], { tty: true });
    // A table on a terminal.
    expect(tty.stdout).toMatch(/KIND.*REPOSITORY.*DIGEST \/ SESSION.*SIZE/);
    expect(tty.stdout).toContain(again);
    expect(tty.stdout).toContain('┌');
    expect(tty.stderr).toContain('removed 0 manifests, 1 blob, 0 uploads; reclaimed');
    const missing = await runCli(['serve', 'gc', '--root', join(root, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`error: no registry storage at ${join(root, 'nope')} (pass --root DIR)\n`);
  });

  it('REGCTL_SERVE_GC_GRACE and the config file set the grace period; --grace wins', async () => {
    await start();
    const d = await putBlob('g', Buffer.from(`young ${Math.random()}`));
    const env = { REGCTL_SERVE_GC_GRACE: '1h', REGCTL_SERVE_ROOT: root };
    const keep = await runCli(['--json', 'serve', 'gc', '--dry-run'], { env });
    expect(JSON.parse(keep.stdout).removed).toEqual([]);
    const go = await runCli(['--json', 'serve', 'gc', '--dry-run', '--grace', '0s'], { env });
    expect(JSON.parse(go.stdout).removed.map((r: { digest: string }) => r.digest)).toEqual([d]);
  });
});

describe('gc on the memory backend', () => {
  it('same rules through MemoryStorage.gcStore()', async () => {
    const mem = new MemoryStorage();
    reg = await createRegistryServer({ open: true, storage: mem });
    url = (await reg.listen(0)).url;
    root = '';
    const img = makeImage();
    await putImage('m', img, 'v1');
    const orphan = await putBlob('m', Buffer.from('memory orphan'));
    const report = await collectGarbage(mem.gcStore(), { now: () => Date.now() + 2 * HOUR });
    expect(report.removed.map((r) => r.digest)).toEqual([orphan]);
    await expectPullable('m', img, 'v1');
  });
});

/** Tombstones and lock files gc or the server might leave. */
async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.gc-') || e.name.endsWith('.lock')) out.push(join(d, e.name));
      if (e.isDirectory()) await walk(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

describe('a corrupt index.json', () => {
  it('leaves that repository untouched (with a warning) instead of taking it for empty', async () => {
    await start();
    const img = makeImage();
    await putImage('broken', img, 'v1');
    await putImage('fine', img, 'v1');
    const orphan = await putBlob('fine', Buffer.from(`orphan ${Math.random()}`));
    const { writeFile: write } = await import('node:fs/promises');
    await write(join(root, 'broken', 'index.json'), '{"manifests": [truncated');
    const report = await collectGarbage(new FilesystemStorage(root).gcStore(), { untagged: true, now: () => Date.now() + 2 * HOUR });
    expect(report.removed.map((r) => `${r.repository} ${r.digest}`)).toEqual([`fine ${orphan}`]);
    expect(report.warnings).toEqual(['broken: index.json is not a valid OCI index; repository left untouched']);
    for (const b of [img.config, ...img.layers]) expect(await blobStatus('broken', b.desc.digest)).toBe(200);
  });
});

describe('index.json lock file (shared by the server and serve gc)', () => {
  it('waits for a live holder; takes over at once from a dead one', async () => {
    await start();
    const img = makeImage();
    await putImage('locked', img, 'v1');
    const { writeFile: write, unlink } = await import('node:fs/promises');
    const lock = join(root, 'locked', '.index.json.lock');
    // Held by a live process (this one, as another storage instance would be): the tag waits.
    await write(lock, String(process.pid));
    let done = false;
    const tagging = http(url, 'PUT', '/v2/locked/manifests/v2', { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } }).then((r) => {
      done = true;
      return r.status;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    await unlink(lock);
    expect(await tagging).toBe(201);
    // Left by a process that no longer exists: taken over without waiting.
    const dead = spawnSyncDeadPid();
    await write(lock, String(dead));
    const t = Date.now();
    expect((await http(url, 'PUT', '/v2/locked/manifests/v3', { body: img.manifest.bytes, headers: { 'content-type': img.manifest.mediaType } })).status).toBe(201);
    expect(Date.now() - t).toBeLessThan(2000);
    expect((await http(url, 'GET', '/v2/locked/tags/list')).json().tags).toEqual(['v1', 'v2', 'v3']);
    expect(await leftovers(root)).toEqual([]);
  });
});

/** The pid of a process that has exited. */
function spawnSyncDeadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}
