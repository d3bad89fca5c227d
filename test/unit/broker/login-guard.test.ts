import { describe, expect, it } from 'vitest';
import { LoginGuard } from '../../../src/broker/login-guard.js';

describe('LoginGuard', () => {
  it('tells an address past its limit for a bin that it is blocked, without blocking the bin', async () => {
    const guard = new LoginGuard({ failuresPerMin: 3, blockAddresses: 3 });
    const over: boolean[] = [];
    for (let i = 0; i < 5; i++) over.push(await guard.failed('10.0.0.1', 'UTR-0001'));
    expect(over).toEqual([false, false, false, true, true]);
    expect(await guard.binBlocked('UTR-0001')).toBe(false);
    // the same address, another bin: its own count
    expect(await guard.failed('10.0.0.1', 'UTR-0002')).toBe(false);
  });

  it('blocks a bin once its logins failed from blockAddresses addresses, whether or not the bin exists', async () => {
    const guard = new LoginGuard({ failuresPerMin: 10, blockAddresses: 3 });
    for (const bin of ['UTR-0001', 'NOPE-1']) {
      await guard.failed('10.0.0.1', bin);
      await guard.failed('10.0.0.1', bin); // one address counts once
      await guard.failed('10.0.0.2', bin);
      expect(await guard.binBlocked(bin)).toBe(false);
      await guard.failed('10.0.0.3', bin);
      expect(await guard.binBlocked(bin)).toBe(true);
    }
    expect(await guard.binBlocked('UTR-0003')).toBe(false);
  });
});
