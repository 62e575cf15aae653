import { readFile } from 'node:fs/promises';
import { UsageError } from '../../errors.js';
import { decideTags, decideUntagged, parseAge, type ManifestFacts, type RetentionRules } from '../../policy/retention.js';
import { compileGlob, GlobError, matchGlob, type RepositoryGlob } from '../security/glob.js';
import type { GcStore } from '../storage/gc-store.js';
import type { RegistryStorage } from '../storage/types.js';

/**
 * `regctl serve --retention FILE`: per-repository rules applied by gc before it marks, so the
 * blobs of what retention removes are collected in the same run. The decisions are the pure
 * ones `regctl prune` makes (policy/retention.ts); this file reads the rules and carries them out.
 *
 * Crash safety: per repository every tag goes before any manifest, and a manifest goes only when
 * no tag (listed again just before) points at it, indexes before their children, so a kill at
 * any point leaves no tag pointing at a missing manifest.
 */

export interface RetentionRule {
  /** 1-based, as in error messages and reports. */
  index: number;
  repositories: string;
  glob: RepositoryGlob;
  rules: RetentionRules;
  /** Untagged manifests older than this go; undefined: untagged manifests stay. */
  untaggedAfterMs?: number;
}

export interface RetentionPolicy {
  rules: RetentionRule[];
}

export interface RetentionRemoval {
  repository: string;
  rule: number;
  kind: 'tag' | 'manifest';
  tag?: string;
  digest: string;
  reason: string;
}

export interface RetentionReport {
  removed: RetentionRemoval[];
  /** Untagged manifests a rule would remove but for its grace period (untagged-after). */
  keptByGrace: number;
}

export interface RetentionRun {
  policy: RetentionPolicy;
  /** Remove one tag, leaving its manifest (RegistryStorage.deleteTag). */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** One line per removal, as it happens. */
  log?: (line: string) => void;
  /**
   * Read a (config) blob of at most maxBytes; undefined when missing or larger. Given, keep-last
   * and older-than rank images by their config's `created` time, else by push time.
   */
  readBlob?: (repository: string, digest: string, maxBytes: number) => Promise<Uint8Array | undefined>;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

/** RetentionRun.readBlob over RegistryStorage.readBlob: stops reading past maxBytes. */
export function blobReader(storage: Pick<RegistryStorage, 'statBlob' | 'readBlob'>): NonNullable<RetentionRun['readBlob']> {
  return async (repo, digest, maxBytes) => {
    const info = await storage.statBlob(repo, digest);
    if (!info || info.size > maxBytes) return undefined;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of await storage.readBlob(repo, digest)) {
      n += (c as Buffer).length;
      if (n > maxBytes) return undefined;
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  };
}

/** The image config's `created` (ms), for an image manifest whose config can be read. */
async function createdTime(store: GcStore, run: RetentionRun, repo: string, digest: string): Promise<number | undefined> {
  try {
    const bytes = await store.readManifest(repo, digest);
    if (!bytes) return undefined;
    const doc: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (!isObject(doc) || !isObject(doc.config) || typeof doc.config.digest !== 'string') return undefined;
    const config = await run.readBlob!(repo, doc.config.digest, MAX_CONFIG_BYTES);
    if (!config) return undefined;
    const created: unknown = (JSON.parse(Buffer.from(config).toString('utf8')) as { created?: unknown }).created;
    const ms = typeof created === 'string' ? Date.parse(created) : NaN;
    return Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined; // not JSON, or the blob went meanwhile: push time it is
  }
}

const KEYS = new Set(['repositories', 'keep-last', 'keep', 'match', 'older-than', 'semver', 'keep-releases', 'untagged-after']);

export async function loadRetention(file: string): Promise<RetentionPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read retention file ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')}`);
  }
  return await parseRetention(text, file);
}

