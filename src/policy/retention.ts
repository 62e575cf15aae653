import semver from 'semver';
import { floatingTargets, LATEST_TAG } from './floating-tags.js';
import { isPrerelease, parseVersionTag, type VersionTag } from './version-tags.js';

/**
 * Retention: which tags (and untagged manifests) of one repository may go. Pure: `regctl prune`
 * (client, any registry) and `regctl serve --retention` (server gc) decide with the same code.
 *
 * A tag is kept by the first rule that keeps it, in this order, and the reason is reported:
 *  1. semver (on by default): a floating tag (`1`, `1.9`, `2.1-rc` of a line that has releases,
 *     and `latest`), any tag on the image a floating tag points at, the newest release of each
 *     X.Y line (or the `keepReleases` newest);
 *  2. `keep`: the tag matches one of these patterns;
 *  3. `match`: the tag does not match it (only matching tags are candidates);
 *  4. `olderThanMs` and `keepLast` (either may be given; both: a tag stays when either keeps it):
 *     the image is newer than the cutoff or its age is unknown; it is one of the `keepLast`
 *     newest candidates (image created time, else push time; unknown counts as oldest).
 * Without `olderThanMs`, `keepLast` or `match` no rule removes anything.
 */

export interface TaggedImage {
  tag: string;
  digest: string;
  /** ms since epoch: the image's created time, else the registry's push time; undefined if unknown. */
  time?: number;
}

export interface RetentionRules {
  keepLast?: number;
  keep?: RegExp[];
  match?: RegExp;
  olderThanMs?: number;
  /** Releases kept per X.Y line (default 1: the newest). */
  keepReleases?: number;
  /** Protect floating tags, their targets and the newest releases (default true). */
  semver?: boolean;
}

export interface TagVerdict {
  tag: string;
  digest: string;
  time?: number;
  remove: boolean;
  reason: string;
}

/** Whether any rule can remove a tag at all. */
export function removesAnything(rules: RetentionRules): boolean {
  return rules.keepLast !== undefined || rules.olderThanMs !== undefined || rules.match !== undefined;
}

/** `30d`, `12h`, `90m`, `45s`, `2w` -> ms; undefined when malformed. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

export function formatAge(ms: number): string {
  for (const [unit, size] of [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/** Semver protections: tag -> why it stays. */
function semverKeeps(images: TaggedImage[], keepReleases: number): Map<string, string> {
  const keeps = new Map<string, string>();
  const tags = images.map((i) => i.tag);
  const lines = floatingTargets(tags, { prereleaseTags: true });
  const digestOf = new Map(images.map((i) => [i.tag, i.digest]));
  const floating = new Set([...lines.keys()].filter((t) => digestOf.has(t)));
  if (digestOf.has(LATEST_TAG)) floating.add(LATEST_TAG);
  const targets = new Map<string, string>();
  for (const f of [...floating].sort()) {
    keeps.set(f, 'floating tag');
    const d = digestOf.get(f)!;
    if (!targets.has(d)) targets.set(d, f);
  }
  for (const i of images) {
    const via = targets.get(i.digest);
    if (via !== undefined && !keeps.has(i.tag)) keeps.set(i.tag, `image of floating tag ${via}`);
  }
  // The newest N releases of each X.Y line (within its family, v or not).
  const byLine = new Map<string, VersionTag[]>();
  for (const t of tags) {
    const v = parseVersionTag(t);
    if (!v || isPrerelease(v)) continue;
    const line = `${v.prefix}${v.version.major}.${v.version.minor}`;
    byLine.set(line, [...(byLine.get(line) ?? []), v]);
  }
  for (const [line, versions] of byLine) {
    versions.sort((a, b) => semver.rcompare(a.version, b.version) || (a.tag < b.tag ? -1 : 1));
    versions.slice(0, Math.max(1, keepReleases)).forEach((v, i) => {
      if (keeps.has(v.tag)) return;
      keeps.set(v.tag, i === 0 ? `newest release of ${line}` : `one of the ${keepReleases} newest releases of ${line}`);
    });
  }
  return keeps;
}

