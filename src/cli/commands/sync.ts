import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

interface SyncFlags {
  dryRun?: boolean;
  once?: boolean;
  interval?: string;
  concurrency?: string;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('sync')
    .summary('mirror the repositories a YAML file lists (tag filters, whole registries, layouts)')
    .description(
      `Mirror what FILE lists (docs/sync.md; JSON Schema in docs/sync.schema.json): repositories,
whole registries (repo-match) and OCI layouts (oci:DIR), each with tag filters (regular
expressions, a semver range, the latest N), a platform, referrers, and retag: semver at the target.
Every entry runs on the copy engine, several at once; tags already up to date cost one HEAD at
each end and are not written again. Registries reporting few pulls left (Docker Hub's
RateLimit-Remaining) are not started on, and 429 answers are waited out (Retry-After).

Ends with a summary per repository (copied, skipped, failed, bytes). Exit codes: 0 all in place,
1 a repository failed, 2 a bad file (one line: FILE:LINE: what is wrong) or flag.`,
    )
    .argument('<file>', 'the sync file (YAML)')
    .option('--dry-run', 'list what would be copied; write and create nothing')
    .option('--once', 'one pass, then exit (the default)')
    .option('--interval <duration>', 'run again DURATION after each pass (e.g. 1h, 15m) until Ctrl-C')
    .option('--concurrency <n>', 'repositories (and blob transfers) at once (default: the file, else 4)')
    .addHelpText(
      'after',
      `
Examples:
  regctl sync mirror.yaml
  regctl sync --dry-run mirror.yaml
  regctl sync --interval 1h --concurrency 8 mirror.yaml
  regctl sync --json mirror.yaml

Smallest file:
  sync:
    - source: registry.example:5000/app
      target: localhost:5000/app
      tags:
        semver: ">=1.0 <2"`,
    )
    .action(async (file: string, flags: SyncFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      if (flags.once && flags.interval !== undefined) throw new UsageError('--once and --interval do not go together');
      const sync = await import('../../sync/index.js');
      const intervalMs = flags.interval === undefined ? undefined : duration(sync.parseDuration, flags.interval);
      const concurrency = flags.concurrency === undefined ? undefined : count(flags.concurrency);
      const { syncOpener } = await import('../../wiring/sync-opener.js');
      const { registryOptions } = await import('../transfer.js');
      const { printSyncReport, printImageLine } = await import('../sync-report.js');
      const { interruptible } = await import('../interrupt.js');
      const { InterruptedError } = await import('../../errors.js');
      const interrupt = interruptible(ctx.streams);
      const registry = registryOptions(ctx, out);
      const options = {
        file,
        open: (hooks: { onResponse: Parameters<typeof syncOpener>[0]['onResponse'] }) => syncOpener({ registry, onResponse: hooks.onResponse }),
        dryRun: flags.dryRun,
        concurrency,
        signal: interrupt.signal,
        // A long-running mirror says what it did as it goes (stderr, so --json stays one document a pass).
        ...(intervalMs !== undefined && !out.json ? { onImage: (r: Parameters<typeof printImageLine>[1]) => printImageLine(out, r) } : {}),
      };
      try {
        if (intervalMs === undefined) {
          const report = await sync.syncOnce(options);
          await printSyncReport(out, report);
          if (report.totals.failedImages > 0) ctx.setExitCode(1);
          return;
        }
        await sync.syncEvery({
          ...options,
          intervalMs,
          onRound: async (report) => {
            await printSyncReport(out, report);
            if (report.totals.failedImages > 0) ctx.setExitCode(1);
          },
        });
      } catch (e) {
        if (interrupt.signal.aborted) throw new InterruptedError('sync interrupted: nothing was tagged after the interruption');
        throw e;
      } finally {
        interrupt.release();
      }
    });
}

function duration(parse: (s: string) => number, text: string): number {
  let ms: number;
  try {
    ms = parse(text);
  } catch {
    throw new UsageError(`--interval: expected a duration such as 90s, 15m or 1h, got "${text}"`);
  }
  if (ms < 1000) throw new UsageError('--interval: at least 1s');
  return ms;
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--concurrency: expected a number from 1 to 64, got "${text}"`);
  return n;
}
