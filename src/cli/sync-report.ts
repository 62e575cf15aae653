import type { SyncImageResult, SyncReport } from '../sync/index.js';
import { formatBytes, formatSeconds, plural } from './format.js';
import type { Output } from './output.js';

/**
 * `sync`'s result: one row per repository (copied, skipped, failed tags; bytes) and a totals
 * line, or the report as JSON (docs/json.md). Errors follow the table, one line each.
 */
export async function printSyncReport(out: Output, report: SyncReport): Promise<void> {
  if (out.json) {
    out.printJson(report);
    return;
  }
  const c = await out.colors();
  const head = ['SOURCE', 'TARGET', report.dryRun ? 'WOULD COPY' : 'COPIED', 'SKIPPED', 'FAILED', 'BYTES'];
  // Piped: tab-separated rows (cut/grep), as every table of regctl.
  const rows = report.images.map((r) => [r.source, r.target, String(r.copied), String(r.skipped), String(r.failed), formatBytes(r.bytes)]);
  if (rows.length > 0) await out.table(head, rows);
  for (const r of report.images) {
    if (r.error) out.line(c.red(`failed: ${r.source} -> ${r.target} (file line ${r.line}): ${r.error.message}`));
    if (r.retagged.length > 0) out.line(`retagged ${r.target}: ${r.retagged.join(', ')}`);
  }
  const t = report.totals;
  out.line(
    `${report.dryRun ? 'dry run: would copy' : 'copied'} ${plural(t.copied, 'tag')}, skipped ${t.skipped} up to date, ${t.failed} failed ` +
      `in ${plural(t.images, 'repository', 'repositories')}; ${formatBytes(t.bytes)} in ${formatSeconds(report.seconds)}` +
      (report.rateLimitPauses ? `; paused ${plural(report.rateLimitPauses, 'time')} for rate limits` : ''),
  );
}

/** One repository as it finishes (long-running mirrors), on stderr. */
export function printImageLine(out: Output, r: SyncImageResult): void {
  const what = r.error ? `failed: ${r.error.message}` : `${r.copied} copied, ${r.skipped} up to date, ${formatBytes(r.bytes)}`;
  out.info(`${r.source} -> ${r.target}: ${what}`);
}
