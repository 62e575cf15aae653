import type { Command } from 'commander';
import { Option } from 'commander';
import { InterruptedError, RegctlError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import type { Interruptible } from '../interrupt.js';
import type { Output } from '../output.js';

type ProgressFlag = 'auto' | 'tty' | 'plain' | 'none';

interface ImportFlags {
  compress: boolean;
  platform?: string;
  progress: ProgressFlag;
}

interface ExportFlags {
  platform?: string;
  format: 'docker-archive' | 'oci-archive' | 'oci';
  progress: ProgressFlag;
}

const progressOption = (): Option =>
  new Option('--progress <mode>', 'progress display on stderr').choices(['auto', 'tty', 'plain', 'none']).default('auto');

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('import')
    .summary('push a docker save archive or an OCI layout (dir or tar) to a registry')
    .description(
      `Import FILE into REF. FILE is a \`docker save\` tarball (\`-\` reads standard input), an OCI
layout directory or an OCI layout tar; prefixes docker-archive:, oci:, oci-archive: force the kind.
Layers of a docker save archive are gzipped while they stream (diff_ids unchanged); --no-compress
pushes them uncompressed. Every blob is verified; on any failure nothing is tagged at REF.`,
    )
    .argument('<file>', 'archive or layout, e.g. app.tar, -, ./layout, oci-archive:app.tar:1.0')
    .argument('<ref>', 'destination, e.g. localhost:5000/app:1.0 (tag defaults to the archive\'s)')
    .option('--no-compress', 'push docker-archive layers uncompressed')
    .option('--platform <os/arch[/variant]>', 'import just this platform out of an OCI index')
    .addOption(progressOption())
    .addHelpText(
      'after',
      `
Examples:
  docker save app:1.0 | regctl import - localhost:5000/app:1.0
  regctl import app.tar localhost:5000/app
  regctl import ./layout:1.0 localhost:5000/app:1.0`,
    )
    .action(async (file: string, ref: string, flags: ImportFlags, cmd: Command) => {
      await interruptibly(ctx, 'import', file === '-' || /^(docker|oci)-archive:-(:|$)/.test(file), (interrupt) => runImport(ctx, ctx.output(cmd), file, ref, flags, interrupt));
    });

  program
    .command('export')
    .summary('write an image to a docker-archive (for docker load) or an OCI layout')
    .description(
      `Export REF to FILE: by default a \`docker save\` style tarball that \`docker load\` reads
(\`-\` writes standard output), or with --format an OCI layout tar or directory. A docker-archive
holds one image: exporting a multi-platform index needs --platform. Layers are gunzipped on the
way and checked against the config's diff_ids.`,
    )
    .argument('<ref>', 'source, e.g. localhost:5000/app:1.0 or oci:./layout:1.0')
    .argument('<file>', 'destination file (or directory for --format oci), or -')
    .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index')
    .addOption(new Option('--format <format>', 'what to write').choices(['docker-archive', 'oci-archive', 'oci']).default('docker-archive'))
    .addOption(progressOption())
    .addHelpText(
      'after',
      `
Examples:
  regctl export localhost:5000/app:1.0 app.tar && docker load -i app.tar
  regctl export --platform linux/arm64 localhost:5000/app:1.0 - | docker load
  regctl export --format oci localhost:5000/app:1.0 ./layout`,
    )
    .action(async (ref: string, file: string, flags: ExportFlags, cmd: Command) => {
      await interruptibly(ctx, 'export', false, (interrupt) => runExport(ctx, ctx.output(cmd), ref, file, flags, interrupt));
    });
}

/**
 * Run a whole import/export so that Ctrl-C stops it cleanly wherever it is: while a stdin
 * archive is being spooled (stdin is closed, so the spool stops and is removed) or while blobs
 * move (transfers stop, upload sessions are cancelled). Then one line, exit 130.
 */
async function interruptibly(ctx: CommandContext, what: 'import' | 'export', readsStdin: boolean, run: (i: Interruptible) => Promise<void>): Promise<void> {
  const { interruptible } = await import('../interrupt.js');
  const interrupt = interruptible(ctx.streams);
  if (readsStdin) {
    interrupt.signal.addEventListener('abort', () => (ctx.streams.stdin as { destroy?: () => void } | undefined)?.destroy?.(), { once: true });
  }
  try {
    await run(interrupt);
  } catch (e) {
    if (!interrupt.signal.aborted) throw e;
    throw new InterruptedError(what === 'export' ? 'export interrupted' : 'import interrupted: nothing was tagged after the interruption');
  } finally {
    interrupt.release();
  }
}

