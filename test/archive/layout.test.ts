import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSource, openTarget } from '../../src/wiring/open-location.js';
import { parseLocation } from '../../src/content/location.js';
import { LayoutWriter } from '../../src/archive/layout-writer.js';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage, makeMultiArch, pushImage, pushIndex } from '../helpers/images.js';
import { requireTool } from '../helpers/tools.js';
import { readAll } from './util.js';

const exec = promisify(execFile);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('location parsing', () => {
  it('splits prefixes, paths, tags and digests', () => {
    expect(parseLocation('oci:/tmp/x')).toEqual({ kind: 'oci', path: '/tmp/x' });
    expect(parseLocation('oci:./d:v1')).toEqual({ kind: 'oci', path: './d', tag: 'v1' });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseLocation(`oci-archive:a.tar@${d}`)).toEqual({ kind: 'oci-archive', path: 'a.tar', digest: d });
    expect(parseLocation('docker-archive:-')).toEqual({ kind: 'docker-archive', path: '-' });
    expect(parseLocation('docker-archive:a.tar:localhost:5000/app:1.0')).toEqual({
      kind: 'docker-archive',
      path: 'a.tar',
      name: 'localhost:5000/app',
      tag: '1.0',
    });
    expect(parseLocation('docker-archive:a.tar:app')).toEqual({ kind: 'docker-archive', path: 'a.tar', name: 'app' });
    expect(parseLocation('docker://localhost:5000/app:2')).toEqual({
      kind: 'registry',
      ref: { registry: 'localhost:5000', repository: 'app', tag: '2' },
    });
    expect(() => parseLocation('oci:d:bad tag!')).toThrow(/invalid tag/);
    expect(() => parseLocation('docker-archive:')).toThrow(/empty file name/);
  });
});

describe('oci-archive', () => {
  it('adds tags to an existing archive, reads it back in place, and skopeo reads it', async () => {
    const file = join(dir, 'images.tar');
    const a = makeImage();
    const b = makeMultiArch();
    for (const [img, tag] of [[a, 'a'], [b, 'b']] as const) {
      const t = await openTarget(`oci-archive:${file}:${tag}`);
      if ('images' in img) await pushIndex(t.target, img, t.ref);
      else await pushImage(t.target, img, t.ref);
      await t.target.commit?.();
      await t.close();
    }
    const src = await openSource(`oci-archive:${file}:a`);
    expect(await src.source.listTags()).toEqual(['a', 'b']);
    expect((await src.source.getManifest('a')).digest).toBe(a.manifest.digest);
    expect((await src.source.getManifest('b')).bytes.equals(b.manifest.bytes)).toBe(true);
    const layer = b.images[0]!.layers[1]!;
    expect(digestOf(await readAll(await src.source.getBlob(layer.desc)))).toBe(layer.desc.digest);
    await src.close();
    await expect(openSource(`oci-archive:${file}`)).rejects.toThrow(/holds 2 images; name one with :TAG \(tags: a, b\)/);
    const { stdout } = await exec(requireTool('skopeo', 'skopeo'), ['inspect', '--raw', `oci-archive:${file}:b`]);
    expect(digestOf(Buffer.from(stdout))).toBe(b.manifest.digest);
  });
});

describe('OCI layout directory', () => {
  it('stores several tags, reads them back byte-exact, and skopeo reads the layout', async () => {
    const layout = join(dir, 'layout');
    const w = await LayoutWriter.create(layout);
    const a = makeImage();
    const b = makeMultiArch();
    await pushImage(w, a, 'a');
    await pushIndex(w, b, 'b');
    expect(await w.listTags()).toEqual(['a', 'b']);

    const src = await openSource(`oci:${layout}:b`);
    expect(src.ref).toBe('b');
    const m = await src.source.getManifest('b');
    expect(m.digest).toBe(b.manifest.digest);
    expect(m.bytes.equals(b.manifest.bytes)).toBe(true);
    const child = b.images[1]!;
    const layer = await readAll(await src.source.getBlob(child.layers[0]!.desc));
    expect(digestOf(layer)).toBe(child.layers[0]!.desc.digest);
    // by digest, not listed in index.json
    expect((await src.source.headManifest(child.manifest.digest))?.mediaType).toBe(child.manifest.mediaType);

    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((d) => d.annotations['org.opencontainers.image.ref.name'])).toEqual(['a', 'b']);

    // retagging replaces the entry, never duplicates it
    await pushImage(w, a, 'b');
    expect((await w.headManifest('b'))?.digest).toBe(a.manifest.digest);
    expect(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')).manifests).toHaveLength(2);

    const { stdout } = await exec(requireTool('skopeo', 'skopeo'), ['inspect', '--raw', `oci:${layout}:a`]);
    expect(digestOf(Buffer.from(stdout))).toBe(a.manifest.digest);
  });

  it('verifies blobs before they become visible and leaves no temporary files', async () => {
    const w = await LayoutWriter.create(join(dir, 'l'));
    const img = makeImage();
    const bad = Buffer.from(img.layers[0]!.bytes);
    bad[0] = bad[0]! ^ 1;
    await expect(w.putBlob(img.layers[0]!.desc, Readable.from([bad]))).rejects.toThrow(/digest mismatch/);
    expect(await w.hasBlob(img.layers[0]!.desc)).toBe(false);
    expect(await readdir(join(dir, 'l', 'blobs', 'sha256'))).toEqual([]);
    await expect(w.putManifest('t', { ...img.manifest, digest: `sha256:${'0'.repeat(64)}` })).rejects.toThrow(/digest mismatch/);
    expect(await w.listTags()).toEqual([]);
  });

  it('creates the layout when it is a destination and refuses a non-layout directory as a source', async () => {
    const t = await openTarget(`oci:${join(dir, 'new', 'nested')}:v1`);
    expect(t.ref).toBe('v1');
    expect(JSON.parse(await readFile(join(dir, 'new', 'nested', 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    await expect(openSource(`oci:${dir}`)).rejects.toThrow(/not an OCI image layout/);
    await expect(openSource(`oci:${join(dir, 'missing')}`)).rejects.toThrow(/not found/);
    await expect(openSource(`oci:${join(dir, 'new', 'nested')}`)).rejects.toThrow(/holds no images/);
  });
});
