import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { LoginThrottle } from '../../src/web/auth/throttle.js';

const MIN = 60_000;

describe('LoginThrottle', () => {
  it('locks an account after 5 failures for 15 min, then 30, then 60', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock);
    for (let i = 1; i <= 4; i++)
      expect(t.recordFailure('alice', `10.0.0.${i}`).accountLocked).toBeUndefined();
    const first = t.recordFailure('alice', '10.0.0.5').accountLocked!;
    expect(first.until - clock.now()).toBe(15 * MIN);
    expect(t.check('alice', '10.9.9.9')).toMatchObject({ scope: 'account' });
    expect(t.check('ALICE ', '10.9.9.9')).toMatchObject({ scope: 'account' });
    expect(t.check('bob', '10.9.9.9')).toBeUndefined();

    clock.advance(15 * MIN);
    expect(t.check('alice', '10.9.9.9')).toBeUndefined();
    for (let i = 0; i < 4; i++) t.recordFailure('alice', '10.0.1.1');
    expect(t.recordFailure('alice', '10.0.1.1').accountLocked!.until - clock.now()).toBe(30 * MIN);
    clock.advance(30 * MIN);
    for (let i = 0; i < 4; i++) t.recordFailure('alice', '10.0.2.1');
    expect(t.recordFailure('alice', '10.0.2.1').accountLocked!.until - clock.now()).toBe(60 * MIN);
  });

  it('a success clears the counters; a quiet day forgets them', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock);
    for (let i = 0; i < 4; i++) t.recordFailure('alice', '10.0.0.1');
    t.recordSuccess('alice', '10.0.0.1');
    expect(t.recordFailure('alice', '10.0.0.1').accountFailures).toBe(1);
    for (let i = 0; i < 3; i++) t.recordFailure('alice', '10.0.0.1');
    clock.advance(24 * 60 * MIN);
    expect(t.recordFailure('alice', '10.0.0.1').accountFailures).toBe(1);
  });

  it('locks an address that tries many accounts', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, { addressThreshold: 20 });
    let locked;
    for (let i = 0; i < 20; i++) locked = t.recordFailure(`user${i}`, '203.0.113.7').addressLocked;
    expect(locked).toMatchObject({ scope: 'address', failures: 20 });
    expect(t.check('someone-else', '203.0.113.7')).toMatchObject({ scope: 'address' });
    expect(t.check('someone-else', '203.0.113.8')).toBeUndefined();
  });

  it('never holds more than maxKeys counters, and caps the lock', () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, { maxKeys: 100, accountThreshold: 1, maxLockMs: 60 * MIN });
    for (let i = 0; i < 1000; i++) t.recordFailure(`u${i}`, `a${i}`);
    expect((t as unknown as { keys: Map<string, unknown> }).keys.size).toBe(100);
    let until = 0;
    for (let i = 0; i < 10; i++) {
      clock.advance(2 * 60 * MIN);
      until = t.recordFailure('x', 'y').accountLocked!.until;
    }
    expect(until - clock.now()).toBe(60 * MIN);
  });
});
