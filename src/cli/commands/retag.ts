import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import { clientOptions, type RetagFlags } from './retag/flags.js';
import { plural } from '../format.js';

export { clientOptions };

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('retag')
    .summary('put an image under more tags, or keep the 1 / 1.9 / 1.9.2 / latest scheme (--semver)')
    .description(
      `Put an image under more tags without moving a single layer: the manifest is read once and
PUT under each new tag. A destination in another repository of the same registry gets the blobs
by cross-repository mount first; another registry is a job for "regctl copy".

With --semver, REF's tag (or --version) is a release X.Y.Z: regctl creates the exact tag and
moves X.Y, X and latest to it only when no newer release of that line exists in the repository.
Pre-releases move no floating tag; a released version never moves without --force. A leading v
is kept (v1.9.2 -> v1.9, v1); X.Y and X compare within their own family (v or not), latest
compares against every release.`,
    )
    .argument('<ref>', 'source image, e.g. localhost:5000/app:1.9.2')
    .argument('[tags...]', 'new tags: TAG, OTHER-REPO:TAG, or REGISTRY/REPO:TAG on the same registry')
    .option('--semver', 'maintain X.Y.Z, X.Y, X and latest for the version in REF (or --version)')
    .option('--version <version>', 'with --semver: the version to release REF as (when its tag is not one)')
    .option('--force', 'with --semver: move the exact version tag even if it points at another digest')
    .option('--no-latest', 'with --semver: leave latest alone')
    .option('--prerelease-tags', 'with --semver: also keep X.Y-ID for pre-releases (2.1.0-rc.2 -> 2.1-rc)')
    .option('--rebuild', 'with --semver: REF is a repository; recompute every floating tag from the releases present')
    .option('--dry-run', 'print the plan, change nothing')
    .addHelpText(
      'after',
      `
Examples:
  regctl retag localhost:5000/app:1.9.2 stable prod
  regctl retag localhost:5000/app:1.9.2 app-archive:1.9.2
  regctl retag --semver localhost:5000/app:1.9.2
  regctl retag --semver localhost:5000/app:sha-3f2a1c --version 1.9.2 --dry-run
  regctl retag --semver --rebuild localhost:5000/app`,
    )
    .action(async (ref: string, tags: string[], flags: RetagFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      const { runSemver, runRebuild } = await import('./retag/semver.js');
      if (flags.semver && flags.rebuild) await runRebuild(ctx, out, ref, tags, flags);
      else if (flags.semver) await runSemver(ctx, out, ref, tags, flags);
      else await runPlain(ctx, out, ref, tags, flags);
    });
}

async function runPlain(ctx: CommandContext, out: Output, input: string, tags: string[], flags: RetagFlags): Promise<void> {
  if (flags.version !== undefined || flags.force || flags.latest === false) {
    throw new UsageError('--version, --force and --no-latest go with --semver');
  }
  if (flags.rebuild || flags.prereleaseTags) {
    throw new UsageError('--rebuild and --prerelease-tags go with --semver');
  }
  if (tags.length === 0) throw new UsageError('name at least one new tag (or use --semver)');
  const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
  const { parseRetagTarget } = await import('../../retag/targets.js');
  const source = parseReference(input);
  // Every destination is checked before the first request.
  const dests = tags.map((t) => parseRetagTarget(source, t));

  const { repositoryOpener } = await import('../../wiring/registry-client.js');
  const { retag } = await import('../../retag/retag.js');
  const { shortDigest } = await import('../../retag/plan.js');
  const open = repositoryOpener(clientOptions(ctx, out));
  const result = await retag({
    source: open(source.registry, source.repository),
    sourceName: source.repository,
    ref: manifestRef(source),
    targets: dests.map((d) => ({ repository: open(d.registry, d.repository), name: d.repository, tag: d.tag! })),
    dryRun: flags.dryRun,
  });

  const rows = result.targets.map((t, i) => ({ ...t, reference: formatReference(dests[i]!) }));
  if (out.json) {
    out.printJson({
      source: formatReference(source),
      digest: result.digest,
      mediaType: result.mediaType,
      dryRun: Boolean(flags.dryRun),
      targets: rows.map(({ reference, tag, oldDigest, newDigest, action }) => ({ reference, tag, oldDigest, newDigest, action })),
      mounts: result.mounts,
    });
    return;
  }
  await out.table(
    ['TAG', 'DIGEST (OLD -> NEW)', 'ACTION'],
    rows.map((r) => [r.reference, r.action === 'unchanged' ? shortDigest(r.newDigest) : `${shortDigest(r.oldDigest)} -> ${shortDigest(r.newDigest)}`, r.action]),
  );
  const m = result.mounts;
  if (m.blobsMounted + m.blobsPresent + m.manifestsCopied > 0) {
    out.info(`mounted ${plural(m.blobsMounted, 'blob')} (${m.blobsPresent} already present), copied ${plural(m.manifestsCopied, 'child manifest')}`);
  }
  if (flags.dryRun) out.info('dry run: nothing changed');
}
