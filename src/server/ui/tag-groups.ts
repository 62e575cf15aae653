import type { TagRow } from '../storage/manifest-index.js';

/**
 * Tags as our semver scheme thinks of them (regctl retag --semver): full releases `1.9.2`
 * (optionally `v`-prefixed) in release lines `1.9`, newest first; the floating tags `1`, `1.9`
 * and `latest` shown as aliases of the release with the same digest; everything else (words,
 * pre-releases, floating tags with no release beside them) apart, most recently pushed first.
 */

export interface ReleaseRow extends TagRow {
  aliases: string[];
  version: [number, number, number];
}

export interface TagGroups {
  lines: Array<{ line: string; releases: ReleaseRow[] }>;
  others: TagRow[];
}

const RELEASE = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})$/;
const FLOATING = /^(?:v?\d{1,9}(?:\.\d{1,9})?|latest)$/;

export function groupTags(rows: readonly TagRow[]): TagGroups {
  const releases: ReleaseRow[] = [];
  const floating: TagRow[] = [];
  const others: TagRow[] = [];
  for (const r of rows) {
    const m = RELEASE.exec(r.tag);
    if (m) releases.push({ ...r, aliases: [], version: [Number(m[1]), Number(m[2]), Number(m[3])] });
    else if (FLOATING.test(r.tag)) floating.push(r);
    else others.push(r);
  }
  releases.sort((a, b) => cmp(b.version, a.version) || (a.tag < b.tag ? -1 : 1));
  for (const f of floating) {
    // The newest release with the same digest that the floating tag could float on.
    const target = releases.find((r) => r.digest === f.digest && floatsOn(f.tag, r.version));
    if (target) target.aliases.push(f.tag);
    else others.push(f);
  }
  for (const r of releases) r.aliases.sort(aliasOrder);
  others.sort((a, b) => (b.pushed ?? 0) - (a.pushed ?? 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  const lines: TagGroups['lines'] = [];
  for (const r of releases) {
    const line = `${r.version[0]}.${r.version[1]}`;
    const last = lines[lines.length - 1];
    if (last && last.line === line) last.releases.push(r);
    else lines.push({ line, releases: [r] });
  }
  return { lines, others };
}

function floatsOn(tag: string, v: [number, number, number]): boolean {
  if (tag === 'latest') return true;
  const parts = tag.replace(/^v/, '').split('.').map(Number);
  return parts.every((p, i) => p === v[i]);
}

function aliasOrder(a: string, b: string): number {
  // 1, 1.9, latest
  const rank = (t: string) => (t === 'latest' ? 99 : t.split('.').length);
  return rank(a) - rank(b) || (a < b ? -1 : 1);
}

function cmp(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
