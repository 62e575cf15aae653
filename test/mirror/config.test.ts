import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { resolveServeSettings } from '../../src/server/ops/config.js';
import { MirrorNamespaces, parseMirrorSpec } from '../../src/server/mirror/namespaces.js';
import { parseChallenge } from '../../src/server/mirror/upstream.js';

describe('mirror settings and names', () => {
  it('a config file gives upstreams as a map or a list; relative mirror-auth is resolved against the file', () => {
    const file = { path: '/etc/regctl/serve.yaml', data: { mirror: { 'docker.io': 'https://registry-1.docker.io' }, 'mirror-default': 'docker.io', 'mirror-auth': 'auth.json', mirrorTagTtl: '10m' } };
    const { settings } = resolveServeSettings({ file });
    expect(settings.mirror).toEqual(['docker.io=https://registry-1.docker.io']);
    expect(settings.mirrorDefault).toBe('docker.io');
    expect(settings.mirrorAuth).toBe('/etc/regctl/auth.json');
    expect(settings.mirrorTagTtlMs).toBe(600_000);
    const list = resolveServeSettings({ file: { path: '/c.yaml', data: { mirror: ['ghcr.io=https://ghcr.io'] } } });
    expect(list.settings.mirror).toEqual(['ghcr.io=https://ghcr.io']);
  });

  it.each([
    [() => resolveServeSettings({ flags: { mirrorDefault: 'docker.io' } }), '--mirror-default docker.io needs --mirror docker.io=URL'],
    [() => parseMirrorSpec('docker.io'), 'invalid --mirror "docker.io": expected PREFIX=URL'],
    [() => parseMirrorSpec('docker.io=ftp://x'), 'invalid --mirror URL for docker.io'],
    [() => parseMirrorSpec('docker.io=https://user:secret@hub'), 'without credentials (use --mirror-auth)'],
    [() => parseMirrorSpec('Docker..io=https://x'), 'invalid --mirror prefix'],
    [() => new MirrorNamespaces([parseMirrorSpec('a.io=https://a'), parseMirrorSpec('a.io=https://b')]), '--mirror a.io given twice'],
  ])('refuses bad input in one line (%#)', (fn, message) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('secret');
  });

  it('maps names: namespaced, default mode, Docker Hub library/', () => {
    const ns = new MirrorNamespaces([parseMirrorSpec('docker.io=https://registry-1.docker.io/'), parseMirrorSpec('ghcr.io=https://ghcr.io')], 'docker.io');
    expect(ns.namespaced('docker.io/alpine')).toMatchObject({ remoteName: 'library/alpine', cacheName: 'docker.io/alpine', viaDefault: false });
    expect(ns.namespaced('ghcr.io/org/img')).toMatchObject({ remoteName: 'org/img', cacheName: 'ghcr.io/org/img' });
    expect(ns.namespaced('ghcr.io/org/img')!.upstream.url).toBe('https://ghcr.io');
    expect(ns.namespaced('team/app')).toBeUndefined();
    expect(ns.viaDefault('library/alpine')).toMatchObject({ remoteName: 'library/alpine', cacheName: 'docker.io/library/alpine', viaDefault: true });
    expect(ns.viaDefault('ghcr.io/org/img')).toBeUndefined();
  });

  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="regctl"')).toEqual({ scheme: 'basic', params: { realm: 'regctl' } });
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
  });
});