function registryOptions(ctx: CommandContext, out: Output): { env?: NodeJS.ProcessEnv; verbose?: (l: string) => void } {
  return { env: ctx.streams.env, ...(out.verbose ? { verbose: (l: string) => out.debug(l) } : {}) };
}

/** `app.tar` -> docker-archive:app.tar, `./dir[:tag]` (a directory) -> oci:./dir[:tag]. */
async function importLocation(file: string): Promise<string> {
  const { isArchiveLocation } = await import('../../content/location.js');
  if (isArchiveLocation(file)) return file;
  if (file === '-') return 'docker-archive:-';
  const { stat } = await import('node:fs/promises');
  const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
  if (await isDir(file)) return `oci:${file}`;
  const colon = file.lastIndexOf(':');
  if (colon > 0 && (await isDir(file.slice(0, colon)))) return `oci:${file}`;
  return `docker-archive:${file}`;
}

async function runImport(ctx: CommandContext, out: Output, file: string, ref: string, flags: ImportFlags, interrupt: Interruptible): Promise<void> {
  const { parsePlatform } = await import('../../oci/platform.js');
  const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
  const { parseLocation, isArchiveLocation } = await import('../../content/location.js');
  const { parseReference } = await import('../../ref/reference.js');
  const { openSource, openTarget } = await import('../../wiring/open-location.js');
  const registry = registryOptions(ctx, out);
  let srcText = await importLocation(file);
  const dstLoc = parseLocation(ref);
  const explicitTag = isArchiveLocation(ref) ? undefined : parseReference(ref, { defaultTag: false });
  const openOpts = { registry, stdin: ctx.streams.stdin as NodeJS.ReadableStream | undefined, compress: flags.compress };
  let source;
  try {
    source = await openSource(srcText, openOpts);
  } catch (e) {
    // A tar that is an OCI layout rather than a docker save archive: read it as one.
    if (!(e instanceof RegctlError && e.code === 'ARCHIVE_FORMAT' && /OCI layout/.test(e.message)) || file.startsWith('docker-archive:')) throw e;
    srcText = `oci-archive:${file}`;
    source = await openSource(srcText, openOpts);
  }
  try {
    const target = await openTarget(dstLoc, { registry });
    try {
      const tag = explicitTag ? (explicitTag.digest ? undefined : explicitTag.tag) : target.ref;
      const srcTag = source.ref.includes(':') ? undefined : source.ref;
      await transfer(ctx, out, interrupt, flags.progress, 'imported', source, target, tag ?? srcTag, explicitTag?.digest, platform);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function runExport(ctx: CommandContext, out: Output, ref: string, file: string, flags: ExportFlags, interrupt: Interruptible): Promise<void> {
  const { parsePlatform } = await import('../../oci/platform.js');
  const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
  const { isArchiveLocation, parseLocation } = await import('../../content/location.js');
  const { openSource, openTarget } = await import('../../wiring/open-location.js');
  const registry = registryOptions(ctx, out);
  const dstText = isArchiveLocation(file) ? file : `${flags.format}:${file}`;
  if (flags.format === 'oci' && file === '-') throw new UsageError('--format oci writes a directory; use oci-archive or docker-archive for standard output');
  const { refuseTarToTerminal } = await import('./archive-push.js');
  refuseTarToTerminal(parseLocation(dstText), ctx.streams.stdout);
  const srcLoc = parseLocation(ref);
  const source = await openSource(srcLoc, { registry });
  try {
    const { defaultArchiveName } = await import('./archive-push.js');
    const defaultName = defaultArchiveName(srcLoc, source);
    const target = await openTarget(dstText, { registry, stdout: ctx.streams.stdout, platform, defaultName });
    try {
      const srcTag = source.ref.includes(':') ? undefined : source.ref;
      await transfer(ctx, out, interrupt, flags.progress, 'exported', source, target, target.ref ?? srcTag ?? 'latest', undefined, platform, file === '-');
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

type Opened = Awaited<ReturnType<typeof import('../../wiring/open-location.js').openSource>>;
type OpenedT = Awaited<ReturnType<typeof import('../../wiring/open-location.js').openTarget>>;

async function transfer(
  ctx: CommandContext,
  out: Output,
  interrupt: Interruptible,
  progressMode: ProgressFlag,
  verb: string,
  source: Opened,
  target: OpenedT,
  tag: string | undefined,
  wantDigest: string | undefined,
  platform: import('../../oci/manifest.js').Platform | undefined,
  quietStdout = false,
): Promise<void> {
  const started = Date.now();
  const { isDockerArchive, pushArchive } = await import('./archive-push.js');
  const { CopyProgress, resolveProgressMode } = await import('../progress.js');
  const stderr = ctx.streams.stderr;
  const mode = out.json && progressMode === 'auto' ? (stderr.isTTY ? 'tty' : 'none') : progressMode;
  const plainInterval = Number((ctx.streams.env ?? process.env).REGCTL_PROGRESS_INTERVAL_MS) || undefined;
  const what = verb === 'exported' ? 'export' : 'import';
  const progress = await CopyProgress.start({ mode: resolveProgressMode(mode, stderr), stream: stderr, plainInterval, verb: what });
  // Ctrl-C stops the transfer so the targets and spools clean up (as `regctl copy` does):
  // killed outright, an export left its spool of gunzipped layers in the temp folder.
  let r: { digest: string; mediaType: string; blobs: { copied: number; skipped: number }; bytes: number };
  try {
    if (isDockerArchive(source) && tag !== undefined && !platform) {
      // The streaming path shared with `regctl copy`: layers gzipped straight into the target.
      r = await pushArchive({ source, target, tags: [tag], onEvent: progress.onEvent, signal: interrupt.signal });
    } else {
      await refuseIndexToDockerArchive(source, target, platform);
      const { copyImage } = await import('../../copy/index.js');
      const report = await copyImage({
        source: source.source,
        target: target.target,
        ref: source.ref,
        tags: tag ? [tag] : [],
        platform,
        onEvent: progress.onEvent,
        signal: interrupt.signal,
      });
      r = {
        digest: report.digest ?? report.images[0]?.digest ?? '',
        mediaType: report.images[0]?.mediaType ?? '',
        blobs: { copied: report.blobs.copied + report.blobs.mounted, skipped: report.blobs.skipped },
        bytes: report.bytes,
      };
    }
    // stop() reads only `upToDate` and `bytes` of a report to print its success line.
    progress.stop({ upToDate: false, bytes: r.bytes });
  } catch (e) {
    progress.stop(interrupt.signal.aborted ? 'interrupted' : undefined);
    throw e;
  }
  if (wantDigest && r.digest !== wantDigest) throw new UsageError(`destination names digest ${wantDigest} but the image is ${r.digest}`);
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    source: source.description,
    target: target.location.kind === 'registry' ? `${target.location.ref.registry}/${target.location.ref.repository}` : target.description,
    tag: tag ?? null,
    digest: r.digest,
    mediaType: r.mediaType,
    blobs: r.blobs,
    bytes: r.bytes,
    seconds,
  };
  // With `-` the archive itself is on stdout: the summary goes to stderr.
  if (quietStdout) {
    out.info(`${verb} ${summary.source} to ${summary.target}: ${r.digest}`);
    return;
  }
  if (out.json) {
    out.printJson(summary);
    return;
  }
  const { formatBytes, formatRate, formatSeconds, plural } = await import('../format.js');
  const loc = target.location;
  const where = loc.kind === 'registry' ? `${loc.ref.registry}/${loc.ref.repository}${tag ? `:${tag}` : ''}` : summary.target;
  const rate = formatRate(r.bytes, seconds);
  out.line(
    `${verb} ${summary.source} to ${where}: ${r.digest} (${plural(r.blobs.copied, 'blob')} copied, ${r.blobs.skipped} skipped, ` +
      `${formatBytes(r.bytes)} in ${formatSeconds(seconds)}${rate ? `, ${rate}` : ''})`,
  );
}

/** Fail before any blob moves when a docker-archive (one image) is asked to hold an index. */
async function refuseIndexToDockerArchive(source: Opened, target: OpenedT, platform: unknown): Promise<void> {
  if (platform || target.location.kind !== 'docker-archive') return;
  const head = await source.source.headManifest(source.ref);
  const { isIndexMediaType } = await import('../../oci/mediatypes.js');
  if (!head || !isIndexMediaType(head.mediaType)) return;
  const { isIndex, parseManifest } = await import('../../oci/manifest.js');
  const { formatPlatform } = await import('../../oci/platform.js');
  const data = await source.source.getManifest(source.ref);
  const m = parseManifest(data.bytes, data.mediaType);
  const platforms = isIndex(m) ? m.manifests.map((d) => formatPlatform(d.platform)).join(', ') : '';
  throw new UsageError(`${target.description}: a docker-archive holds one image, and ${source.description} is a multi-platform index (${platforms}): choose one with --platform`);
}
