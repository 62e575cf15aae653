import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createRequire } from 'node:module';
import { RegctlError } from '../../errors.js';
import { isValidRepository } from '../../ref/reference.js';
import { compileGlob, GlobError, matchGlob, type RepositoryGlob } from './glob.js';

/**
 * Per-repository access control (`regctl serve --access FILE`), JSON or YAML:
 *
 *   groups:                      # optional: group name -> user names
 *     developers: [alice, bob]
 *   anonymous: ["public/**"]     # optional: globs anyone may read without logging in
 *   rules:                       # who may do what where; rules add up, nothing subtracts
 *     - repositories: ["team/**", "tools/*"]
 *       users: [carol]           # "*" means every authenticated user
 *       groups: [developers]
 *       actions: [read, write]   # read, write, delete, or "*" for all three
 *
 * `read` = pull (GET/HEAD manifests, blobs, tags, referrers); `write` = push (uploads, manifest
 * PUT, cancelling an upload); `delete` = DELETE of manifests, tags and blobs. Actions are
 * independent: a pusher normally needs [read, write]. Anonymous globs apply to everybody.
 */

export type Action = 'read' | 'write' | 'delete';
export const ACTIONS: readonly Action[] = ['read', 'write', 'delete'];

export class AccessPolicyError extends RegctlError {
  constructor(message: string) {
    super('ACCESS_INVALID', message, { exitCode: 2 });
  }
}

/** What the server asks. Implemented by AccessPolicy (a file) and by the two built-in policies. */
export interface AccessControl {
  can(user: string | undefined, action: Action, repository: string): boolean;
  /** The repositories `user` may read, in the given order (for /v2/_catalog). */
  filterCatalog(user: string | undefined, repositories: readonly string[]): string[];
  /** Whether an anonymous caller may read at least one glob (so /v2/_catalog may answer them). */
  readonly anonymousReads: boolean;
  /** True when every authenticated user can read everything (cross-repository mount needs no check). */
  readonly unrestricted: boolean;
  /** Pick up changes to the backing file, if any; authorize awaits it before each decision. */
  refresh?(): Promise<void>;
}

interface Grant {
  globs: RepositoryGlob[];
  users: Set<string>;
  anyUser: boolean;
  actions: Set<Action>;
}

const TOP_KEYS = new Set(['groups', 'anonymous', 'rules']);
const RULE_KEYS = new Set(['repositories', 'users', 'groups', 'actions']);
const NAME = /^[A-Za-z0-9._@-]{1,255}$/;

export class AccessPolicy implements AccessControl {
  private readonly grants: Grant[];
  private readonly anonymous: RepositoryGlob[];
  readonly anonymousReads: boolean;
  readonly unrestricted = false;

  private constructor(grants: Grant[], anonymous: RepositoryGlob[]) {
    this.grants = grants;
    this.anonymous = anonymous;
    this.anonymousReads = anonymous.length > 0;
  }

