import type { Command } from 'commander';
import { NotFoundError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { openClient } from './catalog.js';
import { selectPlatform } from './manifest.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('digest')
    .summary('print the digest of an image (HEAD request), for pinning')
    .description(
      `Print the manifest digest of a reference, from a HEAD request (no body is downloaded). With --platform, the digest of that platform's image inside an index.`,
    )
    .argument('<ref>', 'image reference, e.g. localhost:5000/app:1.0')
    .option('--platform <os/arch[/variant]>', "from an index, that platform's image digest")
    .addHelpText(
      'after',
      `
Examples:
  regctl digest localhost:5000/app:1.0
  IMAGE=localhost:5000/app@$(regctl digest localhost:5000/app:1.0)
  regctl digest localhost:5000/app:1.0 --platform linux/amd64 --json`,
    )
    .action(async (input: string, flags: { platform?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
      const ref = parseReference(input);
      if (flags.platform !== undefined) (await import('../../oci/platform.js')).parsePlatform(flags.platform);
      const client = await openClient(ctx, out);
      const repo = client.repository(ref.registry, ref.repository);
      const r = manifestRef(ref);
      let head = await repo.headManifest(r);
      if (!head) throw new NotFoundError(`manifest ${formatReference(ref)} not found`, 'MANIFEST_UNKNOWN');
      if (flags.platform !== undefined) {
        const { isIndexMediaType } = await import('../../oci/mediatypes.js');
        if (isIndexMediaType(head.mediaType)) {
          const child = await selectPlatform(repo, await repo.getManifest(head.digest), flags.platform);
          head = { digest: child.digest, mediaType: child.mediaType, size: child.bytes.length };
        }
      }
      if (out.json) out.printJson({ reference: formatReference(ref), digest: head.digest, mediaType: head.mediaType, size: head.size });
      else out.line(head.digest);
    });
}
