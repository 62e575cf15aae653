import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/cli/commands/copy.js';
import { CopyProgress, formatBytes, resolveProgressMode } from '../../src/cli/progress.js';
import type { CopyReport } from '../../src/copy/types.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

function capture(tty = false): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (tty) {
    // What ora needs from a terminal: cursor movement written as ANSI sequences.
    const t = stream as PassThrough & Record<string, unknown>;
    t.isTTY = true;
    t.columns = 100;
    t.cursorTo = (x: number, cb?: () => void) => stream.write(`\x1b[${x + 1}G`, cb);
    t.moveCursor = (dx: number, dy: number, cb?: () => void) => stream.write(dy < 0 ? `\x1b[${-dy}A` : '', cb);
    t.clearLine = (_dir: number, cb?: () => void) => stream.write('\x1b[2K', cb);
  }
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function feed(p: CopyProgress): void {
  p.onEvent({ type: 'blob-queued', digest: D1, size: 4 * 1024 * 1024, mediaType: 'x' });
  p.onEvent({ type: 'blob-queued', digest: D2, size: 1024, mediaType: 'x' });
  p.onEvent({ type: 'blob-start', digest: D1, size: 4 * 1024 * 1024, mediaType: 'x' });
  p.onEvent({ type: 'blob-progress', digest: D1, bytes: 1024 * 1024, size: 4 * 1024 * 1024 });
  p.onEvent({ type: 'blob-done', digest: D2, size: 1024, outcome: 'skipped', bytes: 0 });
}

describe('copy progress', () => {
  it('auto picks tty for a terminal and plain otherwise', () => {
    expect(resolveProgressMode('auto', { isTTY: true })).toBe('tty');
    expect(resolveProgressMode('auto', {})).toBe('plain');
    expect(resolveProgressMode('none', { isTTY: true })).toBe('none');
  });

  it('plain: a status line every interval on the stream', async () => {
    const { stream, text } = capture();
    const p = await CopyProgress.start({ mode: 'plain', stream, plainInterval: 20 });
    feed(p);
    await waitFor(() => text().trim().split('\n').length >= 2, { what: 'two status lines' });
    p.stop();
    const lines = text().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^copy: 1\/2 blobs, 1\.0 MiB of 4\.0 MiB, [\d.]+ (KiB|MiB|GiB)\/s, [\d.]+ s$/);
    const n = lines.length;
    // Kept: after stop() nothing more may come (a negative check needs a window).
    await sleep(50);
    expect(text().trim().split('\n')).toHaveLength(n);
  });

  it('tty: a spinner with per-blob progress, ending with a success line', async () => {
    const { stream, text } = capture(true);
    const p = await CopyProgress.start({ mode: 'tty', stream, ttyInterval: 10 });
    feed(p);
    await waitFor(() => text().includes('sha256:aaaaaaaaaaaa [#####'), { what: 'a per-blob progress line' });
    p.stop({ upToDate: false, bytes: 4 * 1024 * 1024 } as CopyReport);
    const out = text();
    expect(out).toContain('copy: 1/2 blobs, 1.0 MiB of 4.0 MiB');
    expect(out).toContain(`sha256:aaaaaaaaaaaa [#####...............]  25% 1.0 MiB/4.0 MiB`);
    expect(out).toContain('copied 4.0 MiB');
  });

  it('tty, interrupted: the display is cleared, no success or failure line (the command prints the one "interrupted" line)', async () => {
    const { stream, text } = capture(true);
    const p = await CopyProgress.start({ mode: 'tty', stream, ttyInterval: 10, verb: 'export' });
    feed(p);
    await waitFor(() => text().includes('export: 1/2 blobs'), { what: 'the spinner line' });
    const before = text().length;
    p.stop('interrupted');
    const after = text().slice(before);
    expect(text()).toContain('export: 1/2 blobs');
    expect(after).toContain('\x1b[2K');
    expect(after).not.toMatch(/copied|failed|exported|✖|✔/);
  });

  it('plain lines name what is going on and count in the singular for one', async () => {
    const { stream, text } = capture();
    const p = await CopyProgress.start({ mode: 'plain', stream, plainInterval: 10, verb: 'import' });
    p.onEvent({ type: 'blob-queued', digest: D1, size: 100, mediaType: 'x' });
    p.onEvent({ type: 'blob-done', digest: D1, size: 100, outcome: 'copied', bytes: 100 });
    p.onEvent({ type: 'tag', tag: '1.0', digest: D1, outcome: 'pushed' });
    await waitFor(() => text().includes('\n'), { what: 'a status line' });
    p.stop();
    expect(text().split('\n')[0]).toMatch(/^import: 1\/1 blob, 100 B of 100 B, [\d.]+ (B|KiB|MiB)\/s, 1 tag, [\d.]+ s$/);
  });

  it('tty without cursor control (a pipe posing as a terminal) falls back to plain', async () => {
    const { stream, text } = capture();
    stream.isTTY = true;
    const p = await CopyProgress.start({ mode: 'tty', stream, plainInterval: 10 });
    expect(p.mode).toBe('plain');
    feed(p);
    await waitFor(() => text().includes('\n'), { what: 'a status line' });
    p.stop();
    expect(text()).toMatch(/^copy: 1\/2 blobs/);
  });

  it('none writes nothing', async () => {
    const { stream, text } = capture(true);
    const p = await CopyProgress.start({ mode: 'none', stream });
    feed(p);
    // Kept: a window in which nothing may be written (a negative check).
    await sleep(30);
    p.stop();
    expect(text()).toBe('');
  });

  it('formats sizes', () => {
    expect(formatBytes(10)).toBe('10 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(500 * 1024 * 1024)).toBe('500.0 MiB');
    expect(parseSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseSize('5m')).toBe(5 * 1024 * 1024);
    expect(parseSize('1048576')).toBe(1048576);
    expect(() => parseSize('lots')).toThrow('--chunk-size: invalid size "lots"');
    expect(parseSize('1MiB')).toBe(1024 * 1024);
    expect(parseSize('512m')).toBe(512 * 1024 * 1024);
  });
});

