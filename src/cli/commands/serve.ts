import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { registerGc } from './serve/gc.js';
import { registerServe } from './serve/run.js';
import { registerUser } from './serve/user.js';

/** `regctl serve` and its sub-commands, one file each under serve/. */
export { defaultRoot } from './serve/settings.js';

export function register(program: Command, ctx: CommandContext): void {
  const serve = registerServe(program, ctx);
  registerUser(serve, ctx);
  registerGc(serve, ctx);
}