  /** Validate a parsed document; errors are one line naming the source and the bad key. */
  static fromObject(doc: unknown, source = 'access policy'): AccessPolicy {
    const fail = (where: string, msg: string): never => {
      throw new AccessPolicyError(`${source}: ${where}: ${msg}`);
    };
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('top level', 'expected an object with groups, anonymous, rules');
    const top = doc as Record<string, unknown>;
    for (const k of Object.keys(top)) if (!TOP_KEYS.has(k)) fail(`"${k}"`, 'unknown key (expected groups, anonymous, rules)');

    const groups = new Map<string, Set<string>>();
    if (top.groups !== undefined && top.groups !== null) {
      if (typeof top.groups !== 'object' || Array.isArray(top.groups)) fail('groups', 'expected a map of group name to a list of users');
      for (const [g, members] of Object.entries(top.groups as Record<string, unknown>)) {
        if (!NAME.test(g)) fail(`groups.${g}`, 'invalid group name');
        groups.set(g, new Set(stringList(members, `groups.${g}`, fail, (u, w) => userName(u, w, fail))));
      }
    }

    const globs = (value: unknown, where: string): RepositoryGlob[] =>
      stringList(value, where, fail).map((g, i) => {
        try {
          return compileGlob(g);
        } catch (e) {
          return fail(`${where}[${i}]`, e instanceof GlobError ? e.message : 'invalid glob');
        }
      });

    const anonymous = top.anonymous === undefined || top.anonymous === null ? [] : globs(top.anonymous, 'anonymous');

    const grants: Grant[] = [];
    if (top.rules !== undefined && top.rules !== null) {
      if (!Array.isArray(top.rules)) fail('rules', 'expected a list of rules');
      (top.rules as unknown[]).forEach((r, i) => {
        const where = `rules[${i}]`;
        if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(where, 'expected an object');
        const rule = r as Record<string, unknown>;
        for (const k of Object.keys(rule)) if (!RULE_KEYS.has(k)) fail(`${where}.${k}`, 'unknown key (expected repositories, users, groups, actions)');
        if (rule.repositories === undefined) fail(`${where}.repositories`, 'missing');
        const repoGlobs = globs(rule.repositories, `${where}.repositories`);
        if (repoGlobs.length === 0) fail(`${where}.repositories`, 'empty list');
        const users = new Set<string>();
        let anyUser = false;
        if (rule.users !== undefined) {
          stringList(rule.users, `${where}.users`, fail).forEach((u, j) => {
            if (u === '*') anyUser = true;
            else users.add(userName(u, `${where}.users[${j}]`, fail));
          });
        }
        if (rule.groups !== undefined) {
          stringList(rule.groups, `${where}.groups`, fail).forEach((g, j) => {
            const members = groups.get(g);
            if (!members) fail(`${where}.groups[${j}]`, `unknown group "${g}"`);
            for (const u of members!) users.add(u);
          });
        }
        if (rule.users === undefined && rule.groups === undefined) fail(where, 'needs users or groups');
        if (rule.actions === undefined) fail(`${where}.actions`, 'missing');
        const actions = new Set<Action>();
        stringList(rule.actions, `${where}.actions`, fail).forEach((a, j) => {
          if (a === '*') ACTIONS.forEach((x) => actions.add(x));
          else if ((ACTIONS as readonly string[]).includes(a)) actions.add(a as Action);
          else fail(`${where}.actions[${j}]`, `unknown action "${a}" (read, write, delete or *)`);
        });
        if (actions.size === 0) fail(`${where}.actions`, 'empty list');
        grants.push({ globs: repoGlobs, users, anyUser, actions });
      });
    }
    return new AccessPolicy(grants, anonymous);
  }

  /** Parse JSON or YAML text (by extension; `.json` is JSON, anything else YAML, a superset). */
  static parse(text: string, source = 'access policy'): AccessPolicy {
    let doc: unknown;
    try {
      doc = extname(source).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
    } catch (e) {
      const first = e instanceof Error ? (e.message.split('\n')[0] ?? '').replace(/:$/, '') : 'syntax error';
      // In YAML a bare * starts an alias: the usual slip when writing globs.
      const hint = /alias/i.test(first) ? ' (quote globs that start with *, e.g. "**")' : '';
      throw new AccessPolicyError(`${source}: cannot parse: ${first}${hint}`);
    }
    return AccessPolicy.fromObject(doc, source);
  }

