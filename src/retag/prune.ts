import pLimit from 'p-limit';
import { RegctlError } from '../errors.js';
import { isIndex, parseManifest, type Descriptor } from '../oci/manifest.js';
import { digestOf } from '../oci/digest.js';
import { decideTags, deletePlan, type DeletePlan, type RetentionRules, type TagVerdict } from '../policy/retention.js';
import { listTagsOrNone, withRetries } from './converge.js';
import { deleteManifest, deleteTag } from './delete.js';
import type { RetagRepository } from './repository.js';

/**
 * `regctl prune REPO`: decide with the retention rules (policy/retention.ts), then remove. A
 * digest all of whose tags go is deleted by digest (one request); a tag that goes while another
 * tag on its digest stays is removed alone (tag rm: DELETE by tag or the placeholder).
 */

export interface PrunePlan {
  repository: string;
  verdicts: TagVerdict[];
  deletes: DeletePlan;
}

export interface PruneOptions {
  rules: RetentionRules;
  /** Remove untagged manifests too (only where the registry can list them). */
  untagged?: boolean;
  now?: number;
  concurrency?: number;
}

const CONFIG_LIMIT = 1024 * 1024;

/** The image's created time (config `created`; an index: its created annotation, else its first child's). */
async function createdTime(repository: RetagRepository, digest: string): Promise<number | undefined> {
  const data = await withRetries(() => repository.getManifest(digest));
  let m = parseManifest(data.bytes, data.mediaType);
  const annotated = m.annotations?.['org.opencontainers.image.created'];
  if (annotated !== undefined && Number.isFinite(Date.parse(annotated))) return Date.parse(annotated);
  if (isIndex(m)) {
    const first = m.manifests[0];
    if (!first) return undefined;
    const child = await withRetries(() => repository.getManifest(first.digest));
    m = parseManifest(child.bytes, child.mediaType);
    if (isIndex(m)) return undefined;
  }
  return configCreated(repository, m.config);
}

async function configCreated(repository: RetagRepository, desc: Descriptor): Promise<number | undefined> {
  if (desc.size > CONFIG_LIMIT) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await repository.getBlob(desc)) {
    size += (chunk as Buffer).length;
    if (size > CONFIG_LIMIT) return undefined;
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  // Verified before use, like every blob.
  if (digestOf(bytes, desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256') !== desc.digest) return undefined;
  try {
    const created = (JSON.parse(bytes.toString('utf8')) as { created?: unknown }).created;
    if (typeof created !== 'string') return undefined;
    const t = Date.parse(created);
    // Reproducible builds stamp 1970-01-01: that is no age.
    return Number.isFinite(t) && t > 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

export async function planPrune(repository: RetagRepository, options: PruneOptions): Promise<PrunePlan> {
  if (options.untagged) {
    throw new RegctlError(
      'UNSUPPORTED',
      `${repository.description}: --untagged needs a registry that lists the manifests no tag reaches, and this one does not; on regctl serve use serve gc, which removes them`,
      { exitCode: 2 },
    );
  }
  const limit = pLimit(options.concurrency ?? 8);
  const tags = await listTagsOrNone(repository);
  const heads = await Promise.all(tags.map((t) => limit(() => withRetries(() => repository.headManifest(t)))));
  const digests = [...new Set(heads.map((h) => h?.digest).filter((d): d is string => d !== undefined))];
  const times = new Map<string, number | undefined>();
  await Promise.all(digests.map((d) => limit(async () => times.set(d, await createdTime(repository, d)))));
  const images = tags.flatMap((tag, i) => {
    const d = heads[i]?.digest;
    if (!d) return [];
    const time = times.get(d);
    return [{ tag, digest: d, ...(time !== undefined ? { time } : {}) }];
  });
  const verdicts = decideTags(images, options.rules, options.now ?? Date.now());
  return { repository: repository.description, verdicts, deletes: deletePlan(verdicts) };
}

export interface PruneApplied {
  digests: string[];
  tags: string[];
}

export async function applyPrune(repository: RetagRepository, plan: PrunePlan): Promise<PruneApplied> {
  const done: PruneApplied = { digests: [], tags: [] };
  for (const d of plan.deletes.digests) {
    await deleteManifest(repository, d);
    done.digests.push(d);
  }
  if (plan.deletes.tags.length > 0) {
    const features = repository.features ? await repository.features() : new Set<string>();
    for (const t of plan.deletes.tags) {
      await deleteTag(repository, t, features);
      done.tags.push(t);
    }
  }
  return done;
}
