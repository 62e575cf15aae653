import { RegctlError, UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';
import { plural } from '../../format.js';
import type { Output } from '../../output.js';
import { clientOptions, type RetagFlags } from './flags.js';

/** `retag --semver`: one release, and `--rebuild`: every floating tag of a repository. */

export async function runSemver(ctx: CommandContext, out: Output, input: string, tags: string[], flags: RetagFlags): Promise<void> {
  if (tags.length > 0) throw new UsageError('--semver takes one reference and derives the tags itself; drop the extra tags');
  const { parseReference, formatReference, manifestRef } = await import('../../../ref/reference.js');
  const ref = parseReference(input);
  const { parseReleaseVersion, shortDigest } = await import('../../../retag/plan.js');
  if (flags.version !== undefined) parseReleaseVersion(flags.version);
  else if (ref.digest !== undefined && ref.tag === undefined) throw new UsageError(`${input} names a digest, not a version: pass --version X.Y.Z`);
  // Validate before any request: the version comes from the tag unless --version is given.
  else parseReleaseVersion(ref.tag ?? '');

  const { repositoryOpener } = await import('../../../wiring/registry-client.js');
  const { retagSemver } = await import('../../../retag/semver-retag.js');
  const open = repositoryOpener(clientOptions(ctx, out));
  const repository = open(ref.registry, ref.repository);
  const result = await retagSemver({
    repository,
    ref: manifestRef(ref),
    // REF may carry both a version tag and a digest: the digest picks the image, the tag names the version.
    version: flags.version ?? ref.tag,
    force: flags.force,
    noLatest: flags.latest === false,
    prereleaseTags: flags.prereleaseTags,
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

export async function runRebuild(ctx: CommandContext, out: Output, input: string, tags: string[], flags: RetagFlags): Promise<void> {
  if (tags.length > 0) throw new UsageError('--rebuild takes one repository; drop the extra arguments');
  if (flags.version !== undefined || flags.force) throw new UsageError('--version and --force do not go with --rebuild');
  const { parseReference, formatReference } = await import('../../../ref/reference.js');
  const ref = parseReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) throw new UsageError(`--rebuild takes a repository, not an image: drop the tag or digest from ${input}`);
  const { repositoryOpener } = await import('../../../wiring/registry-client.js');
  const { rebuildFloating } = await import('../../../retag/rebuild.js');
  const { shortDigest } = await import('../../../retag/plan.js');
  const repository = repositoryOpener(clientOptions(ctx, out))(ref.registry, ref.repository);
  const result = await rebuildFloating(repository, { noLatest: flags.latest === false, prereleaseTags: flags.prereleaseTags, dryRun: flags.dryRun });
  if (out.json) {
    out.printJson({
      repository: formatReference(ref),
      dryRun: result.dryRun,
      entries: result.entries.map((e) => ({ ...e, applied: result.applied.includes(e.tag) })),
    });
    return;
  }
  await out.table(
    ['TAG', 'RELEASE', 'DIGEST (OLD -> NEW)', 'ACTION', 'REASON'],
    result.entries.map((e) => [
      e.tag,
      e.release ?? '-',
      e.action === 'unchanged' || e.action === 'skipped' ? shortDigest(e.oldDigest ?? e.newDigest) : `${shortDigest(e.oldDigest)} -> ${shortDigest(e.newDigest)}`,
      e.action,
      e.reason ?? '',
    ]),
  );
  const n = result.applied.length;
  out.info(result.dryRun ? 'dry run: nothing changed' : n === 0 ? 'nothing to change' : `${plural(n, 'tag')} written`);
}
