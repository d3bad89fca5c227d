import { describe, expect, it } from 'vitest';
import { afterHandlerFailure, afterSendFailure, type HandleRetryPolicy, type SendRetryPolicy } from '../../../src/whatsapp/retry-policy.js';

describe('afterSendFailure', () => {
  const policy: SendRetryPolicy = { maxAttempts: 8, backoff: { baseMs: 1000, maxMs: 300_000, jitter: 'full' }, pairIntervalMs: 6000 };
  const transient = { code: 0, retryable: true, needsTemplate: false };
  const outsideWindow = { code: 131047, retryable: false, needsTemplate: true };
  const fresh = { attempts: 1, hasFallback: false, usedFallback: false };

  it.each([
    // what Graph said, the item, random, verdict
    ['a network error, first attempt', transient, fresh, 1, { action: 'retry', delayMs: 1000 }],
    ['a network error, third attempt', transient, { ...fresh, attempts: 3 }, 1, { action: 'retry', delayMs: 4000 }],
    ['full jitter: anywhere from 0', transient, { ...fresh, attempts: 3 }, 0, { action: 'retry', delayMs: 0 }],
    ['the backoff is capped', transient, { ...fresh, attempts: 7 }, 1, { action: 'retry', delayMs: 64_000 }],
    ['out of attempts', transient, { ...fresh, attempts: 8 }, 1, { action: 'fail' }],
    ['Retry-After is a floor', { ...transient, retryAfterMs: 30_000 }, fresh, 1, { action: 'retry', delayMs: 30_000 }],
    ['a shorter Retry-After loses to the backoff', { ...transient, retryAfterMs: 10 }, { ...fresh, attempts: 2 }, 1, { action: 'retry', delayMs: 2000 }],
    ['a pair rate limit waits the pair interval at least', { code: 131056, retryable: true, needsTemplate: false }, fresh, 0, { action: 'retry', delayMs: 6000 }],
    ['a permanent error fails at once', { code: 131026, retryable: false, needsTemplate: false }, fresh, 1, { action: 'fail' }],
    ['outside the window with a template: the template', outsideWindow, { ...fresh, hasFallback: true }, 1, { action: 'fallback' }],
    ['outside the window, template already tried', outsideWindow, { ...fresh, hasFallback: true, usedFallback: true }, 1, { action: 'fail' }],
    ['outside the window without a template', outsideWindow, fresh, 1, { action: 'fail' }],
  ] as const)('%s', (_, err, item, random, verdict) => {
    expect(afterSendFailure(err, item, policy, () => random)).toEqual(verdict);
  });
});

describe('afterHandlerFailure', () => {
  const policy: HandleRetryPolicy = { maxAttempts: 3, backoff: { baseMs: 500, maxMs: 30_000, jitter: 'none' } };

  it.each([
    [1, { action: 'retry', delayMs: 500 }],
    [2, { action: 'retry', delayMs: 1000 }],
    [3, { action: 'set_aside' }],
    [4, { action: 'set_aside' }],
  ] as const)('after failure %i: %o', (attempts, verdict) => {
    expect(afterHandlerFailure(attempts, policy)).toEqual(verdict);
  });

  it('never waits longer than the cap', () => {
    expect(afterHandlerFailure(20, { maxAttempts: 100, backoff: { baseMs: 500, maxMs: 30_000, jitter: 'none' } })).toEqual({ action: 'retry', delayMs: 30_000 });
  });
});