export function decideTags(images: TaggedImage[], rules: RetentionRules, now: number): TagVerdict[] {
  const protectedBy = rules.semver === false ? new Map<string, string>() : semverKeeps(images, rules.keepReleases ?? 1);
  const verdicts = new Map<string, TagVerdict>();
  const candidates: TaggedImage[] = [];
  for (const img of images) {
    const base = { tag: img.tag, digest: img.digest, ...(img.time !== undefined ? { time: img.time } : {}) };
    const keepReason =
      protectedBy.get(img.tag) ??
      (rules.keep?.find((re) => re.test(img.tag)) ? `matches --keep ${rules.keep.find((re) => re.test(img.tag))!.source}` : undefined) ??
      (rules.match && !rules.match.test(img.tag) ? `does not match --match ${rules.match.source}` : undefined) ??
      (!removesAnything(rules) ? 'no rule removes it' : undefined);
    if (keepReason !== undefined) verdicts.set(img.tag, { ...base, remove: false, reason: keepReason });
    else candidates.push(img);
  }
  // Newest first; unknown times last; equal times by tag, highest first (build-42 before build-41).
  const ranked = [...candidates].sort((a, b) => (b.time ?? -Infinity) - (a.time ?? -Infinity) || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0));
  ranked.forEach((img, rank) => {
    const base = { tag: img.tag, digest: img.digest, ...(img.time !== undefined ? { time: img.time } : {}) };
    const keeps: string[] = [];
    const removes: string[] = [];
    if (rules.keepLast !== undefined) {
      if (rank < rules.keepLast) keeps.push(`one of the ${rules.keepLast} newest`);
      else removes.push(`not among the ${rules.keepLast} newest`);
    }
    if (rules.olderThanMs !== undefined) {
      const age = formatAge(rules.olderThanMs);
      if (img.time === undefined) keeps.push('age unknown');
      else if (img.time > now - rules.olderThanMs) keeps.push(`newer than ${age}`);
      else removes.push(`older than ${age}`);
    }
    if (keeps.length > 0) verdicts.set(img.tag, { ...base, remove: false, reason: keeps.join(', ') });
    else verdicts.set(img.tag, { ...base, remove: true, reason: removes.length > 0 ? removes.join(', ') : `matches --match ${rules.match!.source}` });
  });
  return images.map((i) => verdicts.get(i.tag)!);
}

export interface DeletePlan {
  /** Digests every tag of which goes: deleted by digest (one request removes them all). */
  digests: string[];
  /** Tags that go while another tag on the same digest stays: removed one by one. */
  tags: string[];
}

/** How to carry out verdicts on a registry. */
export function deletePlan(verdicts: TagVerdict[]): DeletePlan {
  const kept = new Set(verdicts.filter((v) => !v.remove).map((v) => v.digest));
  const digests = new Set<string>();
  const tags: string[] = [];
  for (const v of verdicts) {
    if (!v.remove) continue;
    if (kept.has(v.digest)) tags.push(v.tag);
    else digests.add(v.digest);
  }
  return { digests: [...digests].sort(), tags: tags.sort() };
}

export interface ManifestFacts {
  digest: string;
  /** Manifests an index names. */
  children?: string[];
  /** The manifest's subject (a referrer). */
  subject?: string;
  /** ms since epoch the registry stored it; undefined if unknown. */
  time?: number;
}

export interface UntaggedVerdict {
  digest: string;
  remove: boolean;
  reason: string;
}

/**
 * Untagged manifests no kept tag reaches (through index children, and referrers of what is
 * reached) may go; those stored less than `graceMs` ago stay (a push may be tagging them now).
 */
export function decideUntagged(manifests: ManifestFacts[], roots: Iterable<string>, now: number, graceMs = 0): UntaggedVerdict[] {
  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  const referrers = new Map<string, string[]>();
  for (const m of manifests) if (m.subject) referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), m.digest]);
  const reached = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (reached.has(d)) continue;
    reached.add(d);
    queue.push(...(byDigest.get(d)?.children ?? []), ...(referrers.get(d) ?? []));
  }
  const out: UntaggedVerdict[] = [];
  for (const m of manifests) {
    if (reached.has(m.digest)) continue;
    if (graceMs > 0 && (m.time === undefined || m.time > now - graceMs)) {
      out.push({ digest: m.digest, remove: false, reason: m.time === undefined ? 'untagged, age unknown' : `untagged, within the ${formatAge(graceMs)} grace period` });
    } else out.push({ digest: m.digest, remove: true, reason: 'untagged, no tag reaches it' });
  }
  return out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
}
