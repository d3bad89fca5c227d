import { realClock, type Clock } from '../clock.js';
import { orderTs, orderTsSql } from '../rules/index.js';
import type { Db } from './database.js';
import type { StoredReading } from '../reading.js';
import { RowBatches } from './row-batches.js';

/** The latest known state of one bin: its newest reading and its device's online/offline status. */
export interface BinState {
  bin_id: string;
  ts: number | null;
  received_at: number | null;
  fill_pct: number | null;
  distance_mm: number | null;
  battery_pct: number | null;
  temperature_c: number | null;
  tilt: number | null;
  rssi: number | null;
  status: 'online' | 'offline' | null;
  status_at: number | null;
}

/** The newest reading of a bin, as stored. */
export type LatestReading = StoredReading;

/**
 * Latest state per bin in SQLite: the newest reading by orderTs (its own time, never later than its arrival).
 * A sensor's backlog (older readings) never overwrites a newer state, and a reading stamped ahead of its arrival
 * does not hide the device's next one.
 */
export interface BinStateStore {
  /**
   * Records each reading as its bin's state unless a newer one is already there; at most one reading a bin
   * (newestPerBin). Runs inside the caller's transaction.
   */
  upsert(readings: readonly LatestReading[]): void;
  setStatus(binId: string, status: 'online' | 'offline', at?: number): void;
  /** How many bins' devices said online last. */
  onlineCount(): number;
  get(binId: string): BinState | undefined;
  /** Forgets a bin's state (a bin removed from the registry); false when it had none. */
  delete(binId: string): boolean;
  all(): BinState[];
}

/** The newest reading of each bin among `readings`, by orderTs (a later one wins a tie). */
export function newestPerBin(readings: Iterable<LatestReading>): LatestReading[] {
  const newest = new Map<string, LatestReading>();
  for (const r of readings) {
    const seen = newest.get(r.binId);
    if (!seen || orderTs(seen) <= orderTs(r)) newest.set(r.binId, r);
  }
  return [...newest.values()];
}

/** The bins' state in SQLite (`bin_state`). */
export class SqliteBinStateStore implements BinStateStore {
  private readonly upserts;
  private readonly statusStmt;
  private readonly getStmt;
  private readonly allStmt;
  private readonly onlineStmt;
  private readonly deleteStmt;

  constructor(
    db: Db,
    private readonly clock: Clock = realClock,
  ) {
    this.upserts = new RowBatches(
      db,
      9,
      (values) => `
      INSERT INTO bin_state (bin_id, ts, received_at, fill_pct, distance_mm, battery_pct, temperature_c, tilt, rssi)
      VALUES ${values}
      ON CONFLICT (bin_id) DO UPDATE SET ts = excluded.ts, received_at = excluded.received_at,
        fill_pct = excluded.fill_pct, distance_mm = excluded.distance_mm,
        battery_pct = coalesce(excluded.battery_pct, bin_state.battery_pct),
        temperature_c = coalesce(excluded.temperature_c, bin_state.temperature_c),
        tilt = coalesce(excluded.tilt, bin_state.tilt), rssi = coalesce(excluded.rssi, bin_state.rssi)
      WHERE bin_state.ts IS NULL OR ${orderTsSql('excluded')} >= ${orderTsSql('bin_state')}`,
    );
    this.statusStmt = db.prepare(`
      INSERT INTO bin_state (bin_id, status, status_at) VALUES (?, ?, ?)
      ON CONFLICT (bin_id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at`);
    this.getStmt = db.prepare('SELECT * FROM bin_state WHERE bin_id = ?');
    this.allStmt = db.prepare('SELECT * FROM bin_state');
    this.onlineStmt = db.prepare("SELECT count(*) FROM bin_state WHERE status = 'online'").pluck();
    this.deleteStmt = db.prepare('DELETE FROM bin_state WHERE bin_id = ?');
  }

  /** Records each reading as its bin's state unless a newer one is already there. Runs inside the caller's transaction. */
  upsert(readings: readonly LatestReading[]): void {
    // positional: a named binding looks each parameter up on an object, a microsecond a reading in the journal's commits
    const values = new Array<string | number | null>(9 * readings.length);
    let i = 0;
    for (const r of readings) {
      values[i++] = r.binId;
      values[i++] = r.ts;
      values[i++] = r.receivedAt;
      values[i++] = r.fillPct;
      values[i++] = r.distanceMm ?? null;
      values[i++] = r.batteryPct ?? null;
      values[i++] = r.temperatureC ?? null;
      values[i++] = r.tilt === undefined ? null : r.tilt ? 1 : 0;
      values[i++] = r.rssi ?? null;
    }
    this.upserts.run(values);
  }

  setStatus(binId: string, status: 'online' | 'offline', at = this.clock.now()): void {
    this.statusStmt.run(binId, status, at);
  }

  /** How many bins' devices said online last. */
  onlineCount(): number {
    return this.onlineStmt.get() as number;
  }

  get(binId: string): BinState | undefined {
    return this.getStmt.get(binId) as BinState | undefined;
  }

  /** Forgets a bin's state (a bin removed from the registry); false when it had none. */
  delete(binId: string): boolean {
    return this.deleteStmt.run(binId).changes > 0;
  }

  all(): BinState[] {
    return this.allStmt.all() as BinState[];
  }
}
