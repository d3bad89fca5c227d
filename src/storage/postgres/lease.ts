import type pg from 'pg';
import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../log.js';
import { LeaseState, type Lease, type LeaseMetrics } from '../lease.js';

export interface PostgresLeaseOptions {
  pool: pg.Pool;
  /** which timed work the lease guards, e.g. "timed-work" */
  name: string;
  /** this instance's id, unique among the instances on the database (shown as the holder) */
  id: string;
  clock: Clock;
  log: Logger;
  metrics?: LeaseMetrics;
  /** how often the holder renews the lease and the others try to take it */
  renewMs?: number;
  /** how long a renewal keeps the lease: another instance takes it this long after the holder's last renewal */
  ttlMs?: number;
  /**
   * how far instances' clocks may differ: the holder stops regarding itself as holder this long before its lease
   * runs out by its own clock, so an instance whose clock is ahead by less cannot take it while the holder still acts
   */
  skewMs?: number;
}

/**
 * A lease in the `leases` row named after it: (holder, expires_at). Every `renewMs` each instance runs one statement
 * that renews the lease if it holds it, takes it if it has run out, and otherwise changes nothing. An instance that
 * dies stops renewing; the others take the lease at their first try after `expires_at`, so within `ttlMs + renewMs`
 * of its last renewal (10 + 5 = 15 s by default). The holder regards the lease as lost when a renewal fails, and
 * `ttlMs - skewMs` after its last renewal if renewals stop coming back (a hanging connection).
 *
 * Expiry is in the injected clock's time (epoch ms), not the database's: the timed work the lease guards runs on
 * that clock, which a test or the city twin advances by hand. Instances' clocks must agree within `skewMs` (NTP).
 */
export class PostgresLease implements Lease {
  readonly name: string;
  private readonly state: LeaseState;
  private readonly renewMs: number;
  private readonly ttlMs: number;
  private readonly skewMs: number;
  private timer: Timer | null = null;
  private expiry: Timer | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly opts: PostgresLeaseOptions) {
    this.name = opts.name;
    this.renewMs = opts.renewMs ?? 5_000;
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.skewMs = opts.skewMs ?? 2_000;
    if (this.ttlMs - this.skewMs <= this.renewMs) throw new RangeError(`lease ${this.name}: ttlMs - skewMs (${this.ttlMs - this.skewMs}) must exceed renewMs (${this.renewMs}), or the holder would lose it between renewals`);
    this.state = new LeaseState(opts.name, opts.metrics, (err) => opts.log.error({ err, lease: opts.name }, 'lease listener failed'));
  }

  holds(): boolean {
    return this.state.holds;
  }

  holder(): string | null {
    return this.state.holder;
  }

  onChange(fn: (holds: boolean) => void): () => void {
    return this.state.onChange(fn);
  }

  /** whether a renewal is waiting for the database (a simulation holds its clock still meanwhile) */
  get renewing(): boolean {
    return this.inFlight !== null;
  }

  /** Tries once at once, so the instance knows where it stands before anything starts, then every `renewMs`. */
  async start(): Promise<void> {
    this.stopped = false;
    this.timer = this.opts.clock.setInterval(() => void this.renew(), this.renewMs);
    await this.renew();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.clear();
    this.timer = null;
    this.expiry?.clear();
    await this.inFlight;
    // expired at once: another instance takes it at its next try instead of waiting out the ttl. Also when this
    // instance no longer regards itself as holder: after a failed renewal the row still names it until it runs out.
    await this.opts.pool
      .query('UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2', [this.name, this.opts.id])
      .catch((err: unknown) => this.opts.log.warn({ err, lease: this.name }, 'lease not released; another instance takes it when it runs out'));
    this.state.set(false, null);
  }

  /** One attempt; a previous one still waiting for the database is not doubled. */
  private renew(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return (this.inFlight ??= this.attempt().finally(() => (this.inFlight = null)));
  }

  private async attempt(): Promise<void> {
    const { pool, clock, id, log } = this.opts;
    const now = clock.now();
    try {
      // an attempt whose answer does not come within a period gives up, so the next one is not held back by it
      const { rows } = await pool.query<{ holder: string }>(
        this.timed(
          `INSERT INTO leases AS l (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE l.holder = excluded.holder OR l.expires_at <= $4
           RETURNING holder`,
          [this.name, id, now + this.ttlMs, now],
        ),
      );
      if (this.stopped) return;
      if (rows.length === 1) {
        if (!this.state.holds) log.info({ lease: this.name, holder: id }, 'lease taken');
        this.state.set(true, id);
        this.expiry?.clear();
        this.expiry = clock.setTimeout(() => this.lapse(), this.ttlMs - this.skewMs);
        return;
      }
      const { rows: current } = await pool.query<{ holder: string }>(this.timed('SELECT holder FROM leases WHERE name = $1', [this.name]));
      if (!this.stopped) this.lost(current[0]?.holder ?? null);
    } catch (err) {
      if (this.stopped) return;
      log.warn({ err, lease: this.name }, 'lease not renewed');
      this.lost(this.state.holds ? null : this.state.holder);
    }
  }

  /** A statement of this lease: node-postgres gives up waiting for it after a period (its types lack the option). */
  private timed(text: string, values: unknown[]): pg.QueryConfig {
    return Object.assign({ text, values }, { query_timeout: this.renewMs });
  }

  /** Renewals stopped coming back: let go before any other instance can take it. */
  private lapse(): void {
    if (!this.state.holds) return;
    this.opts.log.warn({ lease: this.name, ms: this.ttlMs - this.skewMs }, 'lease not renewed in time; timed work stops here');
    this.lost(null);
  }

  private lost(holder: string | null): void {
    if (this.state.holds) this.opts.log.warn({ lease: this.name, holder }, 'lease lost');
    this.expiry?.clear();
    this.expiry = null;
    this.state.set(false, holder);
  }
}
