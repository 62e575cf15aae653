import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVariable, parseUserPassword } from '../../src/config/job-credentials.js';
import { RegistryClient } from '../../src/registry/client.js';
import { addUser } from '../../src/server/security/htpasswd.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startSecureServe, type SecureServe } from '../e2e-serve/harness.js';

/**
 * A CI job with two authenticated registries and no `regctl login`: credentials come from the
 * environment (or a --creds-file) only, reach both registries in one copy, are never printed
 * (not even with --verbose, not in errors) and nothing is written under HOME or XDG folders.
 */

const SRC_USER = 'src-robot';
const SRC_PASS = 'Src-9d1f2e-Pa55!';
const DST_USER = 'dst-robot';
const DST_PASS = 'Dst-7c3a0b-Pa55!';
const SECRETS = [
  SRC_PASS,
  DST_PASS,
  Buffer.from(`${SRC_USER}:${SRC_PASS}`).toString('base64'),
  Buffer.from(`${DST_USER}:${DST_PASS}`).toString('base64'),
];

let dir: string;
let src: SecureServe;
let dst: SecureServe;
const image = makeImage();
const outputs: CliResult[] = [];

/** A job's environment: a fresh HOME and XDG folders, no saved store or Docker config. */
async function jobEnv(extra: NodeJS.ProcessEnv): Promise<{ env: NodeJS.ProcessEnv; home: string }> {
  const home = await mkdtemp(join(dir, 'home-'));
  return {
    home,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CACHE_HOME: join(home, '.cache'),
      REGCTL_CONFIG_DIR: undefined,
      DOCKER_CONFIG: undefined,
      REGISTRY_AUTH_FILE: undefined,
      REGCTL_CREDS_FILE: undefined,
      REGCTL_AUTH: undefined,
      REGCTL_REGISTRY: '',
      ...extra,
    },
  };
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const r = await runCli(args, { env });
  outputs.push(r);
  return r;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regctl-job-creds-'));
  await addUser(join(dir, 'src.htpasswd'), SRC_USER, SRC_PASS, { cost: 4 });
  await addUser(join(dir, 'dst.htpasswd'), DST_USER, DST_PASS, { cost: 4 });
  src = await startSecureServe({ htpasswd: join(dir, 'src.htpasswd') });
  dst = await startSecureServe({ htpasswd: join(dir, 'dst.htpasswd') });
  const seed = new RegistryClient({ credentials: async () => ({ username: SRC_USER, password: SRC_PASS }) });
  await pushImage(seed.repository(src.registry, 'team/app'), image, 'v1');
});

