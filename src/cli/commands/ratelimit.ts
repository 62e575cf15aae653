import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('ratelimit')
    .summary("show the pulls left at a registry that limits them (Docker Hub's RateLimit headers)")
    .description(
      `Ask the registry of IMAGE how many pulls are left, with one HEAD request of its manifest (Docker
Hub does not count a HEAD as a pull). Prints the limit, what is left and the window; a registry
that reports no limit says so. Uses your stored credentials: Docker Hub counts per account when
logged in, else per IP address.`,
    )
    .argument('<image>', 'an image on the registry, e.g. docker.io/library/alpine:latest')
    .addHelpText(
      'after',
      `
Examples:
  regctl ratelimit docker.io/library/alpine
  regctl ratelimit --json docker.io/ratelimitpreview/test`,
    )
    .action(async (image: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, manifestRef } = await import('../../ref/reference.js');
      const ref = parseReference(image);
      const { checkRateLimit } = await import('../../sync/index.js');
      const { observedRepository } = await import('../../wiring/sync-opener.js');
      const { registryOptions } = await import('../transfer.js');
      const registry = registryOptions(ctx, out);
      const reference = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
      const r = await checkRateLimit({
        registry: ref.registry,
        reference,
        ref: manifestRef(ref),
        open: (onResponse) => observedRepository({ registry, onResponse }, ref.registry, ref.repository),
      });
      if (out.json) return out.printJson(r);
      const l = r.rateLimit;
      if (!l) return out.line(`${r.registry}: no rate limit reported`);
      const left = l.remaining === undefined ? 'unknown' : String(l.remaining);
      const window = l.windowSeconds === undefined ? '' : ` per ${formatWindow(l.windowSeconds)}`;
      out.line(`${r.registry}: ${left}${l.limit === undefined ? '' : ` of ${l.limit}`} pulls left${window}${l.source ? ` (counted for ${l.source})` : ''}`);
    });
}

function formatWindow(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
