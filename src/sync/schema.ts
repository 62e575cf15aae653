/**
 * The JSON Schema of a sync file (draft-07). docs/sync.schema.json is a copy of it for editors
 * and other tools; test/sync/file.test.ts keeps the two equal.
 */
export const SYNC_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/regctl/regctl/docs/sync.schema.json',
  title: 'regctl sync file',
  description: 'What `regctl sync FILE` mirrors: a list of sources and targets with per-entry tag filters.',
  type: 'object',
  additionalProperties: false,
  required: ['sync'],
  properties: {
    concurrency: {
      description: 'Repositories synchronised at once (the command line --concurrency wins).',
      type: 'integer',
      minimum: 1,
      maximum: 64,
    },
    'rate-limit': {
      description: "What to do when a registry reports few pulls left (Docker Hub's RateLimit-Remaining).",
      type: 'object',
      additionalProperties: false,
      properties: {
        'min-remaining': { description: 'Do not start another repository below this many pulls left (default 10).', type: 'integer', minimum: 0 },
        'on-low': { description: 'stop: fail the remaining repositories (default); wait: pause, then go on.', enum: ['stop', 'wait'] },
        wait: { description: 'How long to pause with on-low: wait, e.g. 15m (default 10m, at most 6h).', type: 'string', pattern: '^[0-9]+(ms|s|m|h)$' },
      },
    },
    sync: {
      description: 'The entries, synchronised in parallel.',
      type: 'array',
      minItems: 1,
      items: { $ref: '#/definitions/entry' },
    },
  },
  definitions: {
    entry: {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'target'],
      properties: {
        source: {
          description: 'A repository (host/repo), an OCI layout (oci:DIR), or with repo-match a registry (host[/prefix]).',
          type: 'string',
          minLength: 1,
        },
        target: {
          description: 'A repository (host/repo) or an OCI layout (oci:DIR); with repo-match a registry (host[/prefix]) or oci:DIR (one layout per repository below it).',
          type: 'string',
          minLength: 1,
        },
        'repo-match': {
          description: "Sync every repository of the source registry whose name matches this regular expression (the registry's catalog).",
          type: 'string',
          minLength: 1,
        },
        tags: {
          type: 'object',
          additionalProperties: false,
          properties: {
            include: { description: 'Only tags matching one of these regular expressions.', $ref: '#/definitions/patterns' },
            exclude: { description: 'Never tags matching one of these regular expressions.', $ref: '#/definitions/patterns' },
            semver: { description: 'Only version tags (X.Y.Z, optional v) within this semver range, e.g. ">=1.20 <2".', type: 'string', minLength: 1 },
            latest: { description: 'Only the N highest tags (semver order, then name) left after the other filters.', type: 'integer', minimum: 1 },
          },
        },
        platform: { description: 'Copy just this platform (os/arch[/variant]) out of indexes.', type: 'string', pattern: '^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$' },
        referrers: { description: 'Also copy signatures, SBOMs and other referrers (default false).', type: 'boolean' },
        retag: { description: 'semver: after the sync, keep X.Y / X / latest at the target pointing at the newest copied release.', enum: ['semver'] },
      },
    },
    patterns: {
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      ],
    },
  },
} as const;
