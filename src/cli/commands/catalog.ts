import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';

/** The registry client for a command: --verbose request log, the caller's environment. */
export async function openClient(ctx: CommandContext, out: Output) {
  const { createRegistryClient } = await import('../../wiring/registry-client.js');
  return createRegistryClient({ env: ctx.streams.env, ...(out.verbose ? { verbose: (l: string) => out.debug(l) } : {}) });
}

export function positiveInt(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
    return Number(v);
  };
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('catalog')
    .summary('list the repositories of a registry')
    .description('List every repository of a registry (GET /v2/_catalog), following pagination.')
    .argument('<host>', 'registry, e.g. localhost:5000')
    .option('--limit <n>', 'stop after N repositories', positiveInt('--limit'))
    .option('--last <name>', 'start after this repository name')
    .option('--page-size <n>', 'repositories asked for per request (default 1000)', positiveInt('--page-size'))
    .addHelpText(
      'after',
      `
Examples:
  regctl catalog localhost:5000
  regctl catalog localhost:5000 --limit 10 --last team/app
  regctl catalog localhost:5000 --json | jq -r '.repositories[]'`,
    )
    .action(async (host: string, flags: { limit?: number; last?: string; pageSize?: number }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const registry = parseRegistryArg(host);
      const client = await openClient(ctx, out);
      const repositories = await client.catalog(registry, { limit: flags.limit, last: flags.last, pageSize: flags.pageSize });
      if (out.json) out.printJson({ registry, repositories });
      else for (const r of repositories) out.line(r);
    });
}
