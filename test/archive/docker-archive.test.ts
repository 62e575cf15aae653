import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSource, openTarget } from '../../src/wiring/open-location.js';
import { LayoutWriter } from '../../src/archive/layout-writer.js';
import { copyImage } from '../../src/copy/index.js';
import type { ImageSource, ImageTarget } from '../../src/content/types.js';
import type { Platform } from '../../src/oci/manifest.js';
import { TarIndex } from '../../src/archive/tar-index.js';
import { digestOf } from '../../src/oci/digest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { pushImage, pushIndex } from '../helpers/images.js';
import { dockerSaveOciTar, dockerSaveTar, makeRealImage, makeRealMultiArch, tarOf } from './fixtures.js';
import { readAll } from './util.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-docker-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One image through the copy engine, under `tag` (or by digest), as import and export do. */
async function transferImage(o: { source: ImageSource; ref: string; target: ImageTarget; tag?: string; platform?: Platform }): Promise<{ digest: string }> {
  const r = await copyImage({ source: o.source, ref: o.ref, target: o.target, tags: o.tag ? [o.tag] : [], ...(o.platform ? { platform: o.platform } : {}) });
  return { digest: r.digest! };
}

async function manifestOf(layout: string, tag: string): Promise<{ m: ImageManifest; digest: string }> {
  const src = await openSource(`oci:${layout}:${tag}`);
  const data = await src.source.getManifest(tag);
  return { m: JSON.parse(data.bytes.toString()) as ImageManifest, digest: data.digest };
}

