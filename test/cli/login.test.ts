import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { makeImage, pushImage } from '../helpers/images.js';

const USER = 'ci-user';
const PASSWORD = 'Pw-4f9c1b-secret';
const WRONG = 'Wrong-77e2d0-secret';

describe('login, logout, config against an htpasswd docker-registry', () => {
  let d: Distribution;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const outputs: CliResult[] = [];
  const cli = async (args: string[], stdin?: string) => {
    const r = await runCli(args, { env, stdin });
    outputs.push(r);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regctl-login-'));
    env = { REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker') };
    d = await startDistribution({ users: { [USER]: PASSWORD } });
    const seed = new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }) });
    await pushImage(seed.repository(d.registry, 'private'), makeImage(), 'v1');
  });
  afterAll(async () => {
    // Nothing any command printed (stdout or stderr) may contain a credential.
    const secrets = [PASSWORD, WRONG, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), Buffer.from(`${USER}:${WRONG}`).toString('base64')];
    expect(outputs.length).toBeGreaterThan(5);
    for (const o of outputs) for (const s of secrets) expect(`${o.stdout}${o.stderr}`).not.toContain(s);
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without login: exit 4 and a hint', async () => {
    const r = await cli(['tags', `${d.registry}/private`]);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`regctl login ${d.registry}`);
  });

  it('wrong password: one-line error, exit 4, nothing stored', async () => {
    const r = await cli(['login', d.registry, '-u', USER, '--password-stdin'], `${WRONG}\n`);
    expect(r).toEqual({ code: 4, stdout: '', stderr: `error: login to ${d.registry} failed: the registry rejected the username or password\n` });
    expect((await cli(['config', 'show', '--json'])).stdout).toContain('"logins": []');
  });

  it('needs --password-stdin and a password', async () => {
    const r = await cli(['login', d.registry, '-u', USER]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--password-stdin/);
    expect((await cli(['login', d.registry, '-u', USER, '--password-stdin'], '')).code).toBe(2);
  });

  it('login verifies, stores (0600), and later commands authenticate; --verbose masks the header', async () => {
    const r = await cli(['login', d.registry, '-u', USER, '--password-stdin', '--verbose'], `${PASSWORD}\n`);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Login succeeded: ${d.registry}`);
    const file = join(dir, 'regctl', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).auths[d.registry]).toEqual({ username: USER, password: PASSWORD });
    const tags = await cli(['--verbose', 'tags', `${d.registry}/private`]);
    expect(tags.code).toBe(0);
    expect(tags.stdout).toBe('v1\n');
    expect(tags.stderr).toContain('[Basic ***]');
    const shown = await cli(['config', 'show']);
    expect(shown.stdout).toContain(`${d.registry}\tlogged in as ${USER}\n`);
  });

  it('logout removes the login', async () => {
    expect(await cli(['logout', d.registry])).toEqual({ code: 0, stdout: '', stderr: `Removed credentials for ${d.registry}\n` });
    expect((await cli(['logout', d.registry])).stderr).toBe(`Not logged in to ${d.registry}\n`);
    expect((await cli(['tags', `${d.registry}/private`])).code).toBe(4);
  });

  it('config set / show', async () => {
    const set = await cli(['config', 'set', 'registry.lan:5000', '--insecure']);
    expect(set).toEqual({ code: 0, stdout: '', stderr: 'registry.lan:5000: insecure (plain HTTP)\n' });
    expect(JSON.parse((await cli(['config', 'show', 'registry.lan:5000', '--json'])).stdout)).toEqual({
      path: join(dir, 'regctl', 'config.json'),
      defaultRegistry: 'docker.io',
      defaultRegistryFrom: 'docker',
      registries: { 'registry.lan:5000': { insecure: true } },
      logins: [],
    });
    const missing = await cli(['config', 'set', 'registry.lan:5000', '--ca-file', join(dir, 'nope.pem')]);
    expect(missing.code).toBe(2);
    expect((await cli(['config', 'set', 'registry.lan:5000', '--reset'])).stderr).toBe('registry.lan:5000: defaults\n');
  });
});

describe('help', () => {
  it.each(['catalog', 'tags', 'inspect', 'digest', 'manifest', 'login', 'logout', 'config'])('%s --help has examples', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`regctl ${cmd === 'config' ? 'config set' : cmd}`);
  });
});
