import type { Command } from 'commander';
import { Option } from 'commander';
import { InterruptedError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import type { CopyEvent, CopyReport } from '../../copy/types.js';
import { monotonicMs } from '../../copy/clock.js';
import { formatBytes, formatRate, formatSeconds, plural } from '../format.js';

interface CopyFlags {
  jobs: string;
  tag?: string[];
  platform?: string;
  allTags?: boolean;
  include?: string;
  exclude?: string;
  skipExisting?: string;
  referrers?: boolean;
  dryRun?: boolean;
  chunkSize?: string;
  compress: boolean;
  progress: 'auto' | 'tty' | 'plain' | 'none';
}

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
      // Ctrl-C stops the copy wherever it is: while a stdin archive is spooled (stdin is closed,
      // the spool removed) or while blobs move (transfers stop, upload sessions are cancelled,
      // partial archive output is removed). A second Ctrl-C exits at once.
      const { interruptible } = await import('../interrupt.js');
      const interrupt = interruptible(ctx.streams);
      if (/^(docker|oci)-archive:-(:|$)/.test(src)) {
        interrupt.signal.addEventListener('abort', () => (ctx.streams.stdin as { destroy?: () => void } | undefined)?.destroy?.(), { once: true });
      }
      try {
        await runCopy(ctx, ctx.output(cmd), src, dst, flags, interrupt.signal);
      } catch (e) {
        if (interrupt.signal.aborted) throw new InterruptedError('copy interrupted: nothing was tagged after the interruption');
        throw e;
      } finally {
        interrupt.release();
      }
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function regex(flag: string, value: string | undefined): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(value);
  } catch (e) {
    throw new UsageError(`${flag}: invalid regular expression: ${(e as Error).message}`);
  }
}

/**
 * Chunk sizes allowed for --chunk-size. Each chunk is one request (a 300 MiB copy in 1 KiB
 * chunks took 326 s) and is held in memory so it can be re-sent (--jobs of them at once).
 */
export const MIN_CHUNK = 1024 ** 2;
export const MAX_CHUNK = 512 * 1024 ** 2;

/** `16MiB`, `5m`, `1048576`, within MIN_CHUNK..MAX_CHUNK. */
export function parseSize(value: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b?)$/i.exec(value.trim());
  if (!m) throw new UsageError(`--chunk-size: invalid size "${value}" (e.g. 16MiB, 5M, 1048576)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--chunk-size: invalid size "${value}"`);
  if (n < MIN_CHUNK || n > MAX_CHUNK) {
    throw new UsageError(`--chunk-size: ${value} is ${n < MIN_CHUNK ? 'below the minimum' : 'above the maximum'}: use 1MiB to 512MiB (e.g. 16MiB)`);
  }
  return n;
}

