import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { LatestReading } from './bin-state.js';
import type { Db } from './database.js';
import { BUCKET_MS, HISTORY_MS, downsample } from './history-bucket.js';
import { RowBatches } from './row-batches.js';

/** One quarter of an hour of a bin, as the API shows it (values in percent and °C). */
export interface HistoryPoint {
  /** start of the quarter, epoch ms */
  bucket: number;
  /** when the reading that `fill` comes from was taken (its orderTs), epoch ms */
  ts: number;
  readings: number;
  fill: number;
  fillMin: number;
  fillMax: number;
  batteryMin: number | null;
  temperatureMax: number | null;
}

/** A row of `reading_history` as both stores read it. */
export interface HistoryRow {
  bucket: number;
  readings: number;
  fill: number;
  fill_at: number;
  fill_min: number;
  fill_max: number;
  battery_min: number | null;
  temperature_max: number | null;
}

const PRUNE_EVERY_MS = 3_600_000;

/**
 * A bin's history without InfluxDB: one row per bin and quarter of an hour for 35 days, written in the journal's
 * group commit (the transaction that precedes the PUBACK), so it is as durable as the reading and costs no fsync
 * of its own. The key is the quarter's index, then a small bin number (history_bins), in a WITHOUT ROWID table:
 * the current quarter's rows of every bin lie side by side, so a group commit dirties a few pages rather than one
 * per bin, rows are appended in time order (full pages), and pruning deletes from the front of the table.
 * Measured at some 3.3 KB per bin-day (bench/history.ts; docs/performance.md). Pruned every hour.
 */
export interface ReadingHistory {
  /** Adds a group of committed readings; runs inside the journal's transaction. */
  record(readings: readonly LatestReading[], now: number): void;
  /** After a failed commit: whatever the commit's rollback took back is forgotten here too. */
  forgetUncommitted(): void;
  /** The quarters of a bin whose last reading lies in [fromMs, toMs], oldest first; at most the 35 days before toMs. */
  range(binId: string, fromMs: number, toMs: number): Promise<HistoryPoint[]>;
  /** Deletes the quarters older than the history keeps; returns how many. */
  prune(now?: number): number | Promise<number>;
}

/** The rows of a bin's quarters as the API shows them: those whose last reading lies in [fromMs, toMs]. */
export function historyPoints(rows: readonly HistoryRow[], fromMs: number, toMs: number): HistoryPoint[] {
  const out: HistoryPoint[] = [];
  for (const r of rows) {
    const start = r.bucket * BUCKET_MS;
    const ts = start + r.fill_at;
    if (ts < fromMs || ts > toMs) continue;
    out.push({
      bucket: start,
      ts,
      readings: r.readings,
      fill: r.fill / 10,
      fillMin: r.fill_min / 10,
      fillMax: r.fill_max / 10,
      batteryMin: r.battery_min === null ? null : r.battery_min / 10,
      temperatureMax: r.temperature_max === null ? null : r.temperature_max / 10,
    });
  }
  return out;
}

/** The history in SQLite (`reading_history`, `history_bins`); `start` prunes it every hour. */
export class SqliteReadingHistory implements ReadingHistory {
  private readonly binNumbers = new Map<string, number>();
  private readonly upserts;
  private readonly findBinStmt;
  private readonly addBinStmt;
  private readonly rangeStmt;
  private readonly pruneStmt;
  private timer: Timer | null = null;

