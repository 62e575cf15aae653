import { spawn } from 'node:child_process';
import type { Runtime, Shipped } from './install.js';

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** piped: stdout; on a terminal: everything the terminal showed (stdout and stderr share it) */
  out: string;
  /** piped: stderr; on a terminal: empty */
  err: string;
}

export interface RunOptions {
  tty: boolean;
  runtime: Runtime;
  /** extra environment (HOME, XDG_* and DOCKER_CONFIG should point at a test folder) */
  env: NodeJS.ProcessEnv;
  stdin?: string;
  cwd?: string;
  timeoutMs?: number;
  /** the terminal's size, "COLS ROWS" (default "100 40"; "0 0" is a pty nobody sized) */
  ttySize?: string;
}

/** Quote one word for `sh -c`. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What a terminal shows, as text: colour and cursor codes removed, CRLF as LF. */
export function screenText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r\n/g, '\n');
}

/**
 * Run the installed `regctl ARGS` found on PATH, piped or on a pseudo-terminal (script(1) gives
 * it one: stdin, stdout and stderr are then a TTY, as for a user at a terminal).
 */
export function runShipped(s: Shipped, args: string[], o: RunOptions): Promise<Ran> {
  const env = {
    PATH: o.runtime.path,
    LANG: 'C.UTF-8',
    TERM: o.tty ? 'xterm-256color' : 'dumb',
    COLUMNS: '100',
    LINES: '40',
    ...o.env,
  };
  const line = ['regctl', ...args].map(shellQuote).join(' ');
  // On a pty, stdin comes from a file the shell redirects (script's own stdin is not a pipe we can end).
  const [cols, rows] = (o.ttySize ?? '100 40').split(' ');
  const stty = `stty cols ${cols} rows ${rows}`;
  const [cmd, argv] = o.tty
    ? ['script', ['-qefc', o.stdin === undefined ? `${stty}; ${line}` : `${stty}; printf %s ${shellQuote(o.stdin)} | ${line}`, '/dev/null']]
    : ['sh', ['-c', line]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { env, cwd: o.cwd, stdio: [o.tty ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    if (!o.tty) child.stdin!.end(o.stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8');
      resolve({ code, signal, out: o.tty ? screenText(text) : text, err: Buffer.concat(err).toString('utf8') });
    });
  });
}
