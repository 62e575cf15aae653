import type { Command } from 'commander';
import { RegctlError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import { plural } from '../format.js';

/** Registry client settings from the command line: --verbose request log, the caller's environment. */
export function clientOptions(ctx: CommandContext, out: Output): { env?: NodeJS.ProcessEnv; verbose?: (line: string) => void } {
  return { env: ctx.streams.env, ...(out.verbose ? { verbose: (line: string) => out.debug(line) } : {}) };
}

interface RetagFlags {
  semver?: boolean;
  version?: string;
  force?: boolean;
  latest?: boolean;
  dryRun?: boolean;
}

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
    .option('--dry-run', 'print the plan, change nothing')
    .addHelpText(
      'after',
      `
Examples:
  regctl retag localhost:5000/app:1.9.2 stable prod
  regctl retag localhost:5000/app:1.9.2 app-archive:1.9.2
  regctl retag --semver localhost:5000/app:1.9.2
  regctl retag --semver localhost:5000/app:sha-3f2a1c --version 1.9.2 --dry-run`,
    )
    .action(async (ref: string, tags: string[], flags: RetagFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      if (flags.semver) await runSemver(ctx, out, ref, tags, flags);
      else await runPlain(ctx, out, ref, tags, flags);
    });
}

async function runSemver(ctx: CommandContext, out: Output, input: string, tags: string[], flags: RetagFlags): Promise<void> {
  if (tags.length > 0) throw new UsageError('--semver takes one reference and derives the tags itself; drop the extra tags');
  const { parseReference, formatReference, manifestRef } = await import('../../ref/reference.js');
  const ref = parseReference(input);
  const { parseReleaseVersion, shortDigest } = await import('../../retag/plan.js');
  if (flags.version !== undefined) parseReleaseVersion(flags.version);
  else if (ref.digest !== undefined && ref.tag === undefined) throw new UsageError(`${input} names a digest, not a version: pass --version X.Y.Z`);
  // Validate before any request: the version comes from the tag unless --version is given.
  else parseReleaseVersion(ref.tag ?? '');

  const { repositoryOpener } = await import('../../wiring/registry-client.js');
  const { retagSemver } = await import('../../retag/semver-retag.js');
  const open = repositoryOpener(clientOptions(ctx, out));
  const repository = open(ref.registry, ref.repository);
  const result = await retagSemver({
    repository,
    ref: manifestRef(ref),
    // REF may carry both a version tag and a digest: the digest picks the image, the tag names the version.
    version: flags.version ?? ref.tag,
    force: flags.force,
    noLatest: flags.latest === false,
    dryRun: flags.dryRun,
  });
  const { plan } = result;
  const repo = formatReference({ registry: ref.registry, repository: ref.repository });

  if (out.json) {
    out.printJson({
      repository: repo,
      version: plan.version,
      digest: plan.digest,
      dryRun: result.dryRun,
      ...(plan.refused ? { refused: plan.refused } : {}),
      entries: plan.entries.map((e) => ({ ...e, applied: result.applied.includes(e) })),
    });
  } else {
    const c = await out.colors();
    const paint = (a: string): string => (a === 'create' || a === 'move' ? c.green(a) : a === 'skipped' ? c.yellow(a) : c.dim(a));
    const digestCell = (old: string | undefined, next: string, action: string): string =>
      action === 'unchanged' ? shortDigest(next) : `${shortDigest(old)} -> ${shortDigest(next)}`;
    out.info(`${repo}: ${plan.version} is ${plan.digest}`);
    await out.table(
      ['TAG', 'DIGEST (OLD -> NEW)', 'ACTION', 'REASON'],
      plan.entries.map((e) => [e.tag, digestCell(e.oldDigest, e.newDigest, e.action), paint(e.action), e.reason ?? '']),
    );
    if (!plan.refused) {
      const n = result.applied.length;
      out.info(result.dryRun ? 'dry run: nothing changed' : n === 0 ? 'nothing to change' : `${plural(n, 'tag')} written`);
    }
  }
  if (plan.refused) throw new RegctlError('RETAG_REFUSED', plan.refused);
}

async function runPlain(ctx: CommandContext, out: Output, input: string, tags: string[], flags: RetagFlags): Promise<void> {
  if (flags.version !== undefined || flags.force || flags.latest === false) {
    throw new UsageError('--version, --force and --no-latest go with --semver');
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
