/**
 * Token scopes `repository:NAME:pull,push`. Merging keeps one entry per resource with the union
 * of actions, so a retry after `insufficient_scope` asks for everything at once.
 */
export function mergeScopes(...lists: (string[] | undefined)[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const list of lists) {
    for (const scope of list ?? []) {
      for (const s of scope.split(' ')) {
        if (s === '') continue;
        const last = s.lastIndexOf(':');
        if (last <= 0) continue;
        const resource = s.slice(0, last);
        const actions = byResource.get(resource) ?? new Set<string>();
        for (const a of s.slice(last + 1).split(',')) if (a) actions.add(a);
        byResource.set(resource, actions);
      }
    }
  }
  return [...byResource.entries()]
    .map(([res, actions]) => `${res}:${[...actions].sort().join(',')}`)
    .sort();
}

export function repositoryScope(name: string, ...actions: string[]): string {
  return `repository:${name}:${actions.join(',')}`;
}

export const CATALOG_SCOPE = 'registry:catalog:*';
