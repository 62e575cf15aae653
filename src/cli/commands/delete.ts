import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../errors.js';
import { plural } from '../format.js';
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
one tag only), and regctl names them: in the question, in the result line and in --json
("tags"). On a terminal regctl asks first; --yes skips the question. When stdin is not a
terminal regctl cannot ask: without --yes it refuses (exit 2), naming the other tags that would
go. Answering no prints "nothing deleted" and exits 1.`,
    )
    .argument('<ref>', 'image by tag or digest, e.g. localhost:5000/app:1.9.2')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExamples:\n  regctl delete localhost:5000/app:1.9.2\n  regctl delete --yes localhost:5000/app@sha256:...')
    .action(async (input: string, flags: { yes?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
      const ref = parseReference(input);
      const interactive = Boolean(ctx.streams.stdin?.isTTY);
      const { repositoryOpener } = await import('../../wiring/registry-client.js');
      const { resolveManifest, tagsPointingAt, deleteManifest } = await import('../../retag/delete.js');
      const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
      // Only reads before the decision: a script without --yes must not half-run.
      const resolved = await resolveManifest(repository, manifestRef(ref));
      const target = formatReference({ registry: ref.registry, repository: ref.repository, digest: resolved.digest });
      const on = await tagsPointingAt(repository, resolved.digest);
      const tagList = `${on.tags.length > 0 ? on.tags.join(', ') : 'none'}${on.complete ? '' : ' (and possibly more: not every tag was checked)'}`;
      const others = on.tags.filter((t) => t !== ref.tag);
      if (!flags.yes && !interactive) {
        const alsoGo = others.length > 0 || !on.complete ? `; it would also remove ${plural(others.length, 'other tag')}: ${others.join(', ') || 'unknown'}${on.complete ? '' : ' (and possibly more)'}` : '';
        throw new UsageError(`refusing to delete ${target} without --yes: stdin is not a terminal, so regctl cannot ask${alsoGo}`);
      }
      if (!flags.yes) {
        out.warn(`deleting ${target} removes every tag on that digest: ${tagList}`);
        if (!(await confirm(ctx.streams, 'Delete?'))) {
          // A choice, not an error: one line, and a non-zero status scripts can see (README).
          ctx.streams.stderr.write('nothing deleted\n');
          ctx.setExitCode(ExitCode.error);
          return;
        }
      }
      await deleteManifest(repository, resolved.digest);
      if (out.json) out.printJson({ deleted: target, digest: resolved.digest, mediaType: resolved.mediaType, tags: on.tags, tagsComplete: on.complete });
      else out.line(`deleted ${target} (tags removed: ${tagList})`);
    });

  const tag = program.command('tag').summary('manage tags (tag rm)').description('Manage single tags.');
  tag
    .command('rm')
    .summary('remove one tag, leaving the manifest and its other tags')
    .description(
      `Remove one tag, leaving the manifest and its other tags alone. On regctl serve (which
advertises tag-delete) this is a DELETE by tag. Elsewhere (docker-registry deletes by digest only,
which would take every tag on the digest) the tag is pointed at a small placeholder manifest of
its own, which is then deleted by digest. If the registry refuses deletes, the tag is put back
and the error names the registry's answer.`,
    )
    .argument('<ref>', 'image by tag, e.g. localhost:5000/app:stable')
    .action(async (input: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, formatReference } = await import('../../ref/reference.js');
      const ref = parseReference(input, { defaultTag: false });
      if (ref.digest !== undefined || ref.tag === undefined) {
        throw new UsageError(`tag rm needs REPOSITORY:TAG, got "${input}" (to delete by digest use regctl delete)`);
      }
      const { repositoryOpener } = await import('../../wiring/registry-client.js');
      const { deleteTag } = await import('../../retag/delete.js');
      const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
      const { digest } = await deleteTag(repository, ref.tag);
      if (out.json) out.printJson({ removed: formatReference(ref), digest });
      else out.line(`removed ${formatReference(ref)} (was ${digest})`);
    });
}
