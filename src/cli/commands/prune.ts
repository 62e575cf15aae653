import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { plural } from '../format.js';
import { confirm } from './delete.js';
import { clientOptions } from './retag/flags.js';

interface PruneFlags {
  keepLast?: string;
  keep?: string[];
  match?: string;
  olderThan?: string;
  keepReleases?: string;
  semver?: boolean;
  untagged?: boolean;
  repoMatch?: string;
  dryRun?: boolean;
  yes?: boolean;
}

const collect = (v: string, all: string[] | undefined): string[] => [...(all ?? []), v];

function regex(flag: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(source)} is not a regular expression`);
  }
}

function count(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text)) throw new UsageError(`${flag} takes a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('prune')
    .summary('remove old tags by rules (keep the last N, drop what is older than 30d, never a release)')
    .description(
      `Remove the tags of a repository that the rules let go. Semver-aware by default: floating tags
(1, 1.9, latest), every tag on the image a floating tag points at and the newest release of each
X.Y line always stay. --keep-last N keeps the N newest of the other tags (image created time),
and --older-than removes only what is older (unknown age stays); with both, a tag stays when either
keeps it. --match limits pruning to matching tags; --keep protects matching tags. A digest whose
tags all go is deleted by digest; a tag that goes while another tag on its digest stays is
removed alone (as tag rm does). HOST --repo-match REGEX prunes every matching repository.
On a terminal regctl asks first; --yes skips the question (scripts need it).`,
    )
    .argument('<target>', 'HOST/REPO, or HOST with --repo-match')
    .option('--keep-last <n>', 'keep the N newest candidate tags')
    .option('--older-than <age>', 'remove only tags older than this: 30d, 12h, 2w')
    .option('--match <regex>', 'only tags matching this are candidates')
    .option('--keep <regex>', 'never remove tags matching this (repeatable)', collect)
    .option('--keep-releases <n>', 'releases kept per X.Y line (default 1: the newest)')
    .option('--no-semver', 'no semver protections (floating tags, their images, newest releases)')
    .option('--untagged', 'also remove manifests no tag reaches (where the registry lists them)')
    .option('--repo-match <regex>', 'with HOST: the repositories to prune')
    .option('--dry-run', 'show what would go, remove nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `
Examples:
  regctl prune localhost:5000/app --keep-last 10 --dry-run
  regctl prune localhost:5000/app --match '^sha-' --older-than 30d --yes
  regctl prune localhost:5000 --repo-match '^team/' --keep-last 5 --yes`,
    )
    .action(async (target: string, flags: PruneFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseAge, removesAnything } = await import('../../policy/retention.js');
      const olderThanMs = flags.olderThan === undefined ? undefined : parseAge(flags.olderThan);
      if (flags.olderThan !== undefined && olderThanMs === undefined) throw new UsageError(`--older-than takes an age like 30d, 12h or 2w, got ${JSON.stringify(flags.olderThan)}`);
      const rules = {
        ...(flags.keepLast !== undefined ? { keepLast: count('--keep-last', flags.keepLast)! } : {}),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
        ...(flags.match !== undefined ? { match: regex('--match', flags.match) } : {}),
        keep: (flags.keep ?? []).map((k) => regex('--keep', k)),
        ...(flags.keepReleases !== undefined ? { keepReleases: count('--keep-releases', flags.keepReleases)! } : {}),
        semver: flags.semver !== false,
      };
      if (!removesAnything(rules) && !flags.untagged) throw new UsageError('nothing to prune by: give --keep-last, --older-than, --match or --untagged');
      const repoMatch = flags.repoMatch === undefined ? undefined : regex('--repo-match', flags.repoMatch);
      const { pruneTargets, printPlans, printResult } = await import('./prune/report.js');
      const targets = await pruneTargets(ctx, out, target, repoMatch);
      const { planPrune, applyPrune } = await import('../../retag/prune.js');
      const plans = [];
      for (const t of targets) plans.push({ name: t.name, repository: t.repository, plan: await planPrune(t.repository, { rules, untagged: flags.untagged }) });
      const removals = plans.reduce((n, p) => n + p.plan.verdicts.filter((v) => v.remove).length, 0);
      if (!out.json) await printPlans(out, plans);
      if (!flags.dryRun && removals > 0 && !flags.yes) {
        if (!ctx.streams.stdin?.isTTY) {
          throw new UsageError(`refusing to remove ${plural(removals, 'tag')} without --yes: stdin is not a terminal, so regctl cannot ask (--dry-run only shows)`);
        }
        if (!(await confirm(ctx.streams, `Remove ${plural(removals, 'tag')}?`))) {
          ctx.streams.stderr.write('nothing removed\n');
          ctx.setExitCode(ExitCode.error);
          return;
        }
      }
      const apply = !flags.dryRun && removals > 0;
      const applied = [];
      for (const p of plans) applied.push(apply ? await applyPrune(p.repository, p.plan) : undefined);
      printResult(out, plans, applied, Boolean(flags.dryRun));
    });
}