describe('docker-archive import', () => {
  it('gzips layers while streaming into a target, keeping config and diff_ids', async () => {
    const img = await makeRealImage();
    const file = join(dir, 'app.tar');
    await writeFile(file, await dockerSaveTar(img, ['example/app:1.0']));
    const src = await openSource(`docker-archive:${file}`);
    expect(src.ref).toBe('1.0');
    expect(await src.source.listTags()).toEqual(['1.0']);
    const layout = join(dir, 'layout');
    const target = await LayoutWriter.create(layout);
    const r = await transferImage({ source: src.source, ref: src.ref, target, tag: 'v1' });
    await src.close();
    const { m, digest } = await manifestOf(layout, 'v1');
    expect(digest).toBe(r.digest);
    expect(m.mediaType).toBe(MediaType.dockerManifest);
    expect(m.config.digest).toBe(img.config.desc.digest);
    expect(m.layers.map((l) => l.mediaType)).toEqual([MediaType.dockerLayerGzip, MediaType.dockerLayerGzip]);
    for (const [i, l] of m.layers.entries()) {
      const gz = await readFile(join(layout, 'blobs', 'sha256', l.digest.slice(7)));
      expect(digestOf(gz)).toBe(l.digest);
      expect(gz.length).toBe(l.size);
      expect(digestOf(gunzipSync(gz))).toBe(img.diffIds[i]);
    }
  });

  it('the generic source path (spooled gzip) gives the same manifest as the streaming path; --no-compress keeps tars', async () => {
    const img = await makeRealImage();
    const file = join(dir, 'app.tar');
    await writeFile(file, await dockerSaveTar(img, ['app:2'], { manifestFirst: true }));
    const streamed = await openSource(`docker-archive:${file}`);
    const layoutA = join(dir, 'a');
    const a = await transferImage({ source: streamed.source, ref: streamed.ref, target: await LayoutWriter.create(layoutA), tag: 't' });
    await streamed.close();
    const generic = await openSource(`docker-archive:${file}:app:2`);
    const m = await generic.source.getManifest(generic.ref);
    expect(m.digest).toBe(a.digest);
    const layer = JSON.parse(m.bytes.toString()).layers[1];
    expect(digestOf(gunzipSync(await readAll(await generic.source.getBlob(layer))))).toBe(img.diffIds[1]);
    await generic.close();

    const raw = await openSource(`docker-archive:${file}`, { compress: false });
    const rm_ = JSON.parse((await raw.source.getManifest(raw.ref)).bytes.toString()) as ImageManifest;
    expect(rm_.layers.map((l) => l.digest)).toEqual(img.diffIds);
    expect(rm_.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.docker.image.rootfs.diff.tar']);
    expect((await readAll(await raw.source.getBlob(rm_.layers[0]!))).equals(img.tars[0]!)).toBe(true);
    await raw.close();
  });

  it('reads standard input (spooled while indexed) and picks an image by NAME:TAG', async () => {
    const img = await makeRealImage();
    const stdin = Readable.from([await dockerSaveTar(img, ['example.com/app:1.0', 'example.com/app:latest'])]);
    const src = await openSource('docker-archive:-:example.com/app:1.0', { stdin, tmpDir: dir });
    const m = JSON.parse((await src.source.getManifest(src.ref)).bytes.toString()) as ImageManifest;
    expect(m.config.digest).toBe(img.config.desc.digest);
    await src.close();
    await expect(openSource(`docker-archive:-:other:1`, { stdin: Readable.from([await dockerSaveTar(img, ['app:1'])]) })).rejects.toThrow(
      /holds no image other:1 \(it holds: app:1\)/,
    );
  });

  it('reads the newer docker save layout (an OCI layout inside) both as docker-archive and as oci-archive', async () => {
    const img = await makeRealImage();
    const { tar, manifestDigest } = await dockerSaveOciTar(img, 'app:9');
    const file = join(dir, 'new.tar');
    await writeFile(file, tar);
    const asDocker = await openSource(`docker-archive:${file}`);
    expect(asDocker.ref).toBe('9');
    const layout = join(dir, 'l');
    await transferImage({ source: asDocker.source, ref: asDocker.ref, target: await LayoutWriter.create(layout), tag: '9' });
    await asDocker.close();
    const { m } = await manifestOf(layout, '9');
    expect(m.config.digest).toBe(img.config.desc.digest);
    for (const [i, l] of m.layers.entries()) {
      expect(digestOf(gunzipSync(await readFile(join(layout, 'blobs', 'sha256', l.digest.slice(7)))))).toBe(img.diffIds[i]);
    }
    const asOci = await openSource(`oci-archive:${file}`);
    expect(asOci.ref).toBe('9');
    expect((await asOci.source.getManifest('9')).digest).toBe(manifestDigest);
    await asOci.close();
  });

  it('pushes layers that are already gzipped in the archive as they are (diff_ids still checked)', async () => {
    const img = await makeRealImage();
    const file = join(dir, 'gz-layers.tar');
    await writeFile(file, await dockerSaveTar(img, ['app:1'], { gzipLayers: true }));
    const src = await openSource(`docker-archive:${file}`);
    const layout = join(dir, 'l');
    await transferImage({ source: src.source, ref: src.ref, target: await LayoutWriter.create(layout), tag: '1' });
    await src.close();
    const { m } = await manifestOf(layout, '1');
    expect(m.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.desc.digest));
    // a gzipped layer whose content is not its diff_id is refused
    const other = await makeRealImage();
    const swapped = { ...img, layers: [other.layers[0]!, img.layers[1]!] };
    await writeFile(file, await dockerSaveTar(swapped, ['app:1'], { gzipLayers: true }));
    const bad = await openSource(`docker-archive:${file}`);
    await expect(transferImage({ source: bad.source, ref: bad.ref, target: await LayoutWriter.create(join(dir, 'l2')), tag: '1' })).rejects.toThrow(
      /diff_id\) digest mismatch/,
    );
    await bad.close();
  });

  it('follows the symlinks docker save uses for duplicate layers', async () => {
    const img = await makeRealImage({ layers: [2000] });
    const t = img.tars[0]!;
    const cfg = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [img.diffIds[0], img.diffIds[0]] } }));
    const cfgHex = digestOf(cfg).slice(7);
    const file = join(dir, 'dup.tar');
    await writeFile(
      file,
      await tarOf({
        'aaa/layer.tar': t,
        'bbb/layer.tar': { symlink: '../aaa/layer.tar' },
        [`${cfgHex}.json`]: cfg,
        'manifest.json': Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: null, Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }])),
      }),
    );
    const src = await openSource(`docker-archive:${file}`, { compress: false });
    expect(src.ref).toBe('latest');
    const m = JSON.parse((await src.source.getManifest(src.ref)).bytes.toString()) as ImageManifest;
    expect(m.layers.map((l) => l.digest)).toEqual([img.diffIds[0], img.diffIds[0]]);
    expect((await readAll(await src.source.getBlob(m.layers[1]!))).equals(t)).toBe(true);
    await src.close();
  });

  it('reads a gzipped archive (docker save | gzip), from a file and from stdin', async () => {
    const img = await makeRealImage();
    const gz = gzipSync(await dockerSaveTar(img, ['app:3']));
    const file = join(dir, 'app.tar.gz');
    await writeFile(file, gz);
    for (const [loc, stdin] of [[`docker-archive:${file}`, undefined], ['docker-archive:-', Readable.from([gz])]] as const) {
      const src = await openSource(loc, { stdin, compress: false });
      const m = JSON.parse((await src.source.getManifest(src.ref)).bytes.toString()) as ImageManifest;
      expect(m.config.digest).toBe(img.config.desc.digest);
      expect((await readAll(await src.source.getBlob(m.layers[1]!))).equals(img.tars[1]!)).toBe(true);
      await src.close();
    }
    await writeFile(file, gz.subarray(0, gz.length - 100));
    await expect(openSource(`docker-archive:${file}`)).rejects.toThrow(/app.tar.gz: corrupt gzip-compressed archive \(unexpected end of file\)/);
  });

  it('names the problem in bad archives', async () => {
    const img = await makeRealImage();
    const good = await dockerSaveTar(img, ['app:1']);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated', good.subarray(0, 2000), /truncated tar archive/],
      ['corrupt', Buffer.concat([Buffer.alloc(512, 0x41), good]), /corrupt tar archive/],
      ['missing', await dockerSaveTar(img, ['app:1'], { dropLayer: true }), /layer [0-9a-f]{64}\/layer\.tar is missing from the archive/],
      ['notar', Buffer.from('hello, world\n'), /truncated tar archive|not a tar archive|corrupt/],
      ['unknown', await (await import('./fixtures.js')).tarOf({ 'README': Buffer.from('hi') }), /unknown archive format \(no manifest\.json/],
    ];
    for (const [name, bytes, re] of cases) {
      const f = join(dir, `${name}.tar`);
      await writeFile(f, bytes);
      await expect(openSource(`docker-archive:${f}`), name).rejects.toThrow(re);
    }
    // A layer whose bytes do not match its diff_id fails while it streams; no tag is written.
    const f = join(dir, 'bad.tar');
    await writeFile(f, await dockerSaveTar(img, ['app:1'], { corruptLayer: true }));
    const src = await openSource(`docker-archive:${f}`);
    const layout = join(dir, 'l');
    const target = await LayoutWriter.create(layout);
    await expect(transferImage({ source: src.source, ref: src.ref, target, tag: 'x' })).rejects.toThrow(/diff_id\) digest mismatch/);
    expect(await target.listTags()).toEqual([]);
    await src.close();
  });
});

