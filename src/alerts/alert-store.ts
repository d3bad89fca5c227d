import type Database from 'better-sqlite3';
import { afterKey, where } from '../storage/index.js';

export interface Alert {
  id: number;
  bin_id: string;
  zone: string;
  type: string;
  status: 'open' | 'closed';
  opened_at: number;
  closed_at: number | null;
  value: number | null;
  message: string;
  /** what the rules based it on: 'threshold' or 'forecast' for full, 'stuck', 'outlier_run' or 'report' for sensor_suspect */
  cause: string | null;
  /** for a forecast 'full': the hours to full_pct the forecast gave */
  hours_to_full: number | null;
}

/** The filters of an alert listing (the API's query). */
export interface AlertFilter {
  status?: string | undefined;
  zone?: string | undefined;
  type?: string | undefined;
  bin?: string | undefined;
  limit?: number | undefined;
  /** the page after that alert's [opened_at, id] */
  after?: readonly [number, number] | undefined;
}

/**
 * Alerts with open/closed state; at most one open alert per bin and type. Synchronous: opening and closing run
 * inside the rules runner's transaction.
 */
export interface AlertStore {
  /** Opens an alert; false when one of that type is already open for the bin. */
  open(a: { binId: string; zone: string; type: string; at: number; value?: number | undefined; message: string; cause?: string | undefined; hoursToFull?: number | undefined }): boolean;
  /** Closes the open alert of that type; false when there was none. */
  close(binId: string, type: string, at: number): boolean;
  /** Newest first. */
  list(f?: AlertFilter): Alert[];
  /** Closes every open alert of a bin (a bin removed from the registry); how many were open. */
  closeAllOf(binId: string, at: number): number;
  openCounts(): { type: string; n: number }[];
}

/** The alerts in SQLite (`alerts`). */
export class SqliteAlertStore implements AlertStore {
  private readonly openStmt;
  private readonly closeStmt;

  constructor(private readonly db: Database.Database) {
    this.openStmt = db.prepare(
      `INSERT INTO alerts (bin_id, zone, type, status, opened_at, value, message, cause, hours_to_full) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)
       ON CONFLICT (bin_id, type) WHERE status = 'open' DO NOTHING`,
    );
    this.closeStmt = db.prepare(`UPDATE alerts SET status = 'closed', closed_at = ? WHERE bin_id = ? AND type = ? AND status = 'open'`);
  }

  open(a: {
    binId: string;
    zone: string;
    type: string;
    at: number;
    value?: number | undefined;
    message: string;
    cause?: string | undefined;
    hoursToFull?: number | undefined;
  }): boolean {
    return this.openStmt.run(a.binId, a.zone, a.type, a.at, a.value ?? null, a.message, a.cause ?? null, a.hoursToFull ?? null).changes > 0;
  }

  close(binId: string, type: string, at: number): boolean {
    return this.closeStmt.run(at, binId, type).changes > 0;
  }

  list(f: AlertFilter = {}): Alert[] {
    const filters = where([
      ['status = ?', f.status],
      ['zone = ?', f.zone],
      ['type = ?', f.type],
      ['bin_id = ?', f.bin],
    ]);
    const w = afterKey(filters, ['opened_at', 'id'], f.after);
    const sql = `SELECT * FROM alerts ${w.sql} ORDER BY opened_at DESC, id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...w.args, f.limit ?? 500) as Alert[];
  }

  closeAllOf(binId: string, at: number): number {
    return this.db.prepare(`UPDATE alerts SET status = 'closed', closed_at = ? WHERE bin_id = ? AND status = 'open'`).run(at, binId).changes;
  }

  openCounts(): { type: string; n: number }[] {
    return this.db.prepare(`SELECT type, count(*) AS n FROM alerts WHERE status = 'open' GROUP BY type`).all() as { type: string; n: number }[];
  }
}