/** Strict: any unknown key or bad value is a one-line UsageError naming the rule. */
export async function parseRetention(text: string, source = 'retention file'): Promise<RetentionPolicy> {
  let data: unknown;
  // The yaml package reads JSON too; loaded only when there is a retention file.
  const yaml = await import('yaml');
  try {
    data = yaml.parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (e) {
    throw new UsageError(`${source}: not valid YAML or JSON: ${String((e as Error).message).split('\n')[0]}`);
  }
  if (isObject(data)) {
    const extra = Object.keys(data).filter((k) => k !== 'rules');
    if (extra.length > 0) throw new UsageError(`${source}: unknown key "${extra[0]}" (expected "rules")`);
    data = data.rules;
  }
  if (!Array.isArray(data) || data.length === 0) throw new UsageError(`${source}: expected a non-empty list of rules (or "rules:" with one)`);
  return { rules: data.map((raw: unknown, i) => parseRule(raw, i + 1, source)) };
}

function parseRule(raw: unknown, index: number, source: string): RetentionRule {
  const fail = (msg: string): never => {
    throw new UsageError(`${source}: rule ${index}: ${msg}`);
  };
  if (!isObject(raw)) return fail('expected a mapping');
  for (const k of Object.keys(raw)) if (!KEYS.has(k)) fail(`unknown key "${k}" (known: ${[...KEYS].join(', ')})`);
  if (typeof raw.repositories !== 'string') return fail('"repositories" (a glob such as team/*) is required');
  let glob: RepositoryGlob;
  try {
    glob = compileGlob(raw.repositories);
  } catch (e) {
    return fail(e instanceof GlobError ? e.message : String(e));
  }
  const count = (key: string, min: number): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 1_000_000) fail(`"${key}" must be a whole number >= ${min}`);
    return v as number;
  };
  const age = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    const ms = typeof v === 'string' ? parseAge(v) : undefined;
    if (ms === undefined) fail(`"${key}" must be a duration such as 7d, 12h, 2w`);
    return ms;
  };
  const regex = (key: string, v: unknown): RegExp => {
    if (typeof v !== 'string' || v === '' || v.length > 1000) return fail(`"${key}" must be a non-empty regular expression`);
    try {
      return new RegExp(v);
    } catch {
      return fail(`"${key}": invalid regular expression ${JSON.stringify(v)}`);
    }
  };
  const rules: RetentionRules = {};
  const keepLast = count('keep-last', 0);
  if (keepLast !== undefined) rules.keepLast = keepLast;
  if (raw.keep !== undefined) rules.keep = (Array.isArray(raw.keep) ? raw.keep : [raw.keep]).map((v) => regex('keep', v));
  if (raw.match !== undefined) rules.match = regex('match', raw.match);
  const olderThan = age('older-than');
  if (olderThan !== undefined) rules.olderThanMs = olderThan;
  if (raw.semver !== undefined) {
    if (typeof raw.semver !== 'boolean') fail('"semver" must be true or false');
    rules.semver = raw.semver as boolean;
  }
  const keepReleases = count('keep-releases', 1);
  if (keepReleases !== undefined) rules.keepReleases = keepReleases;
  const untaggedAfterMs = age('untagged-after');
  const rule: RetentionRule = { index, repositories: raw.repositories, glob, rules };
  if (untaggedAfterMs !== undefined) rule.untaggedAfterMs = untaggedAfterMs;
  return rule;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first rule whose glob matches the repository. */
export function ruleFor(policy: RetentionPolicy, repository: string): RetentionRule | undefined {
  return policy.rules.find((r) => matchGlob(r.glob, repository));
}

export async function applyRetention(
  store: GcStore,
  run: RetentionRun,
  options: { dryRun: boolean; now: number; repositories: string[]; guardSince: number },
): Promise<RetentionReport> {
  const report: RetentionReport = { removed: [], keptByGrace: 0 };
  for (const repo of options.repositories) {
    const rule = ruleFor(run.policy, repo);
    if (rule) await retainRepository(store, run, repo, rule, options, report);
  }
  return report;
}

