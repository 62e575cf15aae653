import type { CommandContext } from '../../context.js';
import { plural } from '../../format.js';
import type { Output } from '../../output.js';
import type { PruneApplied, PrunePlan } from '../../../retag/prune.js';
import type { RetagRepository } from '../../../retag/repository.js';
import { UsageError } from '../../../errors.js';
import { clientOptions } from '../retag/flags.js';

/** `regctl prune`: which repositories, and what it prints. */

export interface PruneTarget {
  name: string;
  repository: RetagRepository;
}

export interface PlannedRepository extends PruneTarget {
  plan: PrunePlan;
}

/** HOST/REPO, or every repository of HOST matching --repo-match (from the catalog). */
export async function pruneTargets(ctx: CommandContext, out: Output, input: string, repoMatch: RegExp | undefined): Promise<PruneTarget[]> {
  const { parseReference, parseRegistryArg, formatReference } = await import('../../../ref/reference.js');
  const { createRegistryClient } = await import('../../../wiring/registry-client.js');
  const opts = clientOptions(ctx, out);
  const client = createRegistryClient({ ...(opts.env ? { env: opts.env } : {}), ...(opts.verbose ? { verbose: opts.verbose } : {}) });
  const bare = input.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (!bare.includes('/')) {
    if (!repoMatch) throw new UsageError(`${input} is a registry: name a repository (HOST/REPO), or choose repositories with --repo-match REGEX`);
    const registry = parseRegistryArg(input);
    const names = (await client.catalog(registry)).filter((n) => repoMatch.test(n));
    return names.map((n) => ({ name: `${registry}/${n}`, repository: client.repository(registry, n) }));
  }
  if (repoMatch) throw new UsageError('--repo-match goes with a registry (HOST), not a repository');
  const ref = parseReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) throw new UsageError(`prune takes a repository, not an image: drop the tag or digest from ${input}`);
  return [{ name: formatReference(ref), repository: client.repository(ref.registry, ref.repository) }];
}

function short(d: string): string {
  return d.slice(0, d.indexOf(':') + 13);
}

function day(t: number | undefined): string {
  return t === undefined ? '-' : new Date(t).toISOString().slice(0, 10);
}

export async function printPlans(out: Output, plans: PlannedRepository[]): Promise<void> {
  const rows = plans.flatMap((p) =>
    p.plan.verdicts.map((v) => [...(plans.length > 1 ? [p.name] : []), v.tag, short(v.digest), day(v.time), v.remove ? 'remove' : 'keep', v.reason]),
  );
  await out.table([...(plans.length > 1 ? ['REPOSITORY'] : []), 'TAG', 'DIGEST', 'CREATED', 'ACTION', 'REASON'], rows);
}

export function printResult(out: Output, plans: PlannedRepository[], applied: Array<PruneApplied | undefined>, dryRun: boolean): void {
  if (out.json) {
    out.printJson({
      dryRun,
      repositories: plans.map((p, i) => ({
        repository: p.name,
        tags: p.plan.verdicts.map((v) => ({
          tag: v.tag,
          digest: v.digest,
          created: v.time === undefined ? null : new Date(v.time).toISOString(),
          action: v.remove ? 'remove' : 'keep',
          reason: v.reason,
        })),
        deleteManifests: p.plan.deletes.digests,
        removeTags: p.plan.deletes.tags,
        applied: applied[i] !== undefined,
      })),
    });
    return;
  }
  const tags = plans.reduce((n, p) => n + p.plan.verdicts.filter((v) => v.remove).length, 0);
  const manifests = plans.reduce((n, p) => n + p.plan.deletes.digests.length, 0);
  if (tags === 0) out.info('nothing to remove');
  else if (dryRun) out.info(`dry run: would remove ${plural(tags, 'tag')} (${plural(manifests, 'manifest')} deleted by digest); nothing changed`);
  else out.info(`removed ${plural(tags, 'tag')} (${plural(manifests, 'manifest')} deleted by digest)`);
}
