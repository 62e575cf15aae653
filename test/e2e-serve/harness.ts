import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessLogRecord } from '../../src/server/http/access-log.js';
import type { ServeRuntime } from '../../src/server/runtime.js';
import { addUser } from '../../src/server/security/htpasswd.js';
import { startServeRuntime, type ServeFlags } from '../helpers/serve-runtime.js';

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

export async function startSecureServe(flags: ServeFlags = {}, options: { root?: string } = {}): Promise<SecureServe> {
  const lines: string[] = [];
  const records: AccessLogRecord[] = [];
  const warnings: string[] = [];
  const hooks = { log: (l: string) => lines.push(l), onRecord: (r: AccessLogRecord) => records.push(r), warn: (m: string) => warnings.push(m) };
  const serve = await startServeRuntime({ logFormat: 'json', ...flags }, { ...(options.root ? { root: options.root } : {}), prefix: 'regctl-e2e-', hooks });
  return { ...serve, lines, records, warnings };
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