async function runCopy(ctx: CommandContext, out: Output, src: string, dst: string, flags: CopyFlags, signal: AbortSignal): Promise<void> {
  const jobs = Number(flags.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected a number from 1 to 64, got "${flags.jobs}"`);
  const chunkSize = flags.chunkSize !== undefined ? parseSize(flags.chunkSize) : undefined;
  const include = regex('--include', flags.include);
  const exclude = regex('--exclude', flags.exclude);
  const skipExisting = regex('--skip-existing', flags.skipExisting);
  if (!flags.allTags && (include || exclude || skipExisting)) throw new UsageError('--include, --exclude and --skip-existing go with --all-tags');
  const { parsePlatform } = await import('../../oci/platform.js');
  const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;

  const { parseLocation, isArchiveLocation } = await import('../../content/location.js');
  const { parseReference, parseRepository } = await import('../../ref/reference.js');
  let srcLoc = parseLocation(src);
  let dstLoc = parseLocation(dst);
  // What DST itself says (parseLocation fills in `latest`, which must not override SRC's tag).
  const dstRef = isArchiveLocation(dst) ? undefined : parseReference(dst, { defaultTag: false });
  if (flags.allTags) {
    if (srcLoc.kind !== 'registry' || dstLoc.kind !== 'registry') throw new UsageError('--all-tags copies between registry repositories');
    if (flags.tag) throw new UsageError('--tag does not go with --all-tags (each tag keeps its name)');
    if (platform) throw new UsageError('--platform does not go with --all-tags');
    // Repositories: no tag or digest allowed; `latest` is only a placeholder for opening them.
    srcLoc = { kind: 'registry', ref: { ...parseRepository(src), tag: 'latest' } };
    dstLoc = { kind: 'registry', ref: { ...parseRepository(dst), tag: 'latest' } };
  }

  (await import('./archive-push.js')).refuseTarToTerminal(dstLoc, ctx.streams.stdout);
  const { openSource, openTarget } = await import('../../wiring/open-location.js');
  const registry = {
    env: ctx.streams.env,
    ...(out.verbose ? { verbose: (line: string) => out.debug(line) } : {}),
    client: { ...(chunkSize ? { chunkSize } : {}) },
  };
  // Standard input is opened only for `docker-archive:-` / `oci-archive:-` (creating it costs start-up time).
  const fromStdin = srcLoc.kind !== 'registry' && srcLoc.path === '-';
  // A docker-archive destination stores layers uncompressed: gzipping them on the way would be undone.
  const compress = flags.compress && dstLoc.kind !== 'docker-archive';
  const source = await openSource(srcLoc, { registry, ...(fromStdin ? { stdin: ctx.streams.stdin as NodeJS.ReadableStream | undefined } : {}), compress });
  let target: Awaited<ReturnType<typeof openTarget>> | undefined;
  try {
    const archive = await import('./archive-push.js');
    const defaultName = archive.defaultArchiveName(srcLoc, source);
    target = await openTarget(dstLoc, { registry, stdout: ctx.streams.stdout, ...(platform ? { platform } : {}), ...(defaultName ? { defaultName } : {}) });
    // Same registry, different repositories: blobs can be mounted instead of uploaded.
    const mountFrom =
      srcLoc.kind === 'registry' && dstLoc.kind === 'registry' && srcLoc.ref.registry === dstLoc.ref.registry && srcLoc.ref.repository !== dstLoc.ref.repository
        ? srcLoc.ref.repository
        : undefined;

    const { CopyProgress, resolveProgressMode } = await import('../progress.js');
    const mode = out.json && flags.progress === 'auto' ? (ctx.streams.stderr.isTTY ? 'tty' : 'none') : flags.progress;
    const env = ctx.streams.env ?? process.env;
    const plainInterval = Number(env.REGCTL_PROGRESS_INTERVAL_MS) || undefined;

    const copy = await import('../../copy/index.js');
    const common = {
      source: source.source,
      target: target.target,
      jobs,
      platform,
      referrers: flags.referrers,
      dryRun: flags.dryRun,
      mountFrom,
    };
    let tags: string[] | undefined;
    if (!flags.allTags) {
      // DST names a tag, else SRC's tag is kept; --tag adds more. A digest DST stores by digest only.
      const dstTag = dstRef ? dstRef.tag : target.ref && !target.ref.includes(':') ? target.ref : undefined;
      const srcTag = srcLoc.kind === 'registry' ? srcLoc.ref.tag : !source.ref.includes(':') ? source.ref : undefined;
      const first = dstTag ?? (dstRef?.digest ? undefined : srcTag);
      tags = [...new Set([...(first ? [first] : []), ...(flags.tag ?? [])])];
    }
    // A docker-archive image streams into the target (layers gzipped on the way), the same path
    // as `regctl import`; a dry run, a digest destination or --platform (checked against the
    // image's config) needs the digests first (engine path).
    const streaming = archive.isDockerArchive(source) && !flags.dryRun && !flags.allTags && !dstRef?.digest && !platform && (tags?.length ?? 0) > 0;
    if (dstRef?.digest && !platform && !flags.allTags) {
      // Refuse before writing anything: a digest destination must be what the source holds.
      const head = await source.source.headManifest(source.ref);
      if (head && head.digest !== dstRef.digest) throw new UsageError(`${dst} names digest ${dstRef.digest} but the source is ${head.digest}`);
    }
    const progress = await CopyProgress.start({ mode: resolveProgressMode(mode, ctx.streams.stderr), stream: ctx.streams.stderr, plainInterval });
    let report: CopyReport;
    try {
      report = streaming
        ? await pushReport(source, target, tags!, progress.onEvent, signal)
        : flags.allTags
          ? await copy.copyAllTags({ ...common, include, exclude, skipExisting, onEvent: progress.onEvent, signal })
          : await copy.copyImage({ ...common, ref: source.ref, tags, onEvent: progress.onEvent, signal });
      progress.stop(report);
    } catch (e) {
      progress.stop(signal.aborted ? 'interrupted' : undefined);
      throw e;
    }
    if (dstRef?.digest && report.digest !== dstRef.digest) {
      throw new UsageError(`${dst} names digest ${dstRef.digest} but the source is ${report.digest}`);
    }
    printReport(out, report);
  } finally {
    await target?.close();
    await source.close();
  }
}

type Opened = Awaited<ReturnType<typeof import('../../wiring/open-location.js').openSource>>;
type OpenedT = Awaited<ReturnType<typeof import('../../wiring/open-location.js').openTarget>>;

/** A docker-archive pushed by the path `regctl import` uses, reported like an engine copy. */
async function pushReport(source: Opened, target: OpenedT, tags: string[], onEvent: (e: CopyEvent) => void, signal: AbortSignal): Promise<CopyReport> {
  const started = monotonicMs();
  const { pushArchive } = await import('./archive-push.js');
  const r = await pushArchive({ source, target, tags, onEvent, signal });
  return {
    source: source.source.description,
    target: target.target.description,
    digest: r.digest,
    upToDate: false,
    dryRun: false,
    images: [{ ref: source.ref, digest: r.digest, mediaType: r.mediaType, tags, upToDate: false }],
    tags: tags.map((tag) => ({ tag, digest: r.digest, outcome: 'pushed' as const })),
    blobs: { copied: r.blobs.copied, skipped: r.blobs.skipped, mounted: 0 },
    manifests: { pushed: 1, skipped: 0 },
    referrers: 0,
    bytes: r.bytes,
    seconds: (monotonicMs() - started) / 1000,
  };
}

function printReport(out: Output, report: CopyReport): void {
  if (out.json) {
    out.printJson(report);
    return;
  }
  if (report.dryRun) {
    for (const p of report.plan ?? []) {
      if (p.kind === 'blob') out.line(`${p.action === 'copy' ? 'copy' : p.action === 'mount' ? 'mount' : 'exists'}\tblob\t${p.digest}\t${formatBytes(p.size ?? 0)}`);
      else if (p.kind === 'manifest') out.line(`push\tmanifest\t${p.digest}\t${formatBytes(p.size ?? 0)}`);
      else out.line(`push\ttag\t${p.tag}\t${p.digest}`);
    }
    for (const t of report.tags) if (t.outcome !== 'planned') out.line(`${t.outcome}\ttag\t${t.tag}\t${t.digest ?? ''}`);
    const copyBytes = (report.plan ?? []).filter((p) => p.kind === 'blob' && p.action === 'copy').reduce((n, p) => n + (p.size ?? 0), 0);
    const pushes = (report.plan ?? []).filter((p) => p.kind !== 'blob').length;
    out.line(
      `dry run: would copy ${plural(report.blobs.copied, 'blob')} (${formatBytes(copyBytes)}), mount ${report.blobs.mounted}, skip ${report.blobs.skipped}; ` +
        `push ${pushes} ${pushes === 1 ? 'manifest/tag' : 'manifests/tags'}`,
    );
    return;
  }
  const what = report.digest ?? plural(report.images.length, 'image');
  const tagList = report.tags.filter((t) => t.outcome === 'pushed').map((t) => t.tag);
  if (report.upToDate) {
    out.line(`${report.target}: up to date (${what}${report.tags.length ? `, ${plural(report.tags.length, 'tag')}` : ''}) in ${formatSeconds(report.seconds)}`);
    return;
  }
  const rate = formatRate(report.bytes, report.seconds);
  out.line(
    `copied ${what} to ${report.target}${tagList.length ? ` (${tagList.length === 1 ? 'tag' : 'tags'}: ${abbreviate(tagList)})` : ''}: ` +
      `${plural(report.blobs.copied, 'blob')} copied, ${report.blobs.skipped} skipped, ${report.blobs.mounted} mounted, ` +
      `${formatBytes(report.bytes)} in ${formatSeconds(report.seconds)}${rate ? `, ${rate}` : ''}` +
      (report.referrers ? `, ${plural(report.referrers, 'referrer')}` : ''),
  );
}

function abbreviate(tags: string[]): string {
  return tags.length <= 5 ? tags.join(', ') : `${tags.slice(0, 5).join(', ')} and ${tags.length - 5} more`;
}
