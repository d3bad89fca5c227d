import type pg from 'pg';
import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../log.js';
import { orderTs, orderTsSql } from '../../rules/index.js';
import type { BinState, BinStateStore, LatestReading } from '../bin-state.js';
import type { PoolSource } from './spool.js';

const readingOrder = (s: BinState): number => (s.ts === null ? -Infinity : orderTs({ ts: s.ts, receivedAt: s.received_at }));

/** Of two views of one bin, the newer reading and the newer status (each half may come from the other). */
export function newerState(a: BinState | undefined, b: BinState): BinState {
  if (!a) return b;
  const reading = readingOrder(b) >= readingOrder(a) ? b : a;
  const status = (b.status_at ?? -Infinity) >= (a.status_at ?? -Infinity) ? b : a;
  return { ...reading, status: status.status, status_at: status.status_at };
}

/**
 * The bins' state in PostgreSQL's `bin_state`, shared by every instance. Written in the journal's group commit
 * (`upsertIn`): one upsert for the group, its rows in bin order (two instances' commits lock shared bins in the same
 * order, so they wait for each other rather than deadlock), and a row is replaced only by a reading at least as new
 * by orderTs, checked against the row as the other instance committed it: a bin's state never goes backwards,
 * whichever instance received which reading. The program reads the state synchronously (API, dispatcher, live
 * page), so this keeps a view of the table in memory: loaded at start, updated by this instance's commits, and read
 * again every `refreshMs` for the other instances' (it lags them by at most that much). Statuses (online/offline)
 * and deletions are written through in the order they are made; one that fails is logged, not retried.
 */
export class PostgresBinStateStore implements BinStateStore {
  private view = new Map<string, BinState>();
  private timer: Timer | null = null;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: PoolSource,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly refreshMs = 5_000,
  ) {}

  /** Loads the table and reads it again every `refreshMs`. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer ??= this.clock
      .setInterval(() => {
        this.refresh().catch((err: unknown) => this.log.warn({ err }, 'could not read bin_state; the view stays as it was'));
      }, this.refreshMs)
      .unref();
  }

  /** Waits for the writes made so far (statuses, deletions) and stops reading the table again. */
  async stop(): Promise<void> {
    this.timer?.clear();
    this.timer = null;
    await this.writes;
  }

  /** Reads the whole table into the view; a row in the view that is newer (a commit that raced the read) stays. */
  async refresh(): Promise<void> {
    const { rows } = await this.pool().query<BinState>('SELECT * FROM bin_state');
    const next = new Map<string, BinState>();
    for (const row of rows) next.set(row.bin_id, newerState(this.view.get(row.bin_id), row));
    this.view = next;
  }

  /**
   * Upserts the newest reading of each bin of a group in the caller's transaction; resolves the rows it changed as
   * they now are (for `remember` once the transaction committed).
   */
  async upsertIn(client: pg.ClientBase, readings: readonly LatestReading[]): Promise<BinState[]> {
    if (readings.length === 0) return [];
    const sorted = [...readings].sort((a, b) => (a.binId < b.binId ? -1 : a.binId > b.binId ? 1 : 0));
    const col = <T>(f: (r: LatestReading) => T): T[] => sorted.map(f);
    const { rows } = await client.query<BinState>(
      `INSERT INTO bin_state AS s (bin_id, ts, received_at, fill_pct, distance_mm, battery_pct, temperature_c, tilt, rssi)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::int[], $9::float8[])
       ON CONFLICT (bin_id) DO UPDATE SET ts = excluded.ts, received_at = excluded.received_at,
         fill_pct = excluded.fill_pct, distance_mm = excluded.distance_mm,
         battery_pct = coalesce(excluded.battery_pct, s.battery_pct),
         temperature_c = coalesce(excluded.temperature_c, s.temperature_c),
         tilt = coalesce(excluded.tilt, s.tilt), rssi = coalesce(excluded.rssi, s.rssi)
       WHERE s.ts IS NULL OR ${orderTsSql('excluded', 'LEAST')} >= ${orderTsSql('s', 'LEAST')}
       RETURNING s.*`,
      [
        col((r) => r.binId),
        col((r) => r.ts),
        col((r) => r.receivedAt ?? null),
        col((r) => r.fillPct),
        col((r) => r.distanceMm ?? null),
        col((r) => r.batteryPct ?? null),
        col((r) => r.temperatureC ?? null),
        col((r) => (r.tilt === undefined ? null : r.tilt ? 1 : 0)),
        col((r) => r.rssi ?? null),
      ],
    );
    return rows;
  }

  /** Rows a committed transaction wrote, into the view. */
  remember(rows: readonly BinState[]): void {
    for (const row of rows) this.view.set(row.bin_id, newerState(this.view.get(row.bin_id), row));
  }

  /** Not used on PostgreSQL inside a transaction (the journal calls upsertIn): written through on its own. */
  upsert(readings: readonly LatestReading[]): void {
    this.write('bin state', async () => {
      const client = await this.pool().connect();
      let broken: Error | undefined;
      // a connection that breaks while checked out fails the statement, not the process (an uncaught 'error' event)
      const onError = (err: Error): void => void (broken ??= err);
      client.on('error', onError);
      try {
        this.remember(await this.upsertIn(client, readings));
      } catch (err) {
        broken ??= err as Error;
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    });
  }

  setStatus(binId: string, status: 'online' | 'offline', at = this.clock.now()): void {
    const prev = this.view.get(binId);
    this.view.set(binId, { ...(prev ?? emptyState(binId)), status, status_at: at });
    this.write('status', async () => {
      await this.pool().query(
        `INSERT INTO bin_state AS s (bin_id, status, status_at) VALUES ($1, $2, $3)
         ON CONFLICT (bin_id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at
         WHERE s.status_at IS NULL OR excluded.status_at >= s.status_at`,
        [binId, status, at],
      );
    });
  }

  onlineCount(): number {
    let n = 0;
    for (const s of this.view.values()) if (s.status === 'online') n++;
    return n;
  }

  get(binId: string): BinState | undefined {
    return this.view.get(binId);
  }

  delete(binId: string): boolean {
    const had = this.view.delete(binId);
    this.write('delete', async () => void (await this.pool().query('DELETE FROM bin_state WHERE bin_id = $1', [binId])));
    return had;
  }

  all(): BinState[] {
    return [...this.view.values()];
  }

  private write(what: string, work: () => Promise<void>): void {
    this.writes = this.writes.then(work).catch((err: unknown) => this.log.warn({ err, what }, 'could not write bin state; the view has it, the table does not'));
  }
}

const emptyState = (binId: string): BinState => ({
  bin_id: binId,
  ts: null,
  received_at: null,
  fill_pct: null,
  distance_mm: null,
  battery_pct: null,
  temperature_c: null,
  tilt: null,
  rssi: null,
  status: null,
  status_at: null,
});
