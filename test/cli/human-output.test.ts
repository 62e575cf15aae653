import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitColumns } from '../../src/cli/output.js';
import { formatBytes, formatRate, plural } from '../../src/cli/format.js';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli } from '../helpers/cli.js';
import { makeImage, pushImage, type TestImage } from '../helpers/images.js';
import { startServe, type ServeHandle } from '../helpers/serve.js';

// What people read: sizes in binary units (not `52435931`), rates that mean something for a
// small copy (not `0.0 MiB/s`), `1 tag` not `1 tags`, and tables that fit an 80-column
// terminal without the terminal folding their rows. --json keeps raw bytes.

describe('formatting helpers', () => {
  it('sizes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(52_435_931)).toBe('50.0 MiB');
    expect(formatBytes(314_617_768)).toBe('300.0 MiB');
    expect(formatBytes(1024 ** 2 - 1)).toBe('1.0 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
  it('rates', () => {
    expect(formatRate(2_000, 0.5)).toBe('3.9 KiB/s');
    expect(formatRate(500, 1)).toBe('500 B/s');
    expect(formatRate(0, 1)).toBeUndefined();
    expect(formatRate(1000, 0)).toBeUndefined();
  });
  it('plurals', () => {
    expect(plural(1, 'tag')).toBe('1 tag');
    expect(plural(0, 'blob')).toBe('0 blobs');
    expect(plural(2, 'repository', 'repositories')).toBe('2 repositories');
  });
  it('column widths: untouched when the table fits, else the widest columns give way', () => {
    expect(fitColumns([['a', 'b']], 80)).toBeUndefined();
    const w = fitColumns([['DIGEST', 'SIZE', 'MEDIA TYPE'], [`sha256:${'a'.repeat(64)}`, '2.9 KiB', 'application/vnd.oci.image.layer.v1.tar+gzip']], 80)!;
    expect(w.reduce((a, b) => a + b, 0) + w.length + 1).toBe(80);
    expect(w[1]).toBe(9);
  });
});

describe('commands print human units', () => {
  let a: ServeHandle;
  let b: ServeHandle;
  let img: TestImage;
  beforeAll(async () => {
    a = await startServe({ memory: true });
    b = await startServe({ memory: true });
    img = makeImage({ layers: [3000, 1_500_000] });
    await pushImage(new RegistryClient().repository(a.registry, 'app'), img, 'v1');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('inspect: Size and Total size in units, layer sizes too; --json keeps bytes', async () => {
    const r = await runCli(['inspect', `${a.registry}/app:v1`]);
    expect(r.code).toBe(0);
    const total = img.manifest.bytes.length + img.config.desc.size + 3000 + 1_500_000;
    expect(r.stdout).toContain(`Size:       ${formatBytes(img.manifest.bytes.length)}\n`);
    expect(r.stdout).toContain(`\t2.9 KiB\t`);
    expect(r.stdout).toContain(`\t1.4 MiB\t`);
    expect(r.stdout).toContain(`Total size: ${formatBytes(total)}\n`);
    const j = JSON.parse((await runCli(['--json', 'inspect', `${a.registry}/app:v1`])).stdout);
    expect(j.totalSize).toBe(total);
    expect(j.layers.map((l: { size: number }) => l.size)).toEqual([3000, 1_500_000]);
  });

  it('inspect on an 80-column terminal: every line fits and every table row stays whole', async () => {
    for (const columns of [80, 60]) {
      const r = await runCli(['inspect', `${a.registry}/app:v1`], { tty: true, columns });
      expect(r.code).toBe(0);
      // Colour codes take no room on screen.
      const lines = r.stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      // The table: each line fits and is bordered at both ends, and the digests read whole from
      // the first column of consecutive lines (a cell wraps inside its column).
      const table = lines.filter((l) => /^[┌│├└]/.test(l));
      expect(table.length).toBeGreaterThan(4);
      for (const l of table) expect(l.length, l).toBeLessThanOrEqual(columns);
      for (const l of table) expect(l).toMatch(/^[┌│├└].*[┐│┤┘]$/);
      const firstColumn = table.map((l) => (l.startsWith('│') ? l.split('│')[1]!.trim() : '\n')).join('');
      for (const layer of img.layers) expect(firstColumn).toContain(layer.desc.digest);
    }
  });

  it('copy: sizes and rates in units, singular nouns; --json keeps bytes', async () => {
    const r = await runCli(['copy', '--progress', 'none', `${a.registry}/app:v1`, `${b.registry}/app:v1`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^copied ${img.manifest.digest} to ${b.registry}/app \\(tag: v1\\): 3 blobs copied, 0 skipped, 0 mounted, 1\\.4 MiB in [\\d.]+ s(, [\\d.]+ (B|KiB|MiB|GiB)/s)?\\n$`),
    );
    expect(r.stdout).not.toContain('0.0 MiB/s');
    const again = await runCli(['copy', '--progress', 'none', `${a.registry}/app:v1`, `${b.registry}/app:v1`]);
    expect(again.stdout).toMatch(new RegExp(`^${b.registry}/app: up to date \\(${img.manifest.digest}, 1 tag\\) in [\\d.]+ s\\n$`));
    const json = JSON.parse((await runCli(['--json', 'copy', `${a.registry}/app:v1`, `${b.registry}/app:v2`])).stdout);
    expect(json.bytes).toBe(0);
    const dry = await runCli(['copy', '--dry-run', `${a.registry}/app:v1`, `${b.registry}/other:v1`]);
    expect(dry.stdout).toContain(`copy\tblob\t${img.layers[1]!.desc.digest}\t1.4 MiB\n`);
    expect(dry.stdout).toMatch(/\ndry run: would copy 3 blobs \(1\.4 MiB\), mount 0, skip 0; push 1 manifest\/tag\n$/);
  });
});
