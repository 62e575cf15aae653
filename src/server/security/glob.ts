/**
 * Repository globs for access rules. A glob is split on `/`; `**` as a whole segment matches
 * zero or more whole segments, `*` inside a segment matches any run of characters except `/`.
 * Everything else is literal and the match is anchored at both ends. `.` and `..` segments are
 * refused when the glob is compiled, and repository names that fail the grammar never match.
 */

const SEGMENT = /^[a-z0-9._*-]+$/;

export class GlobError extends Error {}

export interface RepositoryGlob {
  source: string;
  segments: string[];
}

export function compileGlob(glob: string): RepositoryGlob {
  if (typeof glob !== 'string' || glob === '') throw new GlobError('empty repository glob');
  if (glob.startsWith('/') || glob.endsWith('/')) throw new GlobError(`glob "${glob}" may not start or end with "/"`);
  const segments = glob.split('/');
  for (const s of segments) {
    if (s === '') throw new GlobError(`glob "${glob}" has an empty segment`);
    if (s === '.' || s === '..') throw new GlobError(`glob "${glob}" may not contain "${s}" segments`);
    if (s.includes('**') && s !== '**') throw new GlobError(`glob "${glob}": "**" must be a whole segment`);
    if (!SEGMENT.test(s)) {
      const why = /[A-Z]/.test(s) ? 'repository names are lowercase' : 'allowed are a-z 0-9 . _ - and *';
      throw new GlobError(`glob "${glob}": segment "${s}" is invalid (${why})`);
    }
  }
  // Consecutive ** are the same as one; collapsing keeps matching linear.
  const collapsed = segments.filter((s, i) => !(s === '**' && segments[i - 1] === '**'));
  return { source: glob, segments: collapsed };
}

/** Wildcard match of one segment (`*` = any run of non-slash characters). Linear, no regex. */
function matchSegment(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Does the glob match the whole repository name? The caller validates the name first. */
export function matchGlob(glob: RepositoryGlob, repository: string): boolean {
  const names = repository.split('/');
  const pats = glob.segments;
  // memo[i][j]: pats[i..] matches names[j..]; names are at most 255 chars so this stays small.
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * 1024 + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === pats.length) r = j === names.length;
    else if (pats[i] === '**') r = go(i + 1, j) || (j < names.length && go(i, j + 1));
    else r = j < names.length && matchSegment(pats[i]!, names[j]!) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}
