import { retryDelay, type RetryPolicy } from '../retry.js';

/** Graph's pair rate limit: too many messages to one recipient. */
const PAIR_RATE_LIMIT = 131056;

/** What the outbox does after a failed send. */
export type SendVerdict = { action: 'fallback' } | { action: 'retry'; delayMs: number } | { action: 'fail' };

export interface SendRetryPolicy {
  /** attempts of a retryable failure before the item is failed */
  maxAttempts: number;
  backoff: RetryPolicy;
  /** one message per this long to one recipient: the least wait after a pair rate limit */
  pairIntervalMs: number;
}

/**
 * Decides after a failed send, from what Graph said and what the item has left. Outside the 24-hour window a
 * free-form message is resent once as its template; a transient failure waits the program's backoff (full
 * jitter: many recipients retrying one server spread out), never sooner than Graph's Retry-After or, after a
 * pair rate limit, the pair interval; anything else fails for good.
 */
export function afterSendFailure(
  err: { code: number; retryable: boolean; needsTemplate: boolean; retryAfterMs?: number | undefined },
  item: { attempts: number; hasFallback: boolean; usedFallback: boolean },
  policy: SendRetryPolicy,
  random: () => number = Math.random,
): SendVerdict {
  if (err.needsTemplate && item.hasFallback && !item.usedFallback) return { action: 'fallback' };
  if (!err.retryable || item.attempts >= policy.maxAttempts) return { action: 'fail' };
  const floor = Math.max(err.retryAfterMs ?? 0, err.code === PAIR_RATE_LIMIT ? policy.pairIntervalMs : 0);
  return { action: 'retry', delayMs: Math.max(floor, retryDelay(item.attempts, policy.backoff, random)) };
}

/** What the inbox does after its handlers failed on a message. */
export type HandleVerdict = { action: 'retry'; delayMs: number } | { action: 'set_aside' };

export interface HandleRetryPolicy {
  /** handler runs per message before it is set aside as failed */
  maxAttempts: number;
  backoff: RetryPolicy;
}

/**
 * Decides after the handlers failed on an inbound message: wait the program's backoff (no jitter: one local
 * loop, nobody to spread out from) and run them again, or set the message aside so one poisonous message never
 * blocks the ones behind it.
 */
export function afterHandlerFailure(attempts: number, policy: HandleRetryPolicy): HandleVerdict {
  if (attempts >= policy.maxAttempts) return { action: 'set_aside' };
  return { action: 'retry', delayMs: retryDelay(attempts, policy.backoff) };
}
