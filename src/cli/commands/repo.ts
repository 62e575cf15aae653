import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { plural } from '../format.js';
import { confirm } from './delete.js';
import { clientOptions } from './retag/flags.js';

export function register(program: Command, ctx: CommandContext): void {
  const repo = program
    .command('repo')
    .summary('manage repositories (repo rm)')
    .description('Manage whole repositories.')
    .addHelpText('after', '\nExamples:\n  regctl repo rm localhost:5000/old-app');
  repo
    .command('rm')
    .summary('delete a repository: every manifest, and on regctl serve the repository itself')
    .description(
      `Delete every manifest of a repository (by digest, with every tag). On regctl serve (which
advertises repo-delete) the repository itself is removed: it leaves the catalog, and its data goes
at the next gc. On a terminal regctl asks first; --yes skips the question (scripts need it).`,
    )
    .argument('<repository>', 'HOST/REPO, e.g. localhost:5000/app')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExamples:\n  regctl repo rm localhost:5000/old-app\n  regctl repo rm --yes localhost:5000/old-app')
    .action(async (input: string, flags: { yes?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference } = await import('../../ref/reference.js');
      const ref = parseReference(input, { defaultTag: false });
      if (ref.tag !== undefined || ref.digest !== undefined) throw new UsageError(`repo rm takes a repository, not an image: drop the tag or digest from ${input}`);
      const name = formatReference(ref);
      const { repositoryOpener } = await import('../../wiring/registry-client.js');
      const { planRepoRemoval, removeRepository } = await import('../../retag/repo-remove.js');
      const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
      const plan = await planRepoRemoval(repository);
      const what = `${name} (${plural(plan.tags.length, 'tag')}, ${plural(plan.digests.length, 'tagged manifest')})`;
      if (!flags.yes) {
        if (!ctx.streams.stdin?.isTTY) throw new UsageError(`refusing to delete ${what} without --yes: stdin is not a terminal, so regctl cannot ask`);
        if (!(await confirm(ctx.streams, `Delete ${what}?`))) {
          ctx.streams.stderr.write('nothing deleted\n');
          ctx.setExitCode(ExitCode.error);
          return;
        }
      }
      await removeRepository(repository, plan);
      if (out.json) out.printJson({ deleted: name, tags: plan.tags, manifests: plan.digests, repositoryRemoved: plan.repoDelete });
      else out.line(`deleted ${what}${plan.repoDelete ? '; the repository is gone' : ''}`);
    });
}
