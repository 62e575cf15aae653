import { describe, expect, it } from 'vitest';
import { basicChallenge, formatBasicAuth, hasBasicScheme, parseBasicAuth } from '../../src/server/security/basic-auth.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('parseBasicAuth', () => {
  it('decodes user and password, splitting at the first colon only', () => {
    expect(parseBasicAuth(`Basic ${b64('alice:pa:ss word')}`)).toEqual({ username: 'alice', password: 'pa:ss word' });
    expect(parseBasicAuth(`basic ${b64('bob:ü')}`)).toEqual({ username: 'bob', password: 'ü' });
    expect(parseBasicAuth(formatBasicAuth('x', 'y'))).toEqual({ username: 'x', password: 'y' });
  });

  it.each([
    ['missing', undefined],
    ['array', ['Basic YTpi', 'Basic YTpi']],
    ['empty', ''],
    ['scheme only', 'Basic'],
    ['scheme and space', 'Basic '],
    ['bearer', 'Bearer abc.def'],
    ['not base64', 'Basic %%%%'],
    ['bad padding', 'Basic YTpiY'],
    ['no colon', `Basic ${b64('alice')}`],
    ['empty user', `Basic ${b64(':pw')}`],
    ['control char in user', `Basic ${b64('al\nice:pw')}`],
    ['NUL in password', `Basic ${b64('alice:p\0w')}`],
    ['invalid utf-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`],
    ['two tokens', 'Basic YTpi YTpi'],
    ['huge', `Basic ${'A'.repeat(8000)}`],
  ])('returns undefined for %s', (_name, header) => {
    expect(parseBasicAuth(header as string | string[] | undefined)).toBeUndefined();
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.from(Array.from({ length: i % 60 }, () => Math.floor(Math.random() * 256))).toString('latin1');
      expect(() => parseBasicAuth(`Basic ${junk}`)).not.toThrow();
      expect(() => parseBasicAuth(junk)).not.toThrow();
    }
  });
});

describe('challenge', () => {
  it('quotes the realm', () => {
    expect(basicChallenge('regctl')).toBe('Basic realm="regctl"');
    expect(basicChallenge('my "lab"\\x\r\n')).toBe('Basic realm="my \\"lab\\"\\\\x"');
  });

  it('recognises the Basic scheme', () => {
    expect(hasBasicScheme('Basic abc')).toBe(true);
    expect(hasBasicScheme('BASIC')).toBe(true);
    expect(hasBasicScheme('Bearer x')).toBe(false);
    expect(hasBasicScheme('Basicx')).toBe(false);
    expect(hasBasicScheme(undefined)).toBe(false);
  });
});
