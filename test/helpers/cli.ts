import { PassThrough } from 'node:stream';
import { run } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI in-process with captured output. stdout/stderr are not TTYs (like CI), unless
 * `tty` is set (`columns` wide, default 120). `stdin` text, when given, is what the command reads
 * from standard input. Aborting `interrupt` is Ctrl-C.
 */
export async function runCli(
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv; tty?: boolean; columns?: number; interrupt?: AbortSignal } = {},
): Promise<CliResult> {
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  if (options.tty) {
    stdout.isTTY = true;
    stdout.columns = options.columns ?? 120;
    stderr.isTTY = true;
  }
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdin.end(options.stdin ?? '');
  const code = await run(args, { stdout, stderr, stdin, env: { ...process.env, NO_COLOR: '', ...options.env }, ...(options.interrupt ? { interrupt: options.interrupt } : {}) });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
