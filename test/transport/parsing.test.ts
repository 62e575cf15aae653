import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from '../../src/transport/challenge.js';
import { mergeScopes } from '../../src/transport/scope.js';
import { parseRetryAfter, retryDelay } from '../../src/transport/retry.js';
import { redactUrl } from '../../src/transport/redact.js';
import { DEFAULT_RETRY } from '../../src/transport/types.js';
import { nextLink } from '../../src/registry/link.js';

describe('WWW-Authenticate', () => {
  it('parses a registry Bearer challenge with a quoted scope', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' } },
    ]);
  });
  it('parses Basic and several challenges in one header', () => {
    expect(parseWwwAuthenticate('Basic realm="reg", Bearer realm="http://a/t",error="insufficient_scope"')).toEqual([
      { scheme: 'basic', params: { realm: 'reg' } },
      { scheme: 'bearer', params: { realm: 'http://a/t', error: 'insufficient_scope' } },
    ]);
  });
  it('handles escapes, unquoted values and header arrays', () => {
    expect(parseWwwAuthenticate(['Basic realm="a \\"b\\""', 'Bearer realm=x'])).toEqual([
      { scheme: 'basic', params: { realm: 'a "b"' } },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});

describe('scopes', () => {
  it('merges actions per resource and sorts', () => {
    expect(mergeScopes(['repository:a:pull'], ['repository:a:push', 'repository:b:pull'], undefined)).toEqual([
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
    expect(mergeScopes(['registry:catalog:*'])).toEqual(['registry:catalog:*']);
  });
});

describe('Retry-After and backoff', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('1')).toBe(1000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('Thu, 01 Jan 2026 00:00:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
  it('caps Retry-After and the exponential delay', () => {
    expect(retryDelay(DEFAULT_RETRY, 1, 3_600_000)).toBe(DEFAULT_RETRY.maxRetryAfterMs);
    for (let attempt = 1; attempt < 12; attempt++) {
      const d = retryDelay(DEFAULT_RETRY, attempt);
      const exp = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempt - 1));
      expect(d).toBeGreaterThanOrEqual(exp / 2);
      expect(d).toBeLessThanOrEqual(exp);
    }
  });
});

describe('redactUrl', () => {
  it('drops user-info and masks signed query values', () => {
    expect(redactUrl('https://user:secret@host/v2/?X-Amz-Signature=abc&n=1')).toBe('https://host/v2/?X-Amz-Signature=***&n=1');
  });
});

describe('Link header', () => {
  it('finds rel="next" among several links', () => {
    expect(nextLink('</v2/_catalog?last=b&n=2>; rel="next"')).toBe('/v2/_catalog?last=b&n=2');
    expect(nextLink('<http://x/prev>; rel="prev", <http://x/next?a=1,2>; rel=next')).toBe('http://x/next?a=1,2');
    expect(nextLink('<http://x/prev>; rel="prev"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });
});
