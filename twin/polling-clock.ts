import type { Clock, ManualClock } from '../src/clock.js';

/**
 * The manual clock as binbridge sees it in the twin: its pollers that look every second (the dispatcher's tick,
 * the device-secret watch) look every `minIntervalMs` of simulated time instead. A second's
 * poll costs a timer and a turn of the event loop, 86,400 times a simulated day each; a minute changes no
 * decision but the moment a batch window or an escalation is seen, by under a minute. Timeouts (the outbox's
 * pacing, retries) are untouched.
 */
export function pollingClock(clock: ManualClock, minIntervalMs: number): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    setInterval: (fn, ms) => clock.setInterval(fn, Math.max(ms, minIntervalMs)),
    sleep: (ms, signal) => clock.sleep(ms, signal),
  };
}
