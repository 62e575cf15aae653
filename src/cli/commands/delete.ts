import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { RegctlError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Streams } from '../output.js';
import { clientOptions } from './retag.js';

/**
 * Ask a yes/no question on stderr and read the answer from stdin. Anything but y/yes is no,
 * and so is end of input.
 */
export async function confirm(streams: Streams, question: string): Promise<boolean> {
  const stdin = streams.stdin;
  if (!stdin) return false;
  streams.stderr.write(`${question} [y/N] `);
  const rl = createInterface({ input: stdin, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('delete')
    .summary('delete an image manifest (and with it every tag on its digest)')
    .description(
      `Delete a manifest from a registry. A tag is resolved to its digest first, and the manifest is
deleted by digest: every tag pointing at that digest goes with it (use "regctl tag rm" to remove
one tag only). On a terminal regctl asks first; --yes skips the question. When stdin is not a
terminal regctl cannot ask, so it refuses unless --yes is given.`,
    )
    .argument('<ref>', 'image by tag or digest, e.g. localhost:5000/app:1.9.2')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExamples:\n  regctl delete localhost:5000/app:1.9.2\n  regctl delete --yes localhost:5000/app@sha256:...')
    .action(async (input: string, flags: { yes?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
      const ref = parseReference(input);
      const interactive = Boolean(ctx.streams.stdin?.isTTY);
      // Decided before any request: a script without --yes must not half-run.
      if (!flags.yes && !interactive) {
        throw new UsageError(`refusing to delete ${formatReference(ref)} without --yes: stdin is not a terminal, so regctl cannot ask for confirmation`);
      }
      const { repositoryOpener } = await import('../../retag/open.js');
      const { resolveManifest, tagsPointingAt, deleteManifest } = await import('../../retag/delete.js');
      const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
      const resolved = await resolveManifest(repository, manifestRef(ref));
      const target = formatReference({ registry: ref.registry, repository: ref.repository, digest: resolved.digest });

      if (!flags.yes) {
        const on = await tagsPointingAt(repository, resolved.digest);
        const list = on.tags.length > 0 ? `${on.tags.join(', ')}${on.complete ? '' : ' (and possibly more: not every tag was checked)'}` : 'no tags';
        out.warn(`deleting ${target} removes every tag on that digest: ${list}`);
        if (!(await confirm(ctx.streams, 'Delete?'))) throw new RegctlError('ABORTED', 'not deleted: not confirmed');
      } else {
        out.warn(`deleting ${target}: every tag on that digest goes with it`);
      }
      await deleteManifest(repository, resolved.digest);
      if (out.json) out.printJson({ deleted: target, digest: resolved.digest, mediaType: resolved.mediaType });
      else out.line(`deleted ${target}`);
    });

  const tag = program.command('tag').summary('manage tags (tag rm)').description('Manage single tags.');
  tag
    .command('rm')
    .description(
      `Remove one tag, leaving the manifest and its other tags alone (DELETE by tag). Registries may
refuse this (the OCI spec makes it optional); the error then names the registry's answer.`,
    )
    .argument('<ref>', 'image by tag, e.g. localhost:5000/app:stable')
    .action(async (input: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference } = await import('../../ref/reference.js');
      const ref = parseReference(input, { defaultTag: false });
      if (ref.digest !== undefined || ref.tag === undefined) {
        throw new UsageError(`tag rm needs REPOSITORY:TAG, got "${input}" (to delete by digest use regctl delete)`);
      }
      const { repositoryOpener } = await import('../../retag/open.js');
      const { deleteTag } = await import('../../retag/delete.js');
      const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
      const { digest } = await deleteTag(repository, ref.tag);
      if (out.json) out.printJson({ removed: formatReference(ref), digest });
      else out.line(`removed ${formatReference(ref)} (was ${digest})`);
    });
}
