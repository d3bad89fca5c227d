import { realClock, type Clock } from '../clock.js';
import { LogThrottle, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Rejection } from './reading.js';

/** Counts every refused reading by reason; logs at most one line per device and reason per interval. */
export class RejectionLog {
  private readonly throttle: LogThrottle;

  constructor(
    intervalMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    clock: Clock = realClock,
  ) {
    this.throttle = new LogThrottle(intervalMs, undefined, clock);
  }

  note(device: string, rejection: Rejection): void {
    this.metrics.readingsRejected.inc({ reason: rejection.reason });
    const suppressed = this.throttle.admit(`${device}\u0000${rejection.reason}`);
    if (suppressed === null) return;
    const level = rejection.reason === 'spool_full' || rejection.reason === 'store_error' ? 'error' : 'warn';
    this.log[level]({ device: device.slice(0, 80), reason: rejection.reason, detail: rejection.detail, suppressedSinceLast: suppressed }, 'reading rejected');
  }
}
