import { UsageError } from '../errors.js';
import { formatReference, parseReference, validateTag, type Reference } from '../ref/reference.js';

/**
 * Where `retag SRC DEST...` writes. DEST is read relative to SRC:
 *   `stable`                     a tag in SRC's repository (no `/` and no `:`)
 *   `other/repo:stable`, `other:stable`   a repository on SRC's registry (first part not a host)
 *   `host:5000/other:stable`     a full reference; must be on SRC's registry
 * A destination needs a tag: retag writes names, a digest is not one.
 */
export function parseRetagTarget(source: Reference, input: string): Reference {
  if (!input.includes('/') && !input.includes(':') && !input.includes('@')) {
    validateTag(input);
    return { registry: source.registry, repository: source.repository, tag: input };
  }
  const first = input.split('/')[0]!;
  const hasHost = input.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  const ref = parseReference(hasHost ? input : `${source.registry}/${input}`, { defaultTag: false });
  if (ref.digest !== undefined || ref.tag === undefined) {
    throw new UsageError(`retag destination "${input}" needs a tag (and no digest)`);
  }
  if (ref.registry !== source.registry) {
    throw new UsageError(
      `${formatReference(ref)} is on another registry than ${source.registry}: retag stays within one registry; use regctl copy ${formatReference(source)} ${formatReference(ref)}`,
    );
  }
  return ref;
}
