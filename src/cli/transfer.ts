import { InterruptedError } from '../errors.js';
import type { CopyEvent, CopyReport } from '../copy/types.js';
import type { CommandContext } from './context.js';
import type { Output } from './output.js';
import type { ProgressMode } from './progress.js';

/**
 * How `copy`, `import` and `export` run a transfer: Ctrl-C stops it cleanly wherever it is —
 * while a stdin archive is spooled (stdin is closed, the spool removed) or while blobs move
 * (transfers stop, upload sessions are cancelled, partial output removed) — then one line and
 * exit 130; a second Ctrl-C exits at once. Progress goes to stderr while the engine runs.
 */
export interface TransferRun {
  verb: 'copy' | 'import' | 'export';
  /** The --progress flag. */
  progress: ProgressMode;
  /** An archive is read from standard input: close it on Ctrl-C so its spooling stops. */
  readsStdin: boolean;
  /** The one line an interruption ends with. */
  interrupted: string;
}

/** Run `work` (opening, copying, closing) so Ctrl-C aborts its signal and ends as an InterruptedError. */
export async function interruptibly<T>(ctx: CommandContext, run: TransferRun, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { interruptible } = await import('./interrupt.js');
  const interrupt = interruptible(ctx.streams);
  if (run.readsStdin) {
    interrupt.signal.addEventListener('abort', () => (ctx.streams.stdin as { destroy?: () => void } | undefined)?.destroy?.(), { once: true });
  }
  try {
    return await work(interrupt.signal);
  } catch (e) {
    if (interrupt.signal.aborted) throw new InterruptedError(run.interrupted);
    throw e;
  } finally {
    interrupt.release();
  }
}

/** Run the engine call `copy` with live progress on stderr (none under --json unless on a terminal). */
export async function withProgress(
  ctx: CommandContext,
  out: Output,
  run: TransferRun,
  signal: AbortSignal,
  copy: (onEvent: (e: CopyEvent) => void) => Promise<CopyReport>,
): Promise<CopyReport> {
  const { CopyProgress, resolveProgressMode } = await import('./progress.js');
  const stderr = ctx.streams.stderr;
  const mode = out.json && run.progress === 'auto' ? (stderr.isTTY ? 'tty' : 'none') : run.progress;
  const plainInterval = Number((ctx.streams.env ?? process.env).REGCTL_PROGRESS_INTERVAL_MS) || undefined;
  const progress = await CopyProgress.start({ mode: resolveProgressMode(mode, stderr), stream: stderr, plainInterval, verb: run.verb });
  try {
    const report = await copy(progress.onEvent);
    // import/export always say what moved ("imported 1.2 MB"), never "up to date".
    progress.stop(run.verb === 'copy' ? report : { upToDate: false, bytes: report.bytes });
    return report;
  } catch (e) {
    progress.stop(signal.aborted ? 'interrupted' : undefined);
    throw e;
  }
}

type OpenedSource = Awaited<ReturnType<typeof import('../wiring/open-location.js').openSource>>;
type OpenedTarget = Awaited<ReturnType<typeof import('../wiring/open-location.js').openTarget>>;

/** Open the source, then the target (which may depend on it), run `work`, close both whatever happens. */
export async function withOpened<T>(
  openSource: () => Promise<OpenedSource>,
  openTarget: (source: OpenedSource) => Promise<OpenedTarget>,
  work: (source: OpenedSource, target: OpenedTarget) => Promise<T>,
): Promise<T> {
  const source = await openSource();
  try {
    const target = await openTarget(source);
    try {
      return await work(source, target);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/** Registry client options from the global flags: environment and the --verbose log. */
export function registryOptions(ctx: CommandContext, out: Output): { env?: NodeJS.ProcessEnv; verbose?: (l: string) => void } {
  return { env: ctx.streams.env, ...(out.verbose ? { verbose: (l: string) => out.debug(l) } : {}) };
}
