import type { Command } from 'commander';
import { UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';
import { formatBytes, formatSeconds, plural } from '../../format.js';
import { formatAge } from '../../../policy/retention.js';
import { defaultRoot, settingsFor } from './settings.js';

/** regctl serve gc */
export function registerGc(serve: Command, ctx: CommandContext): void {
  serve
    .command('gc')
    .summary('remove blobs and manifests no tag reaches (safe while the registry runs)')
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--untagged', 'also remove manifests no tag reaches (and that are not referrers of reachable ones)')
    .option('--grace <duration>', 'keep anything younger than this (default: --gc-grace setting, 1h)')
    .option('--retention <file>', 'apply these retention rules first (default: --retention setting; docs/retention.md)')
    .option('--root <dir>', 'storage directory (default as for serve)')
    .option('--storage <url>', 'collect in S3 instead: s3://BUCKET[/PREFIX], as given to the instances (run from one place only)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint')
    .option('--s3-region <region>', 'S3 region')
    .option('--s3-force-path-style', 'path-style bucket addressing')
    .action(async (flags: { dryRun?: boolean; untagged?: boolean; grace?: string; retention?: string; storage?: string; s3Endpoint?: string; s3Region?: string; s3ForcePathStyle?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const env = ctx.streams.env ?? process.env;
      const { settings } = await settingsFor(cmd, env, {
        ...(flags.grace !== undefined ? { gcGraceMs: flags.grace } : {}),
        ...(flags.retention !== undefined ? { retention: flags.retention } : {}),
      });
      // Rules are checked before storage is touched: a bad file is a usage error (exit 2).
      const retention = await import('../../../server/ops/retention.js');
      const policy = settings.retention !== undefined ? await retention.loadRetention(settings.retention) : undefined;
      const { resolve } = await import('node:path');
      let root = resolve(settings.root ?? (await defaultRoot(env)));
      let storage;
      // `serve` has the same S3 options, and commander may hand them to it: look at both.
      const s3 = { ...(cmd.optsWithGlobals() as typeof flags), ...flags };
      if (s3.storage !== undefined) {
        // GC never creates upload sessions: no upload secret needed, no warning about one.
        storage = await (await import('../../../server/storage/open-storage.js')).openServeStorage({ ...s3, storage: s3.storage }, env, () => undefined);
        root = s3.storage;
      } else {
        const { stat } = await import('node:fs/promises');
        const s = await stat(root).catch(() => undefined);
        if (!s?.isDirectory()) throw new UsageError(`no registry storage at ${root} (pass --root DIR)`);
        // Never prepare: that clears scratch files a running server may be using.
        const { openStorage } = await import('../../../server/storage/open-storage.js');
        storage = await openStorage({ root, prepare: false });
      }
      const { collectGarbage } = await import('../../../server/ops/gc.js');
      const started = performance.now();
      // The pull-through cache first: what eviction unlinks, the collection then reclaims.
      if (settings.mirrorMaxSize !== undefined && s3.storage === undefined && flags.dryRun !== true) {
        const { evictMirrorCache } = await import('../../../server/mirror/index.js');
        const ev = await evictMirrorCache(storage, root, settings.mirrorMaxSize);
        if (ev.items > 0) out.info(`mirror cache: evicted ${plural(ev.items, 'item')} (${formatBytes(ev.bytes)}) to stay under --mirror-max-size`);
      }
      const report = await collectGarbage(storage.gcStore!(), {
        untagged: flags.untagged === true,
        dryRun: flags.dryRun === true,
        graceMs: settings.gcGraceMs,
        // Each removal is one line as it happens (stderr); --json gets them in the report.
        ...(policy ? { retention: { policy, deleteTag: (repo: string, tag: string) => storage.deleteTag(repo, tag), readBlob: retention.blobReader(storage), ...(out.json ? {} : { log: (line: string) => out.info(line) }) } } : {}),
      }).finally(() => storage.close());
      const seconds = (performance.now() - started) / 1000;
      if (out.json) {
        out.printJson({ ...report, root, seconds: Math.round(seconds * 1000) / 1000 });
        return;
      }
      for (const w of report.warnings) out.warn(w);
      if (report.removed.length > 0) {
        await out.table(
          ['KIND', 'REPOSITORY', 'DIGEST / SESSION', 'SIZE'],
          report.removed.map((r) => [r.kind, r.repository, r.digest ?? r.id ?? '', formatBytes(r.size)]),
        );
      }
      const g = report.keptByGrace;
      if (g.manifests + g.blobs + g.uploads > 0 || (report.retention?.keptByGrace ?? 0) > 0) {
        const untagged = report.retention?.keptByGrace ? `, ${plural(report.retention.keptByGrace, 'untagged manifest')} (retention untagged-after)` : '';
        out.info(`kept because of the grace period (${formatAge(settings.gcGraceMs)}): ${plural(g.manifests, 'manifest')}, ${plural(g.blobs, 'blob')}, ${plural(g.uploads, 'upload')}${untagged}`);
      }
      if (report.retention) {
        const r = report.retention.removed;
        out.info(`retention: ${report.dryRun ? 'would remove' : 'removed'} ${plural(r.filter((x) => x.kind === 'tag').length, 'tag')}, ${plural(r.filter((x) => x.kind === 'manifest').length, 'manifest')}`);
      }
      const count = (k: string) => plural(report.removed.filter((r) => r.kind === k).length, k);
      out.info(
        `${report.dryRun ? 'would remove' : 'removed'} ${count('manifest')}, ${count('blob')}, ${count('upload')}; ` +
          `${report.dryRun ? 'would reclaim' : 'reclaimed'} ${formatBytes(report.bytesReclaimed)}; kept ${plural(report.kept.manifests, 'manifest')}, ` +
          `${plural(report.kept.blobs, 'blob')} in ${plural(report.repositories, 'repository', 'repositories')} (${formatSeconds(seconds)})`,
      );
    });
}
