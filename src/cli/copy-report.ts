import type { CopyReport } from '../copy/types.js';
import { formatBytes, formatRate, formatSeconds, plural } from './format.js';
import type { Output } from './output.js';

/** `copy`'s result: the report as JSON, the dry-run plan, or one summary line. */
export function printCopyReport(out: Output, report: CopyReport): void {
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

/** Where import/export put an image, as their summary names it. */
interface ArchiveEnds {
  source: { description: string };
  target: { description: string; location: import('../content/location.js').Location };
}

/**
 * `import`/`export`'s result: their own JSON summary (source, target, tag, digest, mediaType,
 * blobs, bytes, seconds) or one line. With `-` the archive itself is on stdout: the line goes to
 * stderr.
 */
export function printArchiveReport(out: Output, verb: 'imported' | 'exported', report: CopyReport, ends: ArchiveEnds, tag: string | undefined, quietStdout: boolean): void {
  const loc = ends.target.location;
  const digest = report.digest ?? report.images[0]?.digest ?? '';
  const blobs = { copied: report.blobs.copied + report.blobs.mounted, skipped: report.blobs.skipped };
  const target = loc.kind === 'registry' ? `${loc.ref.registry}/${loc.ref.repository}` : ends.target.description;
  const summary = { source: ends.source.description, target, tag: tag ?? null, digest, mediaType: report.images[0]?.mediaType ?? '', blobs, bytes: report.bytes, seconds: report.seconds };
  if (quietStdout) return out.info(`${verb} ${summary.source} to ${summary.target}: ${digest}`);
  if (out.json) return out.printJson(summary);
  const where = loc.kind === 'registry' ? `${target}${tag ? `:${tag}` : ''}` : target;
  const rate = formatRate(report.bytes, report.seconds);
  out.line(
    `${verb} ${summary.source} to ${where}: ${digest} (${plural(blobs.copied, 'blob')} copied, ${blobs.skipped} skipped, ` +
      `${formatBytes(report.bytes)} in ${formatSeconds(report.seconds)}${rate ? `, ${rate}` : ''})`,
  );
}
