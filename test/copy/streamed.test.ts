import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LayoutWriter } from '../../src/archive/layout-writer.js';
import type { ImageSource, ImageTarget, StreamedImage } from '../../src/content/types.js';
import { copyImage, type CopyEvent } from '../../src/copy/index.js';
import { DigestMismatchError, ExitCode, InvalidContentError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Descriptor, ManifestData } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { MemoryStore } from './memory-store.js';

/**
 * The copy engine's streamed images (a docker-archive's layers gzipped on the way): blobs whose
 * digest the target computes, through the same limiter, events and failure rules as any blob.
 */

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-streamed-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const configDesc: Descriptor = { mediaType: MediaType.dockerConfig, digest: digestOf(config), size: config.length };
const tar = Buffer.alloc(300_000, 7);

function manifestOf(descs: Descriptor[]): ManifestData {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: descs[0], layers: descs.slice(1) }));
  return { bytes, mediaType: MediaType.dockerManifest, digest: digestOf(bytes) };
}

/** A source that can only stream (getManifest would need the digests first). */
class StreamingSource implements ImageSource {
  readonly description = 'streaming-source';
  streamed = 0;
  constructor(private readonly fail?: Error) {}
  async headManifest(): Promise<undefined> {
    return undefined;
  }
  async getManifest(): Promise<ManifestData> {
    throw new Error('getManifest must not be called on a streamed image');
  }
  async getBlob(): Promise<Readable> {
    throw new Error('getBlob must not be called on a streamed image');
  }
  async listTags(): Promise<string[]> {
    return ['1'];
  }
  async streamImage(ref: string): Promise<StreamedImage | undefined> {
    if (ref !== '1') return undefined;
    this.streamed++;
    const fail = this.fail;
    return {
      blobs: [
        { kind: 'known', prepare: async () => ({ desc: configDesc, open: () => Readable.from([config]) }) },
        {
          kind: 'computed',
          key: 'sha256:' + 'f'.repeat(64),
          size: tar.length,
          mediaType: MediaType.dockerLayerGzip,
          open: (onRead) =>
            Readable.from(
              (async function* () {
                onRead(tar.length);
                if (fail) throw fail;
                yield gzipSync(tar);
              })(),
            ),
        },
      ],
      manifest: manifestOf,
    };
  }
}

describe('streamed images', () => {
  it('stores computed blobs, builds the manifest from their digests, tags it; events are keyed by the source key', async () => {
    const target = await LayoutWriter.create(join(dir, 'l'));
    const events: CopyEvent[] = [];
    const report = await copyImage({ source: new StreamingSource(), target, ref: '1', tags: ['1', 'two'], onEvent: (e) => events.push(e) });
    const gz = gzipSync(tar);
    const layer = { mediaType: MediaType.dockerLayerGzip, digest: digestOf(gz), size: gz.length };
    const manifest = manifestOf([configDesc, layer]);
    expect(report.digest).toBe(manifest.digest);
    expect(report.blobs).toEqual({ copied: 2, skipped: 0, mounted: 0 });
    expect(report.bytes).toBe(config.length + tar.length);
    expect(report.tags.map((t) => [t.tag, t.outcome])).toEqual([['1', 'pushed'], ['two', 'pushed']]);
    expect((await target.headManifest('two'))?.digest).toBe(manifest.digest);
    expect(gunzipSync(await readFile(join(dir, 'l', 'blobs', 'sha256', layer.digest.slice(7)))).equals(tar)).toBe(true);
    const key = 'sha256:' + 'f'.repeat(64);
    expect(events.filter((e) => 'digest' in e && e.digest === key).map((e) => e.type)).toEqual(['blob-queued', 'blob-start', 'blob-progress', 'blob-done']);
  });

  it('a second run streams again and says so (pushed, not up to date), as the archive push always did', async () => {
    const target = await LayoutWriter.create(join(dir, 'l'));
    const first = await copyImage({ source: new StreamingSource(), target, ref: '1', tags: ['1'] });
    const again = await copyImage({ source: new StreamingSource(), target, ref: '1', tags: ['1'] });
    expect(again.digest).toBe(first.digest);
    expect(again.upToDate).toBe(false);
    expect(again.tags).toEqual([{ tag: '1', digest: first.digest, outcome: 'pushed' }]);
    // The known config is found at the target; the computed layer moves again.
    expect(again.blobs).toEqual({ copied: 1, skipped: 1, mounted: 0 });
  });

  it('refuses a digest the target reports that is not the digest of what was sent; nothing is tagged', async () => {
    const real = await LayoutWriter.create(join(dir, 'l'));
    const lying: ImageTarget = Object.assign(Object.create(real) as LayoutWriter, {
      async putBlobComputed(body: Readable, mediaType: string): Promise<Descriptor> {
        const d = await real.putBlobComputed(body, mediaType);
        return { ...d, digest: 'sha256:' + '0'.repeat(64) };
      },
    });
    const err = await copyImage({ source: new StreamingSource(), target: lying, ref: '1', tags: ['1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).exitCode).toBe(ExitCode.integrity);
    expect(await real.headManifest('1')).toBeUndefined();
  });

  it('a source failure while streaming is the error reported; nothing is tagged', async () => {
    const target = await LayoutWriter.create(join(dir, 'l'));
    const bad = new InvalidContentError('layer x (diff_id) digest mismatch', 'DIGEST_MISMATCH');
    await expect(copyImage({ source: new StreamingSource(bad), target, ref: '1', tags: ['1'] })).rejects.toThrow(/diff_id\) digest mismatch/);
    expect(await target.headManifest('1')).toBeUndefined();
  });

  it('is not used without a tag, on a dry run, or for a target that cannot compute digests', async () => {
    const source = new StreamingSource();
    const target = await LayoutWriter.create(join(dir, 'l'));
    await expect(copyImage({ source, target, ref: '1', tags: [] })).rejects.toThrow('getManifest must not be called');
    await expect(copyImage({ source, target, ref: '1', tags: ['1'], dryRun: true })).rejects.toThrow('getManifest must not be called');
    await expect(copyImage({ source, target: new MemoryStore({ description: 'mem' }), ref: '1', tags: ['1'] })).rejects.toThrow('getManifest must not be called');
    expect(source.streamed).toBe(0);
  });
});