describe('docker-archive export', () => {
  it('writes manifest.json, config and uncompressed layers that match the diff_ids', async () => {
    const img = await makeRealImage();
    const layout = join(dir, 'layout');
    await pushImage(await LayoutWriter.create(layout), img, '1.0');
    const src = await openSource(`oci:${layout}:1.0`);
    const file = join(dir, 'out.tar');
    const dst = await openTarget(`docker-archive:${file}`, { defaultName: 'docker.io/library/app' });
    await transferImage({ source: src.source, ref: src.ref, target: dst.target, tag: '1.0' });
    await dst.close();
    const index = await TarIndex.fromFile(file);
    const manifest = JSON.parse((await index.read('manifest.json')).toString());
    expect(manifest).toEqual([
      { Config: `${img.config.desc.digest.slice(7)}.json`, RepoTags: ['app:1.0'], Layers: img.diffIds.map((d) => `${d.slice(7)}/layer.tar`) },
    ]);
    expect([...index.entries.keys()][0]).toBe('manifest.json');
    for (const [i, d] of img.diffIds.entries()) expect((await index.read(`${d.slice(7)}/layer.tar`)).equals(img.tars[i]!)).toBe(true);
    // and it reads back as a docker-archive with the same config
    const back = await openSource(`docker-archive:${file}:app:1.0`);
    expect(JSON.parse((await back.source.getManifest(back.ref)).bytes.toString()).config.digest).toBe(img.config.desc.digest);
    await back.close();
  });

  it('refuses an index without --platform and writes the chosen platform with one', async () => {
    const idx = await makeRealMultiArch();
    const layout = join(dir, 'layout');
    await pushIndex(await LayoutWriter.create(layout), idx, 'multi');
    const src = await openSource(`oci:${layout}:multi`);
    const file = join(dir, 'x.tar');
    const dst = await openTarget(`docker-archive:${file}:app:1`);
    await expect(transferImage({ source: src.source, ref: src.ref, target: dst.target })).rejects.toThrow(
      /holds one image, and multi is a multi-platform index \(linux\/amd64, linux\/arm64\/v8\): choose one with --platform/,
    );
    await dst.close();
    const platform = { os: 'linux', architecture: 'arm64' };
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const dst3 = await openTarget(`docker-archive:-:app:1`, { platform, stdout: out });
    await transferImage({ source: src.source, ref: src.ref, target: dst3.target, platform });
    await dst3.close();
    const back = await openSource('docker-archive:-', { stdin: Readable.from([Buffer.concat(chunks)]) });
    expect(JSON.parse((await back.source.getManifest(back.ref)).bytes.toString()).config.digest).toBe(idx.images[1]!.config.desc.digest);
    await back.close();
  });

  it('fails on a layer whose uncompressed bytes do not match the diff_id', async () => {
    const img = await makeRealImage();
    const other = await makeRealImage();
    // Same config, but layer 0 swapped for a different (valid gzip) blob.
    const bad = { ...img, layers: [other.layers[0]!, img.layers[1]!] };
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: img.config.desc, layers: bad.layers.map((l) => l.desc) }));
    bad.manifest = { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) };
    const layout = join(dir, 'layout');
    await pushImage(await LayoutWriter.create(layout), bad, 'bad');
    const src = await openSource(`oci:${layout}:bad`);
    const file = join(dir, 'bad.tar');
    const dst = await openTarget(`docker-archive:${file}`);
    await expect(transferImage({ source: src.source, ref: src.ref, target: dst.target })).rejects.toThrow(/diff_id\) digest mismatch/);
    await dst.close();
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });
});
