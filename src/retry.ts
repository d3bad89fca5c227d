/** How long to wait before attempt n+1: exponential growth from `baseMs`, capped at `maxMs`, with jitter. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  /**
   * `full`: anywhere between 0 and the capped delay (AWS's "full jitter": many clients retrying one server spread
   * out best); `equal`: between half of it and all of it (a client that must not retry too eagerly, e.g. a broker
   * connection); `none`: exactly the capped delay (one local handler retrying, nobody to spread out from).
   */
  jitter: 'full' | 'equal' | 'none';
}

/**
 * The one backoff of the program (InfluxDB writes, WhatsApp sends, upstream reconnects). Pure: the caller waits
 * on its clock. `attempt` counts failures so far, from 1.
 */
export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 40));
  const delay = policy.jitter === 'none' ? capped : policy.jitter === 'full' ? random() * capped : capped / 2 + (random() * capped) / 2;
  return Math.round(delay);
}
