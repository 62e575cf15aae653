import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { openClient, positiveInt } from './catalog.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('search')
    .summary('find repositories of a registry by name')
    .description(
      'Find repositories whose name contains TERM (case-insensitive; names that start with it first). Uses the registry\'s /v1/search (regctl serve); on registries without it (docker-registry, registry:2) filters /v2/_catalog instead.',
    )
    .argument('<host>', 'registry, e.g. localhost:5000')
    .argument('<term>', 'text the repository name contains')
    .option('--limit <n>', 'at most N results (default 25)', positiveInt('--limit'))
    .addHelpText(
      'after',
      `
Examples:
  regctl search localhost:5000 app
  regctl search localhost:5000 team/ --limit 100 --json | jq -r '.results[]'`,
    )
    .action(async (host: string, term: string, flags: { limit?: number }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const { searchRegistry } = await import('../../search/search.js');
      const registry = parseRegistryArg(host);
      const client = await openClient(ctx, out);
      const found = await searchRegistry({ client, registry, term, ...(flags.limit !== undefined ? { limit: flags.limit } : {}) });
      if (out.json) out.printJson(found);
      else for (const r of found.results) out.line(r);
    });
}
