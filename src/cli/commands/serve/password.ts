import { text } from 'node:stream/consumers';
import { InterruptedError, UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';

/** Read a line from a terminal without echoing it. */
async function promptHidden(ctx: CommandContext, question: string): Promise<string> {
  const stdin = ctx.streams.stdin as NodeJS.ReadStream;
  ctx.streams.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData);
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new InterruptedError('interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    ctx.streams.stderr.write('\n');
  }
}

export async function readPassword(ctx: CommandContext, fromStdin: boolean): Promise<string> {
  const stdin = ctx.streams.stdin;
  if (fromStdin) {
    if (!stdin) throw new UsageError('--password-stdin: no standard input');
    if (stdin.isTTY) throw new UsageError('--password-stdin: standard input is a terminal; pipe the password in');
    const password = (await text(stdin)).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--password-stdin: no password on standard input');
    return password;
  }
  if (!stdin?.isTTY || typeof (stdin as NodeJS.ReadStream).setRawMode !== 'function') {
    throw new UsageError('no terminal to ask for the password: pipe it in with --password-stdin (never on the command line)');
  }
  const first = await promptHidden(ctx, 'Password: ');
  const again = await promptHidden(ctx, 'Repeat password: ');
  if (first !== again) throw new UsageError('the passwords do not match');
  if (first === '') throw new UsageError('empty password');
  return first;
}
