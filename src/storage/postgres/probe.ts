import type pg from 'pg';
import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../log.js';
import { redactText } from './pool.js';

export type Reachability = 'ok' | 'unreachable';

export interface DatabaseProbeOptions {
  pool: pg.Pool;
  /** store.url, only to take its password out of what is logged */
  url: string;
  clock: Clock;
  log: Logger;
  /** how often the database is asked */
  everyMs?: number;
  /** a probe not answered in this long counts as unreachable (also a connection that cannot be had from the pool) */
  timeoutMs?: number;
}

/**
 * Whether PostgreSQL answers, for /readyz: `SELECT 1` every `everyMs` of the injected clock, unreachable when it
 * fails or gives no answer within `timeoutMs`. /readyz reads the last result, so no request waits for the database:
 * a load balancer's health check is answered at once, and it takes the instance out within one period and a
 * timeout of the database going away. A probe still out when the next is due is not doubled.
 */
export class DatabaseProbe {
  private current: Reachability = 'ok';
  private timer: Timer | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly everyMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: DatabaseProbeOptions) {
    this.everyMs = opts.everyMs ?? 2_000;
    this.timeoutMs = opts.timeoutMs ?? 2_000;
  }

  /** the last probe's answer ('ok' at start: the store room has just connected) */
  get state(): Reachability {
    return this.current;
  }

  /** whether a probe is waiting for the database (a simulation holds its clock still meanwhile) */
  get probing(): boolean {
    return this.inFlight !== null;
  }

  start(): void {
    this.current = 'ok';
    this.timer = this.opts.clock.setInterval(() => void this.probe(), this.everyMs);
  }

  async stop(): Promise<void> {
    this.timer?.clear();
    this.timer = null;
    await this.inFlight;
  }

  /** One probe; resolves when it is answered or given up. */
  probe(): Promise<void> {
    return (this.inFlight ??= this.attempt().finally(() => (this.inFlight = null)));
  }

  private async attempt(): Promise<void> {
    const { pool, clock } = this.opts;
    let deadline: Timer | null = null;
    const late = new Promise<Error>((resolve) => {
      deadline = clock.setTimeout(() => resolve(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    // node-postgres's own timeout ends the query in real time; the clock's deadline decides the state, so that a
    // simulation can tell (and a connection that cannot be had from the pool counts too)
    const query = pool.query(Object.assign({ text: 'SELECT 1' }, { query_timeout: this.timeoutMs })).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    try {
      const failure = await Promise.race([query, late]);
      this.set(failure === null ? 'ok' : 'unreachable', failure);
      // the query given up on still ends (node-postgres's timeout); the next probe waits for it, never two at once
      await query;
    } finally {
      (deadline as Timer | null)?.clear();
    }
  }

  private set(state: Reachability, err: Error | null): void {
    if (state === this.current) return;
    this.current = state;
    const log = this.opts.log;
    if (state === 'ok') log.info({ postgres: state }, 'PostgreSQL answers again');
    else log.error({ postgres: state, reason: redactText(err?.message ?? '', this.opts.url) }, 'PostgreSQL does not answer: /readyz says 503 until it does');
  }
}
