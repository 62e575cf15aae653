import type { Writable } from 'node:stream';
import type { CopyEvent, CopyReport } from '../copy/types.js';
import { monotonicMs } from '../copy/clock.js';
import { formatBytes, formatRate, plural } from './format.js';

export { formatBytes };

/**
 * Live copy progress on stderr. `tty`: an ora spinner with per-blob byte progress and the
 * overall rate, redrawn a few times a second. `plain` (CI logs): one line every few seconds.
 * `none`: nothing. The final summary is the command's result and is printed by the command.
 */
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'none';

export interface ProgressOptions {
  mode: ProgressMode;
  stream: Writable & { isTTY?: boolean };
  /** Milliseconds between plain lines (default 5000). */
  plainInterval?: number;
  /** Milliseconds between TTY redraws (default 150). */
  ttyInterval?: number;
  /** What the lines say is going on: copy (default), import, export. */
  verb?: 'copy' | 'import' | 'export';
}

interface ActiveBlob {
  digest: string;
  size: number;
  bytes: number;
}

interface Spinner {
  text: string;
  start(): unknown;
  stop(): unknown;
  succeed(text?: string): unknown;
  fail(text?: string): unknown;
}

export function resolveProgressMode(mode: ProgressMode, stream: { isTTY?: boolean }): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY ? 'tty' : 'plain';
}

export class CopyProgress {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly stream: Writable;
  private readonly started = monotonicMs();
  private readonly active = new Map<string, ActiveBlob>();
  private queuedBlobs = 0;
  private queuedBytes = 0;
  private doneBlobs = 0;
  /** Bytes that moved: finished copies plus progress of those in flight. */
  private doneBytes = 0;
  private skippedBytes = 0;
  private tagsDone = 0;
  private timer: NodeJS.Timeout | undefined;
  private spinner: Spinner | undefined;
  private readonly options: ProgressOptions;
  private readonly verb: string;

  private constructor(options: ProgressOptions) {
    this.options = options;
    const mode = resolveProgressMode(options.mode, options.stream);
    // ora redraws with the terminal's cursor methods; a stream without them gets plain lines. So
    // does a terminal that reports no width (a pty nobody sized: `script` under a pipe, some CI
    // runners): ora divides by the width to count lines to erase, and with 0 it never stops.
    const { cursorTo, columns } = options.stream as { cursorTo?: unknown; columns?: number };
    const canRedraw = typeof cursorTo === 'function' && typeof columns === 'number' && columns > 0;
    this.mode = mode === 'tty' && !canRedraw ? 'plain' : mode;
    this.stream = options.stream;
    this.verb = options.verb ?? 'copy';
  }

  /** Start rendering (ora is loaded only for a TTY). */
  static async start(options: ProgressOptions): Promise<CopyProgress> {
    const p = new CopyProgress(options);
    if (p.mode === 'tty') {
      const { default: ora } = await import('ora');
      p.spinner = ora({ stream: p.stream as NodeJS.WritableStream, isEnabled: true, discardStdin: false, text: `${p.verb}ing` }) as unknown as Spinner;
      p.spinner.start();
      p.timer = setInterval(() => p.render(), options.ttyInterval ?? 150);
    } else if (p.mode === 'plain') {
      p.timer = setInterval(() => p.stream.write(`${p.statusLine()}\n`), options.plainInterval ?? 5000);
    }
    p.timer?.unref();
    return p;
  }

  readonly onEvent = (e: CopyEvent): void => {
    switch (e.type) {
      case 'blob-queued':
        this.queuedBlobs++;
        this.queuedBytes += e.size;
        break;
      case 'blob-start':
        this.active.set(e.digest, { digest: e.digest, size: e.size, bytes: 0 });
        break;
      case 'blob-progress': {
        const b = this.active.get(e.digest);
        if (b) b.bytes = e.bytes;
        break;
      }
      case 'blob-done':
        this.active.delete(e.digest);
        this.doneBlobs++;
        if (e.outcome === 'copied') this.doneBytes += e.bytes;
        else this.skippedBytes += e.size;
        break;
      case 'tag':
        this.tagsDone++;
        break;
      default:
        break;
    }
  };

  /** Bytes moved so far, including blobs in flight. */
  private movedBytes(): number {
    let n = this.doneBytes;
    for (const b of this.active.values()) n += b.bytes;
    return n;
  }

  statusLine(): string {
    const seconds = (monotonicMs() - this.started) / 1000;
    const moved = this.movedBytes();
    const toMove = Math.max(0, this.queuedBytes - this.skippedBytes);
    const parts = [`${this.verb}: ${this.doneBlobs}/${plural(this.queuedBlobs, 'blob')}`, `${formatBytes(moved)} of ${formatBytes(toMove)}`];
    const rate = formatRate(moved, seconds);
    if (rate) parts.push(rate);
    if (this.tagsDone > 0) parts.push(plural(this.tagsDone, 'tag'));
    parts.push(`${seconds.toFixed(1)} s`);
    return parts.join(', ');
  }

  private render(): void {
    if (!this.spinner) return;
    const lines = [this.statusLine()];
    // Largest transfers first; a handful is enough to see what is going on.
    const blobs = [...this.active.values()].sort((a, b) => b.size - a.size).slice(0, 6);
    for (const b of blobs) {
      const pct = b.size > 0 ? Math.floor((b.bytes / b.size) * 100) : 100;
      lines.push(`  ${shortDigest(b.digest)} ${bar(pct)} ${String(pct).padStart(3)}% ${formatBytes(b.bytes)}/${formatBytes(b.size)}`);
    }
    this.spinner.text = lines.join('\n');
  }

  /**
   * Stop rendering (TTY only leaves a line): on success one line saying so; after a failure a
   * line saying it failed; after Ctrl-C the display is cleared, and the command's one
   * "interrupted" line follows.
   */
  stop(report?: Pick<CopyReport, 'upToDate' | 'bytes'> | 'interrupted'): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.spinner) return;
    if (report === 'interrupted') this.spinner.stop();
    else if (report) this.spinner.succeed(report.upToDate ? 'up to date' : `${this.verb === 'copy' ? 'copied' : `${this.verb}ed`} ${formatBytes(report.bytes)}`);
    else this.spinner.fail(`${this.verb} failed`);
    this.spinner = undefined;
  }
}

function shortDigest(d: string): string {
  const colon = d.indexOf(':');
  return d.slice(0, colon + 13);
}

function bar(pct: number, width = 20): string {
  const full = Math.round((pct / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
