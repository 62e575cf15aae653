import type { Writable } from 'node:stream';

/**
 * Where a command's text goes and how it looks. Colour and tables only on a TTY and never
 * with NO_COLOR or --no-color; --json prints one JSON document on stdout.
 */
export interface OutputOptions {
  json?: boolean;
  color?: boolean;
  verbose?: boolean;
}

export interface Streams {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  /**
   * Aborted to interrupt the running command as Ctrl-C does (in-process runs and tests; the
   * real process wires SIGINT itself, see interrupt.ts).
   */
  interrupt?: AbortSignal;
}

export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  /** stdout is a terminal: tables, colour, live progress are allowed. */
  readonly tty: boolean;
  readonly stderrTty: boolean;
  readonly color: boolean;
  readonly streams: Streams;

  constructor(streams: Streams, options: OutputOptions = {}) {
    const env = streams.env ?? process.env;
    this.streams = streams;
    this.json = options.json ?? false;
    this.verbose = options.verbose ?? false;
    this.tty = Boolean(streams.stdout.isTTY);
    this.stderrTty = Boolean(streams.stderr.isTTY);
    const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
    this.color = options.color !== false && !noColor && this.tty && env.TERM !== 'dumb';
  }

  /** A line of the command's result on stdout. */
  line(text = ''): void {
    this.streams.stdout.write(`${text}\n`);
  }

  /** Raw bytes on stdout (manifest bodies). */
  raw(data: string | Uint8Array): void {
    this.streams.stdout.write(data);
  }

  printJson(value: unknown): void {
    this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Status and hints for people, on stderr so stdout stays parseable. */
  info(text: string): void {
    if (!this.json) this.streams.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.streams.stderr.write(`warning: ${text}\n`);
  }

  /** --verbose diagnostics on stderr. Callers must pass already-redacted text. */
  debug(text: string): void {
    if (this.verbose) this.streams.stderr.write(`${text}\n`);
  }

  /**
   * A table on a TTY (cli-table3, lazily loaded); tab-separated plain lines otherwise, so
   * `| cut -f1` and `| grep` work.
   */
  async table(head: string[], rows: string[][]): Promise<void> {
    if (!this.tty) {
      for (const r of rows) this.line(r.join('\t'));
      return;
    }
    const { default: Table } = await import('cli-table3');
    const style = this.color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] };
    const colWidths = fitColumns([head, ...rows], this.streams.stdout.columns || 80);
    // Too wide for the terminal: cells wrap inside their column (digests break anywhere), so a
    // row stays one row of the table instead of the terminal folding every line.
    const t = new Table({ head, style, ...(colWidths ? { colWidths, wordWrap: true, wrapOnWordBoundary: false } : {}) });
    t.push(...rows);
    this.line(t.toString());
  }

  /** chalk, or identity functions when colour is off. */
  async colors(): Promise<Colors> {
    if (!this.color) return plainColors;
    const { Chalk } = await import('chalk');
    const c = new Chalk({ level: 1 });
    return { bold: c.bold, dim: c.dim, green: c.green, red: c.red, yellow: c.yellow, cyan: c.cyan };
  }
}

/** Colour codes take no room on screen. */
const visibleLength = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/**
 * Column widths (cli-table3's, padding included) that fit `width` columns, or undefined when
 * the table fits as it is. The widest column gives up room first; none goes below a minimum.
 */
export function fitColumns(rows: string[][], width: number): number[] | undefined {
  const n = Math.max(...rows.map((r) => r.length));
  // One space of padding each side, plus a border between and around columns.
  const widths = Array.from({ length: n }, (_, i) => Math.max(...rows.map((r) => Math.max(...(r[i] ?? '').split('\n').map(visibleLength)))) + 2);
  const total = (): number => widths.reduce((a, b) => a + b, 0) + n + 1;
  if (total() <= width) return undefined;
  const MIN = 8;
  while (total() > width) {
    let widest = 0;
    for (let i = 1; i < n; i++) if (widths[i]! > widths[widest]!) widest = i;
    if (widths[widest]! <= MIN) break;
    widths[widest]!--;
  }
  return widths;
}

export interface Colors {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const id = (s: string): string => s;
const plainColors: Colors = { bold: id, dim: id, green: id, red: id, yellow: id, cyan: id };
