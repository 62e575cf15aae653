import type { Command } from 'commander';
import { UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';
import { readPassword } from './password.js';
import { settingsFor } from './settings.js';

/** regctl serve user add|rm|list */

async function htpasswdPath(cmd: Command, env: NodeJS.ProcessEnv): Promise<string> {
  const { settings } = await settingsFor(cmd, env);
  if (settings.htpasswd === undefined) throw new UsageError('which users file? pass --htpasswd FILE (or set REGCTL_SERVE_HTPASSWD)');
  return settings.htpasswd;
}

export function registerUser(serve: Command, ctx: CommandContext): void {
  const user = serve.command('user').summary('manage the users of --htpasswd FILE (bcrypt, like htpasswd -B)');
  // Nested sub-commands get the program's error handling and output (main.ts wires two levels).
  user.hook('preSubcommand', (parent, sub) => {
    sub.exitOverride();
    sub.configureOutput(parent.configureOutput());
  });
  user
    .command('add <name>')
    .summary('add a user or change their password')
    .option('--password-stdin', 'read the password from standard input (else it is asked for on the terminal)')
    .option('--htpasswd <file>', 'users file (created if missing)')
    .option('--cost <n>', 'bcrypt cost 4-17 (default 10)')
    .action(async (name: string, flags: { passwordStdin?: boolean; cost?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const env = ctx.streams.env ?? process.env;
      const path = await htpasswdPath(cmd, env);
      const { addUser, validateUsername } = await import('../../../server/security/htpasswd.js');
      validateUsername(name);
      const cost = flags.cost === undefined ? undefined : Number(flags.cost);
      const password = await readPassword(ctx, flags.passwordStdin === true);
      const result = await addUser(path, name, password, cost === undefined ? {} : { cost });
      if (out.json) out.printJson({ user: name, result, file: path });
      else out.info(`${result === 'added' ? 'added' : 'changed the password of'} ${name} in ${path}`);
    });
  user
    .command('rm <name>')
    .alias('remove')
    .summary('remove a user')
    .option('--htpasswd <file>', 'users file')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const path = await htpasswdPath(cmd, ctx.streams.env ?? process.env);
      const { removeUser } = await import('../../../server/security/htpasswd.js');
      const removed = await removeUser(path, name);
      if (!removed) {
        const { NotFoundError } = await import('../../../errors.js');
        throw new NotFoundError(`no user ${name} in ${path}`);
      }
      if (out.json) out.printJson({ user: name, result: 'removed', file: path });
      else out.info(`removed ${name} from ${path}`);
    });
  user
    .command('list')
    .alias('ls')
    .summary('list the users (names only)')
    .option('--htpasswd <file>', 'users file')
    .action(async (_flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const path = await htpasswdPath(cmd, ctx.streams.env ?? process.env);
      const { listUsers } = await import('../../../server/security/htpasswd.js');
      const users = await listUsers(path);
      if (out.json) {
        out.printJson(users);
        return;
      }
      for (const u of users) out.line(u.supported ? u.username : `${u.username}\t(not bcrypt: refused by the server; set a new password)`);
    });
}
