import { afterEach, describe, expect, it } from 'vitest';
import {
  apiHost,
  formatReference,
  getDefaultRegistry,
  isLoopbackRegistry,
  parseReference,
  parseRegistryArg,
  parseRepository,
  setDefaultRegistry,
  type Reference,
} from '../../src/ref/reference.js';
import { explicitScheme, forgetSchemes } from '../../src/ref/scheme.js';
import { ReferenceError } from '../../src/errors.js';

const D256 = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;

const valid: Array<[string, Reference]> = [
  ['alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
  ['alpine:3.20', { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' }],
  ['library/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
  ['docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
  ['index.docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
  ['registry-1.docker.io/bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' }],
  ['zhang/hello-world', { registry: 'docker.io', repository: 'zhang/hello-world', tag: 'latest' }],
  ['localhost:5000/image1', { registry: 'localhost:5000', repository: 'image1', tag: 'latest' }],
  ['localhost/image1', { registry: 'localhost', repository: 'image1', tag: 'latest' }],
  ['127.0.0.1:5000/zhang/hello-world:latest', { registry: '127.0.0.1:5000', repository: 'zhang/hello-world', tag: 'latest' }],
  ['[::1]:5000/x', { registry: '[::1]:5000', repository: 'x', tag: 'latest' }],
  ['[::1]/x:1', { registry: '[::1]', repository: 'x', tag: '1' }],
  ['ghcr.io/org/team/app:v1.2.3', { registry: 'ghcr.io', repository: 'org/team/app', tag: 'v1.2.3' }],
  ['Registry.Example.COM/app', { registry: 'registry.example.com', repository: 'app', tag: 'latest' }],
  [`alpine@${D256}`, { registry: 'docker.io', repository: 'library/alpine', digest: D256 }],
  [`alpine:3@${D256}`, { registry: 'docker.io', repository: 'library/alpine', tag: '3', digest: D256 }],
  [`localhost:5000/a/b@${D512}`, { registry: 'localhost:5000', repository: 'a/b', digest: D512 }],
  ['a.b/c__d/e-f/g.h:_x', { registry: 'a.b', repository: 'c__d/e-f/g.h', tag: '_x' }],
  ['host:443/a---b', { registry: 'host:443', repository: 'a---b', tag: 'latest' }],
  [`app:${'t'.repeat(128)}`, { registry: 'docker.io', repository: 'library/app', tag: 't'.repeat(128) }],
  ['docker://localhost:5000/app:1', { registry: 'localhost:5000', repository: 'app', tag: '1' }],
  ['app:1.9.2-rc.1', { registry: 'docker.io', repository: 'library/app', tag: '1.9.2-rc.1' }],
  ['my-registry.local:5000/team/app:sha-3f2a1c', { registry: 'my-registry.local:5000', repository: 'team/app', tag: 'sha-3f2a1c' }],
];

const invalid: Array<[string, RegExp]> = [
  ['', /empty/],
  ['   ', /empty/],
  ['Alpine', /lowercase/],
  ['localhost:5000/MyImage', /component "MyImage" must be lowercase/],
  [`app:${'t'.repeat(129)}`, /longer than 128/],
  ['app:-bad', /invalid tag "-bad"/],
  ['app:.bad', /invalid tag/],
  ['app:bad!', /invalid tag "bad!"/],
  ['app:', /invalid tag: empty/],
  ['app@', /empty digest/],
  ['app@sha256:abc', /64 lowercase hex/],
  [`app@sha256:${'A'.repeat(64)}`, /lowercase hex/],
  [`app@md5:${'a'.repeat(32)}`, /unsupported algorithm "md5"/],
  ['app@sha256', /expected ALGORITHM:HEX/],
  [`app@sha512:${'a'.repeat(64)}`, /sha512 needs 128/],
  ['localhost:5000/', /empty repository/],
  ['localhost:5000/a//b', /empty path component/],
  ['localhost:5000/a/../b', /component ".." /],
  ['a_/b', /component "a_"/],
  ['a/b_', /component "b_"/],
  ['localhost:99999/a', /bad port "99999"/],
  ['localhost:port/a', /bad port "port"/],
  ['[::1/a', /unclosed \[/],
  ['-bad.com/a', /bad host name/],
  ['app name', /whitespace/],
  [`${'a'.repeat(256)}`, /longer than 255/],
  ['a..b/c', /bad host name/],
];

describe('parseReference', () => {
  it.each(valid)('parses %s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each(invalid)('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(ReferenceError);
    expect(() => parseReference(input)).toThrow(message);
  });

  it('leaves the tag off when asked', () => {
    expect(parseReference('localhost:5000/app', { defaultTag: false })).toEqual({ registry: 'localhost:5000', repository: 'app' });
  });

  it('round-trips through formatReference', () => {
    for (const [input] of valid) {
      const ref = parseReference(input);
      expect(parseReference(formatReference(ref))).toEqual(ref);
    }
  });
});

describe('parseRepository', () => {
  it('accepts HOST/REPO', () => {
    expect(parseRepository('localhost:5000/image1')).toEqual({ registry: 'localhost:5000', repository: 'image1' });
  });
  it('refuses a tag', () => {
    expect(() => parseRepository('localhost:5000/image1:latest')).toThrow(/without tag or digest/);
  });
});

describe('hosts', () => {
  it.each([
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.8.9.10', true],
    ['[::1]:5000', true],
    ['app.localhost:80', true],
    ['docker.io', false],
    ['10.0.0.1:5000', false],
    ['localhost.example.com', false],
  ])('isLoopbackRegistry(%s) = %s', (host, expected) => {
    expect(isLoopbackRegistry(host)).toBe(expected);
  });

  it('maps Docker Hub to its API host', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('localhost:5000')).toBe('localhost:5000');
  });
});

describe('schemes and the default registry', () => {
  afterEach(() => {
    forgetSchemes();
    setDefaultRegistry(undefined);
  });

  it('http:// and https:// name the first component a host and are remembered for it', () => {
    expect(parseReference('http://registry/app:1')).toEqual({ registry: 'registry', repository: 'app', tag: '1' });
    expect(explicitScheme('registry')).toBe('http');
    expect(parseReference('HTTPS://[::1]:5443/team/app@sha256:' + 'a'.repeat(64))).toMatchObject({ registry: '[::1]:5443', repository: 'team/app' });
    expect(explicitScheme('[::1]:5443')).toBe('https');
    expect(parseReference('docker://alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
    expect(explicitScheme('docker.io')).toBeUndefined();
    expect(() => parseReference('https://registry/app')).toThrow('registry is named both as http:// and https://: use one');
    expect(() => parseReference('oci://x/y')).toThrow(/unsupported scheme oci:\/\//);
  });

  it('parseRegistryArg takes what people paste', () => {
    expect(parseRegistryArg('https://Registry.Example:8443/v2/')).toBe('registry.example:8443');
    expect(explicitScheme('registry.example:8443')).toBe('https');
    expect(parseRegistryArg('localhost:5000')).toBe('localhost:5000');
    expect(explicitScheme('localhost:5000')).toBeUndefined();
  });

  it('a registry where a repository is wanted says so', () => {
    for (const input of ['localhost:5000', 'localhost', '10.0.0.1:5000', 'registry.lan:5000', 'http://registry.lan:5000']) {
      expect(() => parseRepository(input), input).toThrow(/is a registry, not a repository: .* regctl catalog /);
    }
    // Still Docker's rule for names that may be Docker Hub repositories.
    expect(parseRepository('alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine' });
  });

  it('names without a host go to the default registry when one is set', () => {
    setDefaultRegistry('localhost:5000');
    expect(getDefaultRegistry()).toBe('localhost:5000');
    expect(parseReference('myimage:1.9.2')).toEqual({ registry: 'localhost:5000', repository: 'myimage', tag: '1.9.2' });
    expect(parseReference('docker.io/alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
    setDefaultRegistry(undefined);
    expect(parseReference('myimage')).toEqual({ registry: 'docker.io', repository: 'library/myimage', tag: 'latest' });
  });
});
