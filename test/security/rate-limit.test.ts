import { describe, expect, it } from 'vitest';
import { clientKey, LoginRateLimiter } from '../../src/server/security/rate-limit.js';

describe('LoginRateLimiter', () => {
  it('blocks after the burst and lets one attempt back per refill interval', () => {
    let now = 0;
    const l = new LoginRateLimiter({ burst: 3, refillPerMinute: 6, now: () => now }); // one token per 10 s
    for (let i = 0; i < 3; i++) {
      expect(l.check('1.2.3.4')).toEqual({ limited: false });
      l.fail('1.2.3.4');
    }
    expect(l.check('1.2.3.4')).toEqual({ limited: true, retryAfterSeconds: 10 });
    expect(l.check('5.6.7.8')).toEqual({ limited: false }); // per address
    now = 4_000;
    expect(l.check('1.2.3.4')).toEqual({ limited: true, retryAfterSeconds: 6 });
    now = 10_000;
    expect(l.check('1.2.3.4')).toEqual({ limited: false });
    l.fail('1.2.3.4');
    expect(l.check('1.2.3.4')).toEqual({ limited: true, retryAfterSeconds: 10 });
  });

  it('hammering while blocked pushes the retry further out, but boundedly', () => {
    let now = 0;
    const l = new LoginRateLimiter({ burst: 2, refillPerMinute: 60, now: () => now });
    for (let i = 0; i < 100; i++) l.fail('a');
    const r = l.check('a');
    expect(r.limited).toBe(true);
    // Debt is capped at one burst: at most (burst + 1) refill intervals.
    expect(r.limited && r.retryAfterSeconds).toBe(3);
    now = 3_000;
    expect(l.check('a').limited).toBe(false);
  });

  it('forgets fully refilled addresses and keeps memory bounded', () => {
    let now = 0;
    const l = new LoginRateLimiter({ burst: 5, refillPerMinute: 60, maxEntries: 100, now: () => now });
    for (let i = 0; i < 100; i++) l.fail(`10.0.0.${i}`);
    expect(l.size).toBe(100);
    now = 10_000; // all refilled
    l.fail('10.0.1.1');
    expect(l.size).toBe(1);
    for (let i = 0; i < 1000; i++) l.fail(`10.1.${i >> 8}.${i & 255}`);
    expect(l.size).toBeLessThanOrEqual(100);
    // The most recent attacker is still remembered.
    for (let i = 0; i < 5; i++) l.fail('10.9.9.9');
    expect(l.check('10.9.9.9').limited).toBe(true);
  });

  it('rejects nonsense settings', () => {
    expect(() => new LoginRateLimiter({ burst: 0 })).toThrow(RangeError);
    expect(() => new LoginRateLimiter({ refillPerMinute: -1 })).toThrow(RangeError);
  });
});

describe('clientKey', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
    ['garbage:::x', 'garbage:::x'],
  ])('%s -> %s', (a, k) => {
    expect(clientKey(a)).toBe(k);
  });
});
