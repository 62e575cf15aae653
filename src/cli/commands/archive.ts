import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../../errors.js';
import type { CopyReport } from '../../copy/types.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import type { TransferRun } from '../transfer.js';

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
      const readsStdin = file === '-' || /^(docker|oci)-archive:-(:|$)/.test(file);
      const run: TransferRun = { verb: 'import', progress: flags.progress, readsStdin, interrupted: 'import interrupted: nothing was tagged after the interruption' };
      const { interruptibly } = await import('../transfer.js');
      await interruptibly(ctx, run, (signal) => runImport(ctx, ctx.output(cmd), file, ref, flags, run, signal));
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
      const run: TransferRun = { verb: 'export', progress: flags.progress, readsStdin: false, interrupted: 'export interrupted' };
      const { interruptibly } = await import('../transfer.js');
      await interruptibly(ctx, run, (signal) => runExport(ctx, ctx.output(cmd), ref, file, flags, run, signal));
    });
}

type OpenedSource = import('../../wiring/open-location.js').OpenedSource;
type Platform = import('../../oci/manifest.js').Platform;

async function runImport(ctx: CommandContext, out: Output, file: string, ref: string, flags: ImportFlags, run: TransferRun, signal: AbortSignal): Promise<void> {
  const { parsePlatform } = await import('../../oci/platform.js');
  const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
  const { parseLocation, isArchiveLocation } = await import('../../content/location.js');
  const { parseReference } = await import('../../ref/reference.js');
  const { openTarget } = await import('../../wiring/open-location.js');
  const { openImportSource } = await import('../import-source.js');
  const { importTag } = await import('../../copy/plan.js');
  const { withOpened, registryOptions } = await import('../transfer.js');
  const registry = registryOptions(ctx, out);
  const dstRef = isArchiveLocation(ref) ? undefined : parseReference(ref, { defaultTag: false });
  const openOpts = { registry, stdin: ctx.streams.stdin as NodeJS.ReadableStream | undefined, compress: flags.compress };
  await withOpened(
    () => openImportSource(file, openOpts),
    () => openTarget(parseLocation(ref), { registry }),
    async (source, target) => {
      const tag = importTag({ dstRef, targetRef: target.ref, sourceRef: source.ref });
      const report = await transfer(ctx, out, run, signal, { source, target, tag, platform });
      const { checkDigestDestination } = await import('../../copy/plan.js');
      checkDigestDestination('destination', dstRef?.digest, report.digest ?? report.images[0]?.digest, 'the image');
      (await import('../copy-report.js')).printArchiveReport(out, 'imported', report, { source, target }, tag, false);
    },
  );
}

async function runExport(ctx: CommandContext, out: Output, ref: string, file: string, flags: ExportFlags, run: TransferRun, signal: AbortSignal): Promise<void> {
  const { parsePlatform } = await import('../../oci/platform.js');
  const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
  const { isArchiveLocation, parseLocation } = await import('../../content/location.js');
  const { openSource, openTarget } = await import('../../wiring/open-location.js');
  const { refuseTarToTerminal, defaultArchiveName, exportTag } = await import('../../copy/plan.js');
  const { withOpened, registryOptions } = await import('../transfer.js');
  const registry = registryOptions(ctx, out);
  const dstText = isArchiveLocation(file) ? file : `${flags.format}:${file}`;
  if (flags.format === 'oci' && file === '-') throw new UsageError('--format oci writes a directory; use oci-archive or docker-archive for standard output');
  refuseTarToTerminal(parseLocation(dstText), ctx.streams.stdout);
  const srcLoc = parseLocation(ref);
  await withOpened(
    () => openSource(srcLoc, { registry }),
    (source) => openTarget(dstText, { registry, stdout: ctx.streams.stdout, platform, defaultName: defaultArchiveName(srcLoc, source.source) }),
    async (source, target) => {
      const tag = exportTag({ targetRef: target.ref, sourceRef: source.ref });
      const report = await transfer(ctx, out, run, signal, { source, target, tag, platform });
      (await import('../copy-report.js')).printArchiveReport(out, 'exported', report, { source, target }, tag, file === '-');
    },
  );
}

/** One image through the copy engine, with progress. */
async function transfer(
  ctx: CommandContext,
  out: Output,
  run: TransferRun,
  signal: AbortSignal,
  o: { source: OpenedSource; target: import('../../wiring/open-location.js').OpenedTarget; tag: string | undefined; platform: Platform | undefined },
): Promise<CopyReport> {
  const { withProgress } = await import('../transfer.js');
  const { copyImage } = await import('../../copy/index.js');
  const { source, target, tag, platform } = o;
  return withProgress(ctx, out, run, signal, (onEvent) =>
    copyImage({ source: source.source, target: target.target, ref: source.ref, tags: tag ? [tag] : [], platform, onEvent, signal }),
  );
}
