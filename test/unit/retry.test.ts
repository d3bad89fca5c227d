import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../src/retry.js';

describe('retryDelay', () => {
  const full = { baseMs: 200, maxMs: 10_000, jitter: 'full' as const };
  const equal = { baseMs: 1000, maxMs: 60_000, jitter: 'equal' as const };

  it.each([
    // attempt, policy, random, delay
    [1, full, 1, 200],
    [2, full, 1, 400],
    [6, full, 1, 6_400],
    [7, full, 1, 10_000],
    [1_000, full, 1, 10_000],
    [3, full, 0, 0],
    [3, full, 0.5, 400],
    [1, equal, 0, 500],
    [1, equal, 1, 1_000],
    [10, equal, 0, 30_000],
    [0, equal, 1, 1_000],
    [3, { baseMs: 500, maxMs: 30_000, jitter: 'none' as const }, 0, 2_000],
  ])('attempt %i with %o and random %d waits %i ms', (attempt, policy, random, delay) => {
    expect(retryDelay(attempt, policy, () => random)).toBe(delay);
  });
});
