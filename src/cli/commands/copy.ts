import type { Command } from 'commander';
import { Option } from 'commander';
import type { CommandContext } from '../context.js';
import type { CopyFlags, CopySettings } from '../copy-flags.js';
import type { Output } from '../output.js';
import type { TransferRun } from '../transfer.js';

export { parseSize, MIN_CHUNK, MAX_CHUNK } from '../copy-flags.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('copy')
    .alias('cp')
    .summary('copy an image, an index with all its platforms, or a whole repository')
    .description(
      `Copy SRC to DST between registries (or OCI layouts and archives: oci:DIR, oci-archive:FILE,
docker-archive:FILE). Manifests are copied byte for byte, so digests are preserved; every blob is
checked against its digest while it streams and the copy stops, with nothing tagged, on a mismatch
(exit code 5). Blobs the destination has are skipped; on the same registry they are mounted.
DST's tag defaults to SRC's; --tag adds more.`,
    )
    .argument('<src>', 'source, e.g. registry.example.com/app:1.0 or oci:./layout:1.0')
    .argument('<dst>', 'destination, e.g. localhost:5000/app (tag defaults to the source tag)')
    .option('-j, --jobs <n>', 'blob transfers at once', '4')
    .option('--tag <tag>', 'also tag the copy as TAG (repeatable)', collect)
    .option('--platform <os/arch[/variant]>', 'copy just this platform out of an index')
    .option('-a, --all-tags', 'copy every tag of the source repository')
    .option('--include <regex>', 'with --all-tags: only tags matching REGEX')
    .option('--exclude <regex>', 'with --all-tags: skip tags matching REGEX')
    .option('--skip-existing <regex>', 'with --all-tags: tags matching REGEX are immutable; present at DST means done')
    .option('--referrers', 'also copy artifacts referring to the copied manifests (signatures, SBOMs)')
    .option('--dry-run', 'list what would be transferred; change nothing')
    .option('--chunk-size <size>', 'upload blobs in chunks of SIZE, 1MiB to 512MiB (e.g. 16MiB), for registries with body limits')
    .option('--no-compress', 'docker-archive source: push its uncompressed layers as they are (default: gzip while streaming)')
    .addOption(new Option('--progress <mode>', 'progress display on stderr').choices(['auto', 'tty', 'plain', 'none']).default('auto'))
    .addHelpText(
      'after',
      `
Examples:
  regctl copy docker.io/library/alpine:3.20 localhost:5000/alpine
  regctl copy localhost:5000/app:1.0 registry.example.com/app \\
      --tag 1.0 --tag latest
  regctl copy --platform linux/arm64 localhost:5000/app:1.0 \\
      localhost:5000/app-arm64:1.0
  regctl copy --all-tags --skip-existing '^v[0-9]' localhost:5000/app \\
      mirror.example.com/app
  regctl copy --json localhost:5000/app:1.0 oci-archive:app.tar
  docker save app:1.0 | regctl copy docker-archive:- localhost:5000/app:1.0
  regctl copy localhost:5000/app:1.0 docker-archive:app.tar
      (the archive's RepoTags: localhost:5000/app:1.0)`,
    )
    .action(async (src: string, dst: string, flags: CopyFlags, cmd: Command) => {
      const run: TransferRun = {
        verb: 'copy',
        progress: flags.progress,
        readsStdin: /^(docker|oci)-archive:-(:|$)/.test(src),
        interrupted: 'copy interrupted: nothing was tagged after the interruption',
      };
      const { interruptibly } = await import('../transfer.js');
      await interruptibly(ctx, run, (signal) => runCopy(ctx, ctx.output(cmd), src, dst, flags, run, signal));
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

type Location = import('../../content/location.js').Location;

/** SRC and DST as locations (repositories with --all-tags), and what DST's text names by itself. */
async function locations(src: string, dst: string, flags: CopyFlags, s: CopySettings) {
  const { parseLocation, isArchiveLocation } = await import('../../content/location.js');
  const { parseReference, parseRepository } = await import('../../ref/reference.js');
  const { checkCopyFlags } = await import('../../copy/plan.js');
  const srcLoc: Location = parseLocation(src);
  const dstLoc: Location = parseLocation(dst);
  const filters = Boolean(s.include || s.exclude || s.skipExisting);
  checkCopyFlags({ src: srcLoc, dst: dstLoc, allTags: Boolean(flags.allTags), tags: Boolean(flags.tag), platform: Boolean(s.platform), filters });
  if (flags.allTags) {
    // Repositories: no tag or digest allowed; `latest` is only a placeholder for opening them.
    const repo = (text: string): Location => ({ kind: 'registry', ref: { ...parseRepository(text), tag: 'latest' } });
    return { srcLoc: repo(src), dstLoc: repo(dst), dstRef: undefined };
  }
  // What DST itself says (parseLocation fills in `latest`, which must not override SRC's tag).
  return { srcLoc, dstLoc, dstRef: isArchiveLocation(dst) ? undefined : parseReference(dst, { defaultTag: false }) };
}

async function runCopy(ctx: CommandContext, out: Output, src: string, dst: string, flags: CopyFlags, run: TransferRun, signal: AbortSignal): Promise<void> {
  const s = await (await import('../copy-flags.js')).parseCopyFlags(flags);
  const { srcLoc, dstLoc, dstRef } = await locations(src, dst, flags, s);
  const plan = await import('../../copy/plan.js');
  plan.refuseTarToTerminal(dstLoc, ctx.streams.stdout);
  const { openSource, openTarget } = await import('../../wiring/open-location.js');
  const { withOpened, withProgress, registryOptions } = await import('../transfer.js');
  const registry = { ...registryOptions(ctx, out), client: { ...(s.chunkSize ? { chunkSize: s.chunkSize } : {}) } };
  // Standard input is opened only for `docker-archive:-` / `oci-archive:-` (creating it costs start-up time).
  const stdin = srcLoc.kind !== 'registry' && srcLoc.path === '-' ? { stdin: ctx.streams.stdin as NodeJS.ReadableStream | undefined } : {};
  // A docker-archive destination stores layers uncompressed: gzipping them on the way would be undone.
  const compress = flags.compress && dstLoc.kind !== 'docker-archive';
  const copy = await import('../../copy/index.js');
  const { printCopyReport } = await import('../copy-report.js');
  await withOpened(
    () => openSource(srcLoc, { registry, ...stdin, compress }),
    (source) => {
      const defaultName = plan.defaultArchiveName(srcLoc, source.source);
      return openTarget(dstLoc, { registry, stdout: ctx.streams.stdout, ...(s.platform ? { platform: s.platform } : {}), ...(defaultName ? { defaultName } : {}) });
    },
    async (source, target) => {
      const common = { source: source.source, target: target.target, jobs: s.jobs, platform: s.platform, referrers: flags.referrers, dryRun: flags.dryRun, mountFrom: plan.mountSource(srcLoc, dstLoc), signal };
      if (flags.allTags) {
        printCopyReport(out, await withProgress(ctx, out, run, signal, (onEvent) => copy.copyAllTags({ ...common, include: s.include, exclude: s.exclude, skipExisting: s.skipExisting, onEvent })));
        return;
      }
      const tags = plan.copyTags({ src: srcLoc, sourceRef: source.ref, dstRef, targetRef: target.ref, extra: flags.tag });
      if (dstRef?.digest && !s.platform) {
        // Refuse before writing anything: a digest destination must be what the source holds.
        const head = await source.source.headManifest(source.ref);
        if (head) plan.checkDigestDestination(dst, dstRef.digest, head.digest);
      }
      const report = await withProgress(ctx, out, run, signal, (onEvent) => copy.copyImage({ ...common, ref: source.ref, tags, onEvent }));
      if (dstRef?.digest) plan.checkDigestDestination(dst, dstRef.digest, report.digest);
      // Printed before the target closes, as ever (an archive on stdout is finished by close).
      printCopyReport(out, report);
    },
  );
}
