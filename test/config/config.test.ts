import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialChain } from '../../src/config/credentials.js';
import { dockerCredential, readDockerConfig, registryOfKey } from '../../src/config/docker.js';
import { ConfigStore, configDir } from '../../src/config/store.js';

let dir: string;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'regctl-config-'));
  env = { ...process.env, REGCTL_CONFIG_DIR: join(dir, 'regctl'), DOCKER_CONFIG: join(dir, 'docker'), PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function dockerConfig(json: unknown): void {
  mkdirSync(join(dir, 'docker'), { recursive: true });
  writeFileSync(join(dir, 'docker', 'config.json'), JSON.stringify(json));
}

/** A fake `docker-credential-NAME` on PATH that answers for one server URL. */
function helper(name: string, serverUrl: string, username: string, secret: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const file = join(dir, 'bin', `docker-credential-${name}`);
  writeFileSync(
    file,
    `#!/bin/sh\n[ "$1" = get ] || exit 2\nread url\nif [ "$url" = "${serverUrl}" ]; then printf '{"ServerURL":"%s","Username":"${username}","Secret":"${secret}"}' "$url"; else echo "credentials not found in native keychain"; exit 1; fi\n`,
  );
  chmodSync(file, 0o755);
}

describe('ConfigStore', () => {
  it('keeps settings and logins keyed by host names with dots, in a 0600 file', async () => {
    const s = new ConfigStore(env);
    await s.setSettings('registry.lan:5000', { insecure: true });
    await s.setCredential('registry.lan:5000', { username: 'u', password: 'p' });
    const again = new ConfigStore(env);
    expect(again.settings('registry.lan:5000')).toEqual({ insecure: true });
    expect(again.credential('registry.lan:5000')).toEqual({ username: 'u', password: 'p' });
    expect(again.path).toBe(join(dir, 'regctl', 'config.json'));
    expect(configDir({ HOME: '/home/x' })).toBe(process.platform === 'linux' ? '/home/x/.config/regctl' : configDir({ HOME: '/home/x' }));
    expect(statSync(again.path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(again.path, 'utf8')).registries).toEqual({ 'registry.lan:5000': { insecure: true } });
    expect(await again.deleteCredential('registry.lan:5000')).toBe(true);
    expect(await again.deleteCredential('registry.lan:5000')).toBe(false);
    await again.setSettings('registry.lan:5000', {});
    expect(again.allSettings()).toEqual({});
  });
});

describe("Docker's config.json", () => {
  it('maps auths keys to registry names', () => {
    expect(registryOfKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(registryOfKey('localhost:5000')).toBe('localhost:5000');
    expect(registryOfKey('http://Registry.Example.com:8443/v2/')).toBe('registry.example.com:8443');
    expect(registryOfKey('not a host')).toBeUndefined();
  });

  it('reads base64 auth, identity tokens, credHelpers and credsStore; never writes the file', async () => {
    helper('perhost', 'ghcr.example', 'helper-user', 'helper-secret');
    helper('store', 'https://index.docker.io/v1/', '<token>', 'refresh-123');
    const config = {
      auths: {
        'localhost:5000': { auth: Buffer.from('bob:s3cret:with:colons').toString('base64') },
        'https://id.example': { identitytoken: 'idt' },
        'https://index.docker.io/v1/': {},
      },
      credHelpers: { 'ghcr.example': 'perhost' },
      credsStore: 'store',
    };
    dockerConfig(config);
    const before = readFileSync(join(dir, 'docker', 'config.json'), 'utf8');
    const cfg = readDockerConfig(env);
    expect(await dockerCredential('localhost:5000', cfg, env)).toEqual({ username: 'bob', password: 's3cret:with:colons' });
    expect(await dockerCredential('id.example', cfg, env)).toEqual({ identityToken: 'idt' });
    expect(await dockerCredential('ghcr.example', cfg, env)).toEqual({ username: 'helper-user', password: 'helper-secret' });
    expect(await dockerCredential('docker.io', cfg, env)).toEqual({ identityToken: 'refresh-123' });
    // credsStore knows nothing about this host: the helper exits 1.
    expect(await dockerCredential('other.example', cfg, env)).toBeUndefined();
    expect(readFileSync(join(dir, 'docker', 'config.json'), 'utf8')).toBe(before);
  });

  it("regctl's own store wins over Docker's config; a broken Docker file is ignored with a warning", async () => {
    dockerConfig({ auths: { 'localhost:5000': { auth: Buffer.from('docker:pw').toString('base64') } } });
    const store = new ConfigStore(env);
    expect(await credentialChain(store, env)('localhost:5000')).toEqual({ username: 'docker', password: 'pw' });
    await store.setCredential('localhost:5000', { username: 'mine', password: 'pw2' });
    expect(await credentialChain(new ConfigStore(env), env)('localhost:5000')).toEqual({ username: 'mine', password: 'pw2' });
    writeFileSync(join(dir, 'docker', 'config.json'), '{not json');
    const warnings: string[] = [];
    expect(await credentialChain(store, env, (w) => warnings.push(w))('other:1')).toBeUndefined();
    expect(warnings).toEqual([`ignoring ${join(dir, 'docker', 'config.json')}: not valid JSON`]);
  });
});
