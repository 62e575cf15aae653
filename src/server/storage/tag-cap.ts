import { OciError } from '../protocol/errors.js';

/**
 * The per-repository tag cap, shared by the backends that enforce it where tags are written
 * (so concurrent pushes cannot overshoot it). Moving a tag that exists is always allowed, even
 * when the repository is over a cap that was lowered since.
 */
export function checkTagCap(repo: string, currentCount: number, has: (tag: string) => boolean, tags: string[], maxTags: number | undefined): void {
  if (maxTags === undefined || tags.length === 0) return;
  let added = 0;
  for (const t of new Set(tags)) if (!has(t)) added++;
  if (added > 0 && currentCount + added > maxTags) throw tooManyTags(repo, maxTags);
}

export function tooManyTags(repo: string, maxTags: number): OciError {
  // 400, not 429: retrying cannot help until tags are deleted (clients retry a 429).
  return new OciError('DENIED', `repository ${repo} would have more than ${maxTags} tags (--max-tags-per-repository): delete tags first`, {
    status: 400,
    detail: { limit: maxTags },
  });
}