  constructor(
    db: Db,
    private readonly clock: Clock = realClock,
    private readonly log?: Logger,
  ) {
    // the same merge as mergeBuckets(): whatever order a bucket's readings arrive in, it ends up the same.
    // (SQLite's two-argument min()/max() are NULL when either is; coalesce keeps the one that is there.)
    this.upserts = new RowBatches(
      db,
      9,
      (values) => `
      INSERT INTO reading_history (bin, bucket, readings, fill, fill_at, fill_min, fill_max, battery_min, temperature_max)
      VALUES ${values}
      ON CONFLICT (bucket, bin) DO UPDATE SET
        readings = readings + excluded.readings,
        fill = CASE WHEN (excluded.fill_at, excluded.fill) > (fill_at, fill) THEN excluded.fill ELSE fill END,
        fill_at = max(fill_at, excluded.fill_at),
        fill_min = min(fill_min, excluded.fill_min),
        fill_max = max(fill_max, excluded.fill_max),
        battery_min = coalesce(min(battery_min, excluded.battery_min), battery_min, excluded.battery_min),
        temperature_max = coalesce(max(temperature_max, excluded.temperature_max), temperature_max, excluded.temperature_max)`,
    );
    this.findBinStmt = db.prepare('SELECT n FROM history_bins WHERE id = ?').pluck();
    this.addBinStmt = db.prepare('INSERT INTO history_bins (id) VALUES (?)');
    // one seek per quarter of the range (3,360 for 35 days), not a scan of every bin's rows in it
    this.rangeStmt = db.prepare(`
      WITH RECURSIVE q (bucket) AS (SELECT @from UNION ALL SELECT bucket + 1 FROM q WHERE bucket < @to)
      SELECT h.bucket, readings, fill, fill_at, fill_min, fill_max, battery_min, temperature_max
      FROM q CROSS JOIN reading_history AS h ON h.bucket = q.bucket AND h.bin = @bin ORDER BY h.bucket`);
    this.pruneStmt = db.prepare('DELETE FROM reading_history WHERE bucket < ?');
  }

  /**
   * Adds a group of committed readings, one upsert per bin and quarter. Runs inside the journal's transaction;
   * readings older than the history keeps are left out.
   */
  record(readings: readonly LatestReading[], now: number): void {
    const values: (number | null)[] = [];
    for (const b of downsample(readings, now - HISTORY_MS)) {
      values.push(this.binNumber(b.binId), b.bucket, b.readings, b.fill, b.fillAt, b.fillMin, b.fillMax, b.batteryMin, b.temperatureMax);
    }
    this.upserts.run(values);
  }

  /** After a failed commit: bin numbers handed out in it were rolled back with it. */
  forgetUncommitted(): void {
    this.binNumbers.clear();
  }

  /** The quarters of a bin whose last reading lies in [fromMs, toMs], oldest first; at most the 35 days before toMs. */
  range(binId: string, fromMs: number, toMs: number): Promise<HistoryPoint[]> {
    return Promise.resolve(this.rangeNow(binId, fromMs, toMs));
  }

  /** range(), synchronously (SQLite's own tests and benches). */
  rangeNow(binId: string, fromMs: number, toMs: number): HistoryPoint[] {
    const n = this.binNumbers.get(binId) ?? (this.findBinStmt.get(binId) as number | undefined);
    if (n === undefined || toMs < fromMs) return [];
    const to = Math.floor(toMs / BUCKET_MS);
    const from = Math.max(Math.floor(fromMs / BUCKET_MS), to - HISTORY_MS / BUCKET_MS);
    return historyPoints(this.rangeStmt.all({ bin: n, from, to }) as HistoryRow[], fromMs, toMs);
  }

  /** Deletes the quarters older than the history keeps; returns how many. */
  prune(now = this.clock.now()): number {
    return this.pruneStmt.run(Math.floor((now - HISTORY_MS) / BUCKET_MS)).changes;
  }

  /** Prunes now and every hour. */
  start(): void {
    const run = (): void => {
      try {
        const deleted = this.prune();
        if (deleted > 0) this.log?.debug({ deleted }, 'history pruned');
      } catch (err) {
        this.log?.error({ err }, 'history prune failed; the next round tries again');
      }
    };
    run();
    this.timer ??= this.clock.setInterval(run, PRUNE_EVERY_MS).unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  private binNumber(binId: string): number {
    let n = this.binNumbers.get(binId);
    if (n === undefined) {
      n = (this.findBinStmt.get(binId) as number | undefined) ?? Number(this.addBinStmt.run(binId).lastInsertRowid);
      this.binNumbers.set(binId, n);
    }
    return n;
  }
}