afterAll(async () => {
  expect(outputs.length).toBeGreaterThan(3);
  for (const o of outputs) for (const s of SECRETS) expect(`${o.stdout}${o.stderr}`).not.toContain(s);
  await src?.close();
  await dst?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('credentials for jobs', () => {
  it('names the variable after the host', () => {
    expect(hostVariable('localhost:5000')).toBe('REGCTL_AUTH_LOCALHOST_5000');
    expect(hostVariable('127.0.0.1:5000')).toBe('REGCTL_AUTH_127_0_0_1_5000');
    expect(hostVariable('registry-1.example.com')).toBe('REGCTL_AUTH_REGISTRY_1_EXAMPLE_COM');
    expect(parseUserPassword('u:p:q')).toEqual({ username: 'u', password: 'p:q' });
    expect(parseUserPassword(Buffer.from('u:p').toString('base64'))).toEqual({ username: 'u', password: 'p' });
    expect(parseUserPassword('no-colon')).toBeUndefined();
  });

  it('without credentials: exit 4', async () => {
    const { env } = await jobEnv({});
    const r = await cli(['copy', `${src.registry}/team/app:v1`, `${dst.registry}/mirror/app:v1`], env);
    expect(r.code).toBe(4);
  });

  it('a --creds-file that cannot be read is a usage error before any request, even where no login is asked', async () => {
    const { env } = await jobEnv({});
    const missing = join(tmpdir(), 'regctl-no-such-creds.json');
    const r = await cli(['--creds-file', missing, 'tags', `${src.registry}/team/app`], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`error: --creds-file ${missing}: cannot read it (ENOENT)`);
  });

  it('REGCTL_AUTH_<HOST> for both registries (plain and base64): one copy, secrets never shown, no file written', async () => {
    const { env, home } = await jobEnv({
      [hostVariable(src.registry)]: `${SRC_USER}:${SRC_PASS}`,
      [hostVariable(dst.registry)]: Buffer.from(`${DST_USER}:${DST_PASS}`).toString('base64'),
    });
    const r = await cli(['--verbose', 'copy', `${src.registry}/team/app:v1`, `${dst.registry}/mirror/app:v1`], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(image.manifest.digest);
    // Both registries were sent credentials (masked in the log).
    expect(r.stderr).toMatch(new RegExp(`${src.registry.replace(/\./g, '\\.')}/v2/team/app/manifests/v1 -> 200 .*\\[Basic \\*\\*\\*\\]`));
    expect(r.stderr).toMatch(new RegExp(`PUT http://${dst.registry.replace(/\./g, '\\.')}/v2/mirror/app/manifests/v1 -> 201 .*\\[Basic \\*\\*\\*\\]`));
    const reader = new RegistryClient({ credentials: async () => ({ username: DST_USER, password: DST_PASS }) });
    expect((await reader.repository(dst.registry, 'mirror/app').getManifest('v1')).bytes.equals(image.manifest.bytes)).toBe(true);
    // Nothing under HOME (and so under the XDG folders inside it) was created.
    expect(await readdir(home, { recursive: true })).toEqual([]);
  });

  it('REGCTL_AUTH (JSON) and --creds-file (Docker config format)', async () => {
    const { env, home } = await jobEnv({ REGCTL_AUTH: JSON.stringify({ [`http://${src.registry}/`]: `${SRC_USER}:${SRC_PASS}` }) });
    const file = join(dir, 'job-auth.json');
    await writeFile(file, JSON.stringify({ auths: { [dst.registry]: { auth: Buffer.from(`${DST_USER}:${DST_PASS}`).toString('base64') } } }));
    const r = await cli(['copy', '--creds-file', file, `${src.registry}/team/app:v1`, `${dst.registry}/mirror/app:v2`], env);
    expect(r.code, r.stderr).toBe(0);
    const r2 = await cli(['copy', `${src.registry}/team/app:v1`, `${dst.registry}/mirror/app:v3`], { ...env, REGCTL_CREDS_FILE: file });
    expect(r2.code, r2.stderr).toBe(0);
    // The global option before the command, its value as the next word (README: "any command").
    const r3 = await cli(['--creds-file', file, 'tags', `${dst.registry}/mirror/app`], { ...env, REGCTL_AUTH: undefined });
    expect(r3).toEqual({ code: 0, stdout: 'v1\nv2\nv3\n', stderr: '' });
    expect(await readdir(home, { recursive: true })).toEqual([]);
  });

  it('the job source comes first; a bad value is a one-line usage error that does not show it', async () => {
    const { env } = await jobEnv({ [hostVariable(src.registry)]: `${SRC_USER}:wrong-${SRC_PASS}`, REGCTL_AUTH: JSON.stringify({ [src.registry]: `${SRC_USER}:${SRC_PASS}` }) });
    const wrong = await cli(['tags', `${src.registry}/team/app`], env);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).not.toContain('wrong-');
    const bad = await cli(['tags', `${src.registry}/team/app`], { ...env, [hostVariable(src.registry)]: `not*valid ${SRC_PASS}` });
    expect(bad).toEqual({ code: 2, stdout: '', stderr: `error: ${hostVariable(src.registry)}: expected user:password or its base64 (the value is not shown)\n` });
    const badJson = await cli(['tags', `${src.registry}/team/app`], { ...env, [hostVariable(src.registry)]: undefined, REGCTL_AUTH: `{"${src.registry}": ${SRC_PASS}` });
    expect(badJson.code).toBe(2);
    expect(badJson.stderr.trim().split('\n')).toHaveLength(1);
  });
});
