import { pino, type Logger } from 'pino';
import { realClock, type Clock } from './clock.js';

export type { Logger };

/** The root logger. Modules take `log.child({ module })`; a line is an event with fields. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'binbridge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // secrets and residents' numbers must never reach a log line, whatever a caller passes
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'phone', '*.phone', 'wa_id', '*.wa_id', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * Lets one line per key through per interval and counts the ones held back, so that a misbehaving
 * device or client cannot flood the log. Bounded: past maxKeys it forgets everything and starts over.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 10_000,
    private readonly clock: Clock = realClock,
  ) {}

  /** null when the line should be held back; otherwise how many were held back since the last one. */
  admit(key: string, now = this.clock.now()): number | null {
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return null;
    }
    if (!seen && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    return seen?.suppressed ?? 0;
  }
}
