import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyAllTags, copyImage } from '../../src/copy/index.js';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import type { Repository } from '../../src/registry/repository.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, makeMultiArch, makeReferrer, pushImage, pushIndex } from '../helpers/images.js';
import { BACKEND_KINDS, type Backend, type BackendKind } from './backends.js';

// No stored credentials or settings from the machine running the tests.
const env = { ...process.env, REGCTL_CONFIG_DIR: '/nonexistent-regctl-test', DOCKER_CONFIG: '/nonexistent-regctl-test' };

for (const kind of BACKEND_KINDS) {
  describe(`copy between ${kind.name} registries`, () => {
    let a: Backend;
    let b: Backend;
    const client = createRegistryClient({ env });
    const repo = (reg: Backend, name: string): Repository => client.repository(reg.registry, name);

    beforeAll(async () => {
      [a, b] = await Promise.all([kind.start(), kind.start()]);
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    it('copies a single image byte-exact (CLI), then re-copy transfers nothing', async () => {
      const img = makeImage({ layers: [300_000, 5000] });
      await pushImage(repo(a, 'single/app'), img, '1.0');
      const r = await runCli(['copy', '--json', `${a.registry}/single/app:1.0`, `${b.registry}/single/app`], { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ digest: img.manifest.digest, upToDate: false, blobs: { copied: 3, skipped: 0, mounted: 0 }, bytes: 305_000 + img.config.bytes.length });
      const got = await repo(b, 'single/app').getManifest('1.0');
      expect(got.bytes.equals(img.manifest.bytes)).toBe(true);
      const layer = await repo(b, 'single/app').getBlob(img.layers[0]!.desc);
      const chunks: Buffer[] = [];
      for await (const c of layer) chunks.push(c as Buffer);
      expect(digestOf(Buffer.concat(chunks))).toBe(img.layers[0]!.desc.digest);

      const before = b.requests?.length ?? 0;
      const again = await runCli(['copy', '--json', `${a.registry}/single/app:1.0`, `${b.registry}/single/app`], { env });
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ upToDate: true, bytes: 0, blobs: { copied: 0, skipped: 0, mounted: 0 } });
      if (b.requests) {
        const writes = b.requests.slice(before).filter((q) => q.method !== 'HEAD' && q.method !== 'GET');
        expect(writes).toEqual([]);
      }
    });

    it('copies an index whole, and one platform alone', async () => {
      const idx = makeMultiArch([20_000, 3000]);
      await pushIndex(repo(a, 'multi/app'), idx, 'v2');
      const report = await copyImage({ source: repo(a, 'multi/app'), target: repo(b, 'multi/app'), ref: 'v2', tags: ['v2'] });
      expect(report.blobs.copied).toBe(6);
      for (const m of [idx.manifest, ...idx.images.map((i) => i.manifest)]) {
        const got = await repo(b, 'multi/app').getManifest(m.digest);
        expect(got.bytes.equals(m.bytes)).toBe(true);
      }
      expect((await repo(b, 'multi/app').headManifest('v2'))?.digest).toBe(idx.manifest.digest);

      const arm = idx.images[1]!;
      const r = await runCli(['copy', '--platform', 'linux/arm64', `${a.registry}/multi/app:v2`, `${b.registry}/arm/app:v2-arm64`], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^copied ${arm.manifest.digest} to ${b.registry}/arm/app \\(tag: v2-arm64\\): 3 blobs copied, 0 skipped, 0 mounted`));
      expect((await repo(b, 'arm/app').headManifest('v2-arm64'))?.digest).toBe(arm.manifest.digest);
      expect(await repo(b, 'arm/app').headManifest(idx.manifest.digest)).toBeUndefined();
      expect(await repo(b, 'arm/app').hasBlob(idx.images[0]!.layers[0]!.desc)).toBe(false);
    });

    it('copies all tags; tags sharing a digest transfer once; up to date the second time', async () => {
      const one = makeImage({ layers: [4000] });
      const two = makeImage({ layers: [4000] });
      const src = repo(a, 'many/app');
      await pushImage(src, one, 'a1');
      for (const t of ['a2', 'a3', 'b1']) await src.putManifest(t, one.manifest);
      await pushImage(src, two, 'c1');
      const r = await runCli(['copy', '--all-tags', '--exclude', '^b', '--json', `${a.registry}/many/app`, `${b.registry}/many/app`], { env });
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.tags.map((t: { tag: string; outcome: string }) => `${t.tag}:${t.outcome}`)).toEqual(['a1:pushed', 'a2:pushed', 'a3:pushed', 'c1:pushed']);
      expect(report.blobs.copied).toBe(4);
      expect(await repo(b, 'many/app').listTags()).toEqual(['a1', 'a2', 'a3', 'c1']);
      const again = await copyAllTags({ source: src, target: repo(b, 'many/app'), exclude: /^b/ });
      expect(again.upToDate).toBe(true);
      expect(again.bytes).toBe(0);
    });

    it('mounts blobs within one registry: no blob bytes uploaded', async () => {
      const img = makeImage({ layers: [50_000, 60_000] });
      await pushImage(repo(a, 'mount/src'), img, 'v1');
      const before = a.requests?.length ?? 0;
      const r = await runCli(['copy', '--json', `${a.registry}/mount/src:v1`, `${a.registry}/mount/dst:v1`], { env });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ blobs: { copied: 0, skipped: 0, mounted: 3 }, bytes: 0 });
      expect((await repo(a, 'mount/dst').headManifest('v1'))?.digest).toBe(img.manifest.digest);
      if (a.requests) {
        const reqs = a.requests.slice(before);
        // Only the mount POSTs and the manifest PUT: no PATCH, no upload PUT, no blob GET.
        expect(reqs.filter((q) => q.method === 'PATCH')).toEqual([]);
        expect(reqs.filter((q) => q.method === 'PUT' && q.path.includes('/blobs/'))).toEqual([]);
        expect(reqs.filter((q) => q.method === 'GET' && q.path.includes('/blobs/'))).toEqual([]);
        expect(reqs.filter((q) => q.method === 'POST')).toHaveLength(3);
      }
    });

    it('copies referrers (recursively) with --referrers', async () => {
      const img = makeImage();
      const src = repo(a, 'ref/app');
      await pushImage(src, img, 'v1');
      const sbom = makeReferrer(img.manifest, 'application/spdx+json');
      const sig = makeReferrer(sbom.manifest, 'application/vnd.example.signature.v1');
      await pushImage(src, sbom);
      await pushImage(src, sig);
      // docker-registry has no referrers API: list them the OCI tag-schema way, as pushers do.
      for (const [subject, ref] of [[img, sbom], [sbom, sig]] as const) {
        if ((await src.referrers(subject.manifest.digest)).length > 0) continue;
        const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: ref.manifest.digest, size: ref.manifest.bytes.length, artifactType: JSON.parse(ref.manifest.bytes.toString()).artifactType }] }));
        await src.putManifest(subject.manifest.digest.replace(':', '-'), { bytes: body, mediaType: MediaType.ociIndex, digest: digestOf(body) });
      }
      const r = await runCli(['copy', '--referrers', '--json', `${a.registry}/ref/app:v1`, `${b.registry}/ref/app:v1`], { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).referrers).toBe(2);
      const dst = repo(b, 'ref/app');
      expect((await dst.getManifest(sig.manifest.digest)).bytes.equals(sig.manifest.bytes)).toBe(true);
      expect((await dst.referrers(img.manifest.digest)).map((d) => d.digest)).toEqual([sbom.manifest.digest]);
      expect((await dst.referrers(sbom.manifest.digest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
    });

    it('several destination tags; an OCI layout round trip keeps the digest', async () => {
      const img = makeImage({ layers: [2000] });
      await pushImage(repo(a, 'tags/app'), img, '1.2.3');
      const r = await runCli(['copy', '--progress', 'none', '--tag', 'latest', '--tag', '1.2', `${a.registry}/tags/app:1.2.3`, `${b.registry}/tags/app`], { env });
      expect(r.code).toBe(0);
      expect(await repo(b, 'tags/app').listTags()).toEqual(['1.2', '1.2.3', 'latest']);
      const dir = await mkdtemp(join(tmpdir(), 'regctl-copy-layout-'));
      try {
        const out = await runCli(['copy', '--json', `${a.registry}/tags/app:1.2.3`, `oci:${dir}`], { env });
        expect(out.code).toBe(0);
        expect(JSON.parse(out.stdout).tags).toEqual([{ tag: '1.2.3', digest: img.manifest.digest, outcome: 'pushed' }]);
        const back = await runCli(['copy', '--json', `oci:${dir}:1.2.3`, `${b.registry}/layout/app:back`], { env });
        expect(back.code).toBe(0);
        expect(JSON.parse(back.stdout).digest).toBe(img.manifest.digest);
        expect((await repo(b, 'layout/app').getManifest('back')).bytes.equals(img.manifest.bytes)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const wrong = await runCli(['copy', `${a.registry}/tags/app:1.2.3`, `${b.registry}/tags/app@sha256:${'0'.repeat(64)}`], { env });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toBe(`error: ${b.registry}/tags/app@sha256:${'0'.repeat(64)} names digest sha256:${'0'.repeat(64)} but the source is ${img.manifest.digest}\n`);
      expect(await repo(b, 'tags/app').headManifest(img.manifest.digest)).toBeDefined();
      const other = makeImage({ layers: [10] });
      await pushImage(repo(a, 'tags/other'), other, 'v1');
      const refused = await runCli(['copy', `${a.registry}/tags/other:v1`, `${b.registry}/tags/other@${img.manifest.digest}`], { env });
      expect(refused.code).toBe(2);
      expect(await repo(b, 'tags/other').headManifest(other.manifest.digest)).toBeUndefined();
    });

    it('--chunk-size uploads in PATCH chunks; plain progress lines go to stderr', async () => {
      const img = makeImage({ layers: [2_600_000] });
      await pushImage(repo(a, 'chunk/app'), img, 'v1');
      const before = b.requests?.length ?? 0;
      const r = await runCli(['copy', '--chunk-size', '1MiB', '--progress', 'plain', `${a.registry}/chunk/app:v1`, `${b.registry}/chunk/app:v1`], {
        env: { ...env, REGCTL_PROGRESS_INTERVAL_MS: '1' },
      });
      expect(r.code).toBe(0);
      expect(r.stderr.split('\n').filter(Boolean).every((l) => /^copy: \d+\/\d+ blobs?, /.test(l))).toBe(true);
      expect(r.stderr.length).toBeGreaterThan(0);
      expect((await repo(b, 'chunk/app').getManifest('v1')).bytes.equals(img.manifest.bytes)).toBe(true);
      if (b.requests) {
        const patches = b.requests.slice(before).filter((q) => q.method === 'PATCH');
        expect(patches.length).toBe(Math.ceil(2_600_000 / 1_048_576));
      }
    });

    it('--dry-run lists blobs and tags and writes nothing', async () => {
      const img = makeImage({ layers: [1000] });
      await pushImage(repo(a, 'dry/app'), img, 'v1');
      const r = await runCli(['copy', '--dry-run', `${a.registry}/dry/app:v1`, `${b.registry}/dry/app:v9`], { env });
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('copy\tblob\t')).map((l) => l.split('\t')[2]).sort()).toEqual([img.config.desc.digest, img.layers[0]!.desc.digest].sort());
      expect(lines).toContain(`push\ttag\tv9\t${img.manifest.digest}`);
      expect(lines.at(-1)).toMatch(/^dry run: would copy 2 blobs/);
      expect(await repo(b, 'dry/app').headManifest('v9')).toBeUndefined();
      expect(await repo(b, 'dry/app').hasBlob(img.layers[0]!.desc)).toBe(false);
    });
  });
}

const kindNamed = (name: string): BackendKind => BACKEND_KINDS.find((k) => k.name === name)!;
const serveKind = kindNamed('regctl serve');
const distKind = kindNamed('docker-registry');
describe('referrers from a registry with the API to one without (docker-registry)', () => {
  it('lists the copied referrers at the destination through the tag schema', async () => {
    const [s, d] = await Promise.all([serveKind.start(), distKind.start()]);
    try {
      const client = createRegistryClient({ env });
      const src = client.repository(s.registry, 'mixed/app');
      const img = makeImage();
      const sig = makeReferrer(img.manifest);
      await pushImage(src, img, 'v1');
      await pushImage(src, sig);
      expect((await src.referrers(img.manifest.digest)).map((x) => x.digest)).toEqual([sig.manifest.digest]);
      const report = await copyImage({ source: src, target: client.repository(d.registry, 'mixed/app'), ref: 'v1', tags: ['v1'], referrers: true });
      expect(report.referrers).toBe(1);
      const dst = client.repository(d.registry, 'mixed/app');
      const listed = await dst.referrers(img.manifest.digest);
      expect(listed).toEqual([{ mediaType: MediaType.ociManifest, digest: sig.manifest.digest, size: sig.manifest.bytes.length, artifactType: 'application/vnd.example.signature.v1' }]);
      expect(await dst.listTags()).toEqual([img.manifest.digest.replace(':', '-'), 'v1']);
      // Again: already listed, the fallback index is left alone.
      const before = (await dst.headManifest(img.manifest.digest.replace(':', '-')))!.digest;
      await copyImage({ source: src, target: dst, ref: 'v1', tags: ['v1'], referrers: true });
      expect((await dst.headManifest(img.manifest.digest.replace(':', '-')))!.digest).toBe(before);
    } finally {
      await Promise.all([s.close(), d.close()]);
    }
  });
});

describe('copy between two registries with different credentials', () => {
  it('authenticates on each side with its own login (Docker config), never printing them', async () => {
    const { startDistribution } = await import('../helpers/distribution.js');
    const [s, d] = await Promise.all([startDistribution({ users: { alice: 'src-secret' } }), startDistribution({ users: { bob: 'dst-secret' } })]);
    const dir = await mkdtemp(join(tmpdir(), 'regctl-copy-auth-'));
    try {
      const auth = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [s.registry]: { auth: auth('alice', 'src-secret') }, [d.registry]: { auth: auth('bob', 'dst-secret') } } }));
      const authEnv = { ...env, DOCKER_CONFIG: dir };
      const client = createRegistryClient({ env: authEnv });
      const img = makeImage({ layers: [3000] });
      await pushImage(client.repository(s.registry, 'auth/app'), img, 'v1');
      const r = await runCli(['copy', '-v', '--progress', 'none', `${s.registry}/auth/app:v1`, `${d.registry}/auth/app:v1`], { env: authEnv });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain('secret');
      expect(r.stderr).not.toContain(auth('alice', 'src-secret'));
      expect((await client.repository(d.registry, 'auth/app').headManifest('v1'))?.digest).toBe(img.manifest.digest);
      // Without credentials the source refuses: exit 4.
      const denied = await runCli(['copy', '--progress', 'none', `${s.registry}/auth/app:v1`, `${d.registry}/auth/app:v2`], { env });
      expect(denied.code).toBe(4);
      expect(denied.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all([s.close(), d.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
