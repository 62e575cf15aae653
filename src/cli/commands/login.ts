import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { AuthError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('login')
    .summary('check credentials against a registry and store them for regctl')
    .description(
      `Log in to a registry: the username and password (from standard input, never the command line) are checked against the registry first and only then stored in regctl's own credential store (a file only you can read). Docker's config.json is read for credentials but never written.`,
    )
    .argument('<host>', 'registry, e.g. registry.example.com or localhost:5000')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password (or token) from standard input')
    .addHelpText(
      'after',
      `
Examples:
  printf '%s' "$REGISTRY_PASSWORD" |
      regctl login registry.example.com -u ci --password-stdin
  regctl login localhost:5000 -u admin --password-stdin < ~/.secrets/registry`,
    )
    .action(async (host: string, flags: { username: string; passwordStdin?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      // What people paste: https://host:5000/ or host:5000 (a scheme chooses HTTP or HTTPS).
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const registry = parseRegistryArg(host);
      if (!flags.passwordStdin || !ctx.streams.stdin) {
        throw new UsageError('pass the password on standard input with --password-stdin (it never goes on the command line)');
      }
      if (ctx.streams.stdin.isTTY) throw new UsageError('--password-stdin: standard input is a terminal; pipe the password in');
      const password = (await text(ctx.streams.stdin)).replace(/\r?\n$/, '');
      if (password === '') throw new UsageError('--password-stdin: no password on standard input');
      if (flags.username === '') throw new UsageError('--username is empty');

      const { createRegistryClient } = await import('../../wiring/registry-client.js');
      const client = createRegistryClient({
        env: ctx.streams.env,
        ...(out.verbose ? { verbose: (l: string) => out.debug(l) } : {}),
        override: { registry, credential: { username: flags.username, password } },
      });
      try {
        await client.ping(registry);
      } catch (e) {
        if (e instanceof AuthError || (e as { exitCode?: number }).exitCode === 4) {
          throw new AuthError(`login to ${registry} failed: the registry rejected the username or password`, 'LOGIN_FAILED');
        }
        throw e;
      }
      const { ConfigStore } = await import('../../config/store.js');
      const store = new ConfigStore(ctx.streams.env);
      await store.setCredential(registry, { username: flags.username, password });
      const verified = client.transport.auth.scheme(registry) !== undefined;
      if (!verified) out.warn(`${registry} did not ask for credentials; stored them anyway`);
      if (out.json) out.printJson({ registry, username: flags.username, verified, store: store.path });
      else out.info(`Login succeeded: ${registry} (stored in ${store.path})`);
    });

  program
    .command('logout')
    .summary("remove a registry's credentials from regctl's store")
    .description(`Forget the credentials regctl stored for a registry. Docker's config.json is left alone.`)
    .argument('<host>', 'registry, e.g. localhost:5000')
    .addHelpText(
      'after',
      `
Examples:
  regctl logout registry.example.com`,
    )
    .action(async (host: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      // What people paste: https://host:5000/ or host:5000 (a scheme chooses HTTP or HTTPS).
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const registry = parseRegistryArg(host);
      const { ConfigStore } = await import('../../config/store.js');
      const removed = await new ConfigStore(ctx.streams.env).deleteCredential(registry);
      const { readDockerConfig, dockerCredential } = await import('../../config/docker.js');
      const docker = readDockerConfig(ctx.streams.env ?? process.env);
      const inDocker = docker?.auths !== undefined && (await dockerCredential(registry, { auths: docker.auths }, ctx.streams.env)) !== undefined;
      if (inDocker) out.warn(`Docker's config.json still holds credentials for ${registry} (regctl never edits it)`);
      if (out.json) out.printJson({ registry, removed });
      else out.info(removed ? `Removed credentials for ${registry}` : `Not logged in to ${registry}`);
    });
}