describe('regctl copy usage errors (exit 2, one line)', () => {
  const cases: Array<[string[], string]> = [
    [['copy', '--include', 'x', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --include, --exclude and --skip-existing go with --all-tags'],
    [['copy', '--all-tags', '--include', '(', 'localhost:5000/a', 'localhost:5000/b'], 'error: --include: invalid regular expression:'],
    [['copy', '-j', '0', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --jobs: expected a number from 1 to 64, got "0"'],
    [['copy', '--all-tags', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: expected a repository without tag or digest, got "localhost:5000/a:1"'],
    [['copy', '--platform', 'linux', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: invalid platform "linux"'],
    [['copy', '--chunk-size', 'big', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --chunk-size: invalid size "big"'],
    // 1 KiB chunks turned a 300 MiB copy into 326 s of requests; accepted silently before.
    [['copy', '--chunk-size', '1KiB', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --chunk-size: 1KiB is below the minimum: use 1MiB to 512MiB (e.g. 16MiB)'],
    [['copy', '--chunk-size', '1048575', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --chunk-size: 1048575 is below the minimum: use 1MiB to 512MiB'],
    [['copy', '--chunk-size', '1G', 'localhost:5000/a:1', 'localhost:5000/b'], 'error: --chunk-size: 1G is above the maximum: use 1MiB to 512MiB'],
  ];
  for (const [args, message] of cases) {
    it(args.slice(1, -2).join(' '), async () => {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stderr.startsWith(message)).toBe(true);
    });
  }

  it('--progress takes only auto|tty|plain|none', async () => {
    const r = await runCli(['copy', '--progress', 'fancy', 'localhost:5000/a:1', 'localhost:5000/b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Allowed choices are auto, tty, plain, none");
  });
});
