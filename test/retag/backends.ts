import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryClient } from '../../src/wiring/registry-client.js';
import type { Repository } from '../../src/registry/repository.js';
import { startDistribution } from '../helpers/distribution.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';

/** A registry the retag tests run against: regctl's own server or Debian's docker-registry. */
export interface Backend {
  registry: string;
  /** Requests the server saw (only regctl serve records them). */
  requests?: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export interface BackendKind {
  name: string;
  start(): Promise<Backend>;
}

// Both always run: a missing docker-registry or a broken serve helper fails the tests that use them.
export const BACKENDS: BackendKind[] = [
  { name: 'regctl serve', start: () => startServe() },
  { name: 'docker-registry', start: () => startDistribution() },
];

const isolatedDirs: string[] = [];
// Removed after each test file (they piled up in the temp folder, one per test).
afterAll(() => {
  for (const d of isolatedDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An environment with empty regctl and Docker config, so no stored credential or setting leaks in. */
export function isolatedEnv(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'regctl-retag-test-'));
  isolatedDirs.push(dir);
  return { ...process.env, REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), HOME: dir };
}

export function openRepository(env: NodeJS.ProcessEnv, registry: string, name: string): Repository {
  return createRegistryClient({ env }).repository(registry, name);
}

/** Every tag of a repository with its digest. */
export async function tagDigests(repo: Repository): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tag of (await repo.listTags()).sort()) {
    const h = await repo.headManifest(tag);
    if (h) out[tag] = h.digest;
  }
  return out;
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

/** Run the CLI with --verbose and return the requests the client made (from the request log). */
export async function runLogged(args: string[], env: NodeJS.ProcessEnv, opts: { stdin?: string } = {}): Promise<CliResult & { requests: LoggedRequest[] }> {
  const r = await runCli(['-v', ...args], { env, ...opts });
  const requests: LoggedRequest[] = [];
  const kept: string[] = [];
  for (const line of r.stderr.split('\n')) {
    const m = /^(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) -> (\d{3}) /.exec(line);
    if (m) requests.push({ method: m[1]!, path: new URL(m[2]!).pathname + new URL(m[2]!).search, status: Number(m[3]) });
    else kept.push(line);
  }
  return { ...r, stderr: kept.join('\n'), requests };
}

/** Requests that would move blob bytes: any upload step, and blob downloads. */
export function blobTraffic(requests: LoggedRequest[]): LoggedRequest[] {
  return requests.filter(
    (r) => /\/blobs\//.test(r.path) && (r.method === 'PATCH' || r.method === 'PUT' || r.method === 'GET' || (r.method === 'POST' && !/[?&]mount=/.test(r.path))),
  );
}
