import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveServeSettings, type ServeSettings } from '../../src/server/ops/config.js';
import type { AccessLogRecord } from '../../src/server/http/access-log.js';
import { createServeRuntime, type ServeRuntime } from '../../src/server/runtime.js';
import { addUser } from '../../src/server/security/htpasswd.js';

/**
 * `regctl serve` as the CLI assembles it (server/runtime.ts from resolved settings), in-process on
 * 127.0.0.1:0, with every access-log line and record captured.
 */
export interface SecureServe {
  url: string;
  registry: string;
  root: string;
  runtime: ServeRuntime;
  lines: string[];
  records: AccessLogRecord[];
  warnings: string[];
  close(): Promise<void>;
}

export async function startSecureServe(flags: Partial<Record<keyof ServeSettings, unknown>> = {}, options: { root?: string } = {}): Promise<SecureServe> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'regctl-e2e-')));
  const { settings } = resolveServeSettings({ flags: { logFormat: 'json', ...flags }, env: {} });
  const lines: string[] = [];
  const records: AccessLogRecord[] = [];
  const warnings: string[] = [];
  const runtime = await createServeRuntime({
    settings,
    root,
    log: (l) => lines.push(l),
    onRecord: (r) => records.push(r),
    warn: (m) => warnings.push(m),
  });
  const bound = await runtime.listen(0, '127.0.0.1');
  return {
    url: bound.url,
    registry: `127.0.0.1:${bound.port}`,
    root,
    runtime,
    lines,
    records,
    warnings,
    async close() {
      await runtime.close();
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}

export const PASSWORDS = {
  reader: 'reader-Pa55!word',
  writer: 'writer-Pa55!word',
  deleter: 'deleter-Pa55!word',
  admin: 'admin-Pa55!word',
} as const;
export type UserName = keyof typeof PASSWORDS;

export const ACCESS_YAML = `
groups:
  team: [writer, deleter]
anonymous: ["public/**"]
rules:
  - repositories: ["team/**"]
    users: [reader]
    actions: [read]
  - repositories: ["team/**"]
    groups: [team]
    actions: [read, write]
  - repositories: ["team/**"]
    users: [deleter]
    actions: [delete]
  - repositories: ["**"]
    users: [admin]
    actions: ["*"]
`;

/** htpasswd (bcrypt cost 4: fast tests) and access file for the four users, in `dir`. */
export async function writeUsers(dir: string): Promise<{ htpasswd: string; access: string }> {
  const htpasswd = join(dir, 'htpasswd');
  for (const [u, p] of Object.entries(PASSWORDS)) await addUser(htpasswd, u, p, { cost: 4 });
  const access = join(dir, 'access.yaml');
  await writeFile(access, ACCESS_YAML);
  return { htpasswd, access };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Every secret a test used, in the forms it could leak in (plain, base64 of user:pass, header value). */
export function secretForms(): string[] {
  return Object.entries(PASSWORDS).flatMap(([u, p]) => [p, Buffer.from(`${u}:${p}`).toString('base64'), basic(u, p)]);
}
