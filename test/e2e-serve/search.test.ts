import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { findTool } from '../helpers/tools.js';
import { basic, PASSWORDS, startSecureServe, writeUsers, type SecureServe } from './harness.js';

/**
 * GET /v1/search on `regctl serve` with users and access rules (anonymous read on public/**):
 * the Docker v1 answer, filtered by the caller's read rights, bounded parameters, and the real
 * `podman search` (which sends no credentials) seeing exactly the anonymous part.
 */

let dir: string;
let s: SecureServe;
const REPOS = ['public/app', 'public/tools', 'public/webapp', 'secret/app', 'team/app', 'team/application'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-search-'));
  const files = await writeUsers(dir);
  s = await startSecureServe({ ...files });
  const admin = new RegistryClient({ credentials: async () => ({ username: 'admin', password: PASSWORDS.admin }) });
  const image = makeImage({ layers: [16] });
  for (const repo of REPOS) await pushImage(admin.repository(s.registry, repo), image, 'v1');
}, 60_000);

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

async function search(query: string, user?: keyof typeof PASSWORDS): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${s.url}/v1/search?${query}`, user ? { headers: { authorization: basic(user, PASSWORDS[user]) } } : {});
  return { status: res.status, body: await res.json() };
}

const hit = (name: string) => ({ name, description: '', star_count: 0, is_official: false, is_automated: false });

describe('GET /v1/search', () => {
  it('anonymous: the Docker v1 shape, only what anonymous may read, prefix matches first', async () => {
    expect(await search('q=app')).toEqual({
      status: 200,
      body: { num_results: 2, num_pages: 1, page: 1, page_size: 25, query: 'app', results: [hit('public/app'), hit('public/webapp')] },
    });
  });

  it('a reader also sees team/**; the admin sees everything; matching is case-insensitive', async () => {
    const reader = (await search('q=APP', 'reader')).body as { results: Array<{ name: string }> };
    expect(reader.results.map((r) => r.name)).toEqual(['public/app', 'team/app', 'team/application', 'public/webapp']);
    const admin = (await search('q=app', 'admin')).body as { results: Array<{ name: string }> };
    expect(admin.results.map((r) => r.name)).toEqual(['public/app', 'secret/app', 'team/app', 'team/application', 'public/webapp']);
  });

  it('pages: n and page', async () => {
    expect(await search('q=app&n=2&page=2', 'admin')).toEqual({
      status: 200,
      body: { num_results: 5, num_pages: 3, page: 2, page_size: 2, query: 'app', results: [hit('team/app'), hit('team/application')] },
    });
    expect(((await search('q=app&n=2&page=9', 'admin')).body as { results: unknown[] }).results).toEqual([]);
  });

  it('out-of-range parameters: 400 with an OCI error', async () => {
    for (const q of ['q=a&n=0', 'q=a&n=101', 'q=a&n=x', 'q=a&page=0', 'q=a&page=100001', `q=${'a'.repeat(256)}`]) {
      const r = await search(q);
      expect(r.status, q).toBe(400);
      expect((r.body as { errors: Array<{ code: string }> }).errors[0]!.code, q).toBe('UNSUPPORTED');
    }
    expect((await search(`q=${'a'.repeat(255)}`)).status).toBe(200);
  });

  it('POST is refused with 405', async () => {
    const res = await fetch(`${s.url}/v1/search?q=a`, { method: 'POST' });
    expect(res.status).toBe(405);
    await res.arrayBuffer();
  });
});

const podman = findTool('podman');
describe.skipIf(!podman)('podman search', () => {
  it('lists exactly the names anonymous may read', async () => {
    const home = join(dir, 'podman-home');
    const { stdout } = await promisify(execFile)(
      podman!,
      ['search', '--tls-verify=false', '--format', '{{.Name}}', `${s.registry}/app`],
      { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_RUNTIME_DIR: join(home, 'run') }, timeout: 60_000 },
    );
    expect(stdout.trim().split('\n')).toEqual([`${s.registry}/public/app`, `${s.registry}/public/webapp`]);
  }, 90_000);
});
