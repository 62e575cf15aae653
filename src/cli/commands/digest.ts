import type { Command } from 'commander';
import { NotFoundError } from '../../errors.js';
import type { ManifestHead } from '../../content/types.js';
import type { CommandContext } from '../context.js';
import { selectPlatform } from './manifest.js';
import { openReadSource } from './source.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('digest')
    .summary('print the digest of an image (HEAD request), for pinning')
    .description(
      `Print the manifest digest of a reference, from a HEAD request (no body is downloaded). With --platform, the digest of that platform's image inside an index.`,
    )
    .argument('<ref>', 'image reference, e.g. localhost:5000/app:1.0, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]')
    .option('--platform <os/arch[/variant]>', "from an index, that platform's image digest")
    .addHelpText(
      'after',
      `
Examples:
  regctl digest localhost:5000/app:1.0
  IMAGE=localhost:5000/app@$(regctl digest localhost:5000/app:1.0)
  regctl digest localhost:5000/app:1.0 --platform linux/amd64 --json
  regctl digest oci:./layout:1.0`,
    )
    .action(async (input: string, flags: { platform?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      if (flags.platform !== undefined) (await import('../../oci/platform.js')).parsePlatform(flags.platform);
      const opened = await openReadSource(ctx, out, input);
      let head: ManifestHead | undefined;
      try {
        const repo = opened.source;
        head = await repo.headManifest(opened.ref);
        if (!head) throw new NotFoundError(`manifest ${opened.reference} not found`, 'MANIFEST_UNKNOWN');
        if (flags.platform !== undefined) {
          // An image is checked too: its config must name the platform asked for.
          const child = await selectPlatform(repo, opened.ref, await repo.getManifest(head.digest), flags.platform);
          head = { digest: child.digest, mediaType: child.mediaType, size: child.bytes.length };
        }
      } finally {
        await opened.close();
      }
      if (out.json) out.printJson({ reference: opened.reference, digest: head.digest, mediaType: head.mediaType, size: head.size });
      else out.line(head.digest);
    });
}