async function retainRepository(
  store: GcStore,
  run: RetentionRun,
  repo: string,
  rule: RetentionRule,
  options: { dryRun: boolean; now: number; guardSince: number },
  report: RetentionReport,
): Promise<void> {
  const tags = await store.listTags(repo);
  const stored = await store.listManifests(repo);
  // Image time: the config's created time where readable, else when the store wrote the manifest.
  const pushed = new Map(stored.map((m) => [m.digest, m.modified]));
  if (run.readBlob && (rule.rules.keepLast !== undefined || rule.rules.olderThanMs !== undefined)) {
    for (const d of new Set(tags.map((t) => t.digest))) {
      const created = await createdTime(store, run, repo, d);
      if (created !== undefined) pushed.set(d, created);
    }
  }
  const verdicts = decideTags(
    tags.map((t) => ({ tag: t.tag, digest: t.digest, ...(pushed.has(t.digest) ? { time: pushed.get(t.digest)! } : {}) })),
    rule.rules,
    options.now,
  );
  const say = (r: RetentionRemoval) => {
    report.removed.push(r);
    run.log?.(
      `retention: ${options.dryRun ? 'would remove' : 'removed'} ${r.kind} ${repo}${r.tag !== undefined ? `:${r.tag}` : `@${r.digest}`} (rule ${r.rule} ${rule.repositories}: ${r.reason})`,
    );
  };
  // 1. Tags.
  const goneTags = new Set<string>();
  for (const v of verdicts) {
    if (!v.remove) continue;
    if (options.dryRun || (await run.deleteTag(repo, v.tag))) {
      goneTags.add(v.tag);
      say({ repository: repo, rule: rule.index, kind: 'tag', tag: v.tag, digest: v.digest, reason: v.reason });
    }
  }
  if (goneTags.size === 0 && rule.untaggedAfterMs === undefined) return;
  // 2. Manifests: those only removed tags reached, and (untagged-after) untagged ones past grace.
  const facts = await manifestFacts(store, repo, stored);
  if (!facts) return; // an unreadable manifest: gc warns about it and leaves the repository alone
  const remaining = options.dryRun ? tags.filter((t) => !goneTags.has(t.tag)) : await store.listTags(repo);
  const roots = remaining.map((t) => t.digest);
  const removedRoots = [...new Set(verdicts.filter((v) => goneTags.has(v.tag)).map((v) => v.digest))];
  const orphaned = new Set(decideUntagged(facts, roots, options.now).map((v) => v.digest));
  const untagged = new Map(decideUntagged(facts, [...roots, ...removedRoots], options.now, rule.untaggedAfterMs ?? 0).map((v) => [v.digest, v]));
  const removedVerdicts = verdicts.filter((v) => goneTags.has(v.tag));
  const reach = new Map(removedVerdicts.map((v) => [v.tag, reachable(facts, v.digest)]));
  const doomed: Array<{ digest: string; reason: string }> = [];
  for (const f of facts) {
    if (!orphaned.has(f.digest)) continue;
    const u = untagged.get(f.digest);
    if (!u) doomed.push({ digest: f.digest, reason: `no tag left reaches it (tags removed: ${removedVerdicts.filter((v) => reach.get(v.tag)!.has(f.digest)).map((v) => v.tag).join(', ')})` });
    else if (rule.untaggedAfterMs === undefined) continue;
    else if (u.remove) doomed.push({ digest: f.digest, reason: `untagged for more than ${formatMs(rule.untaggedAfterMs)}` });
    else report.keptByGrace++;
  }
  // Parents (indexes) before their children; a kill in between leaves an untagged index at worst.
  const order = parentsFirst(facts, doomed.map((d) => d.digest));
  const reasonOf = new Map(doomed.map((d) => [d.digest, d.reason]));
  for (const digest of order) {
    if (options.dryRun || (await store.deleteManifest(repo, digest, { notModifiedSince: options.guardSince }))) {
      say({ repository: repo, rule: rule.index, kind: 'manifest', digest, reason: reasonOf.get(digest)! });
    }
  }
}

function formatMs(ms: number): string {
  for (const [u, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) if (ms % n === 0) return `${ms / n}${u}`;
  return `${Math.round(ms / 1000)}s`;
}

async function manifestFacts(store: GcStore, repo: string, stored: Array<{ digest: string; modified: number }>): Promise<ManifestFacts[] | undefined> {
  const out: ManifestFacts[] = [];
  for (const m of stored) {
    const bytes = await store.readManifest(repo, m.digest);
    if (!bytes) continue; // gone meanwhile
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(doc)) return undefined;
    const digestOf = (d: unknown) => (isObject(d) && typeof d.digest === 'string' ? [d.digest] : []);
    const f: ManifestFacts = { digest: m.digest, time: m.modified };
    if (Array.isArray(doc.manifests)) f.children = doc.manifests.flatMap(digestOf);
    const subject = digestOf(doc.subject)[0];
    if (subject !== undefined) f.subject = subject;
    out.push(f);
  }
  return out;
}

/** `from` and the index children / referrers reachable from it. */
function reachable(facts: ManifestFacts[], from: string): Set<string> {
  const unreached = new Set(decideUntagged(facts, [from], 0).map((v) => v.digest));
  return new Set(facts.map((f) => f.digest).filter((d) => !unreached.has(d)));
}

/** Digests ordered so an index comes before the manifests it names. */
function parentsFirst(facts: ManifestFacts[], digests: string[]): string[] {
  const wanted = new Set(digests);
  const children = new Map(facts.map((f) => [f.digest, f.children ?? []]));
  const out: string[] = [];
  const seen = new Set<string>();
  // Post-order on children, then reversed: every parent lands before its children.
  const visit = (d: string) => {
    if (seen.has(d)) return;
    seen.add(d);
    for (const c of children.get(d) ?? []) if (wanted.has(c)) visit(c);
    out.push(d);
  };
  for (const d of [...digests].sort()) visit(d);
  return out.reverse();
}