  static async load(path: string): Promise<AccessPolicy> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new AccessPolicyError(`cannot read access file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    return AccessPolicy.parse(text, path);
  }

  can(user: string | undefined, action: Action, repository: string): boolean {
    if (!isValidRepository(repository)) return false;
    if (action === 'read' && this.anonymous.some((g) => matchGlob(g, repository))) return true;
    if (user === undefined) return false;
    return this.grants.some(
      (g) => g.actions.has(action) && (g.anyUser || g.users.has(user)) && g.globs.some((glob) => matchGlob(glob, repository)),
    );
  }

  filterCatalog(user: string | undefined, repositories: readonly string[]): string[] {
    return repositories.filter((r) => this.can(user, 'read', r));
  }
}

/** No access file, users configured: any authenticated user may do anything; anonymous nothing. */
export const authenticatedOnly: AccessControl = {
  can: (user, _action, repository) => user !== undefined && isValidRepository(repository),
  filterCatalog: (user, repos) => (user === undefined ? [] : [...repos]),
  anonymousReads: false,
  unrestricted: true,
};

/** No users at all (a private localhost registry): everyone may do anything. */
export const openAccess: AccessControl = {
  can: (_user, _action, repository) => isValidRepository(repository),
  filterCatalog: (_user, repos) => [...repos],
  anonymousReads: true,
  unrestricted: true,
};

function stringList<T = string>(
  value: unknown,
  where: string,
  fail: (where: string, msg: string) => never,
  map: (s: string, where: string) => T = (s) => s as unknown as T,
): T[] {
  // A single string is accepted for convenience: `users: alice`.
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) return fail(where, 'expected a list of strings');
  return list.map((v, i) => (typeof v === 'string' && v !== '' ? map(v, `${where}[${i}]`) : fail(`${where}[${i}]`, 'expected a non-empty string')));
}

function userName(u: string, where: string, fail: (where: string, msg: string) => never): string {
  // eslint-disable-next-line no-control-regex
  if (u.length > 255 || /[:\s\x00-\x1f\x7f]/.test(u)) return fail(where, 'invalid user name');
  return u;
}

export interface AccessFileOptions {
  /** Stat the file at most this often (ms). Default 1000. */
  checkIntervalMs?: number;
  /** A changed file that fails validation keeps the previous rules in force and is reported here. */
  onReloadError?: (error: Error) => void;
  now?: () => number;
}

/** An access file that is re-read when it changes (mtime, size or inode), so rules apply without a restart. */
export class AccessPolicyFile implements AccessControl {
  readonly path: string;
  readonly unrestricted = false;
  private policy: AccessPolicy;
  private identity: string;
  private lastCheck: number;
  private pending: Promise<void> | undefined;
  private readonly options: AccessFileOptions;

  private constructor(path: string, policy: AccessPolicy, identity: string, options: AccessFileOptions) {
    this.path = path;
    this.policy = policy;
    this.identity = identity;
    this.options = options;
    this.lastCheck = (options.now ?? Date.now)();
  }

  static async open(path: string, options: AccessFileOptions = {}): Promise<AccessPolicyFile> {
    const identity = await fileIdentity(path);
    return new AccessPolicyFile(path, await AccessPolicy.load(path), identity, options);
  }

  get anonymousReads(): boolean {
    return this.policy.anonymousReads;
  }

  can(user: string | undefined, action: Action, repository: string): boolean {
    return this.policy.can(user, action, repository);
  }

  filterCatalog(user: string | undefined, repositories: readonly string[]): string[] {
    return this.policy.filterCatalog(user, repositories);
  }

  refresh(): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    if (now - this.lastCheck < (this.options.checkIntervalMs ?? 1000)) return Promise.resolve();
    this.lastCheck = now;
    this.pending ??= (async () => {
      try {
        const identity = await fileIdentity(this.path);
        if (identity === this.identity) return;
        this.policy = await AccessPolicy.load(this.path);
        this.identity = identity;
      } catch (e) {
        this.options.onReloadError?.(e instanceof Error ? e : new Error(String(e)));
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}

async function fileIdentity(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (e) {
    throw new AccessPolicyError(`cannot read access file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** yaml, loaded on first use: every `regctl serve` loads this module, few have a YAML policy (~50 ms). */
let yamlParse: (typeof import('yaml'))['parse'] | undefined;
function parseYaml(text: string, options: { uniqueKeys: boolean; maxAliasCount: number }): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text, options);
}
