import type Database from 'better-sqlite3';
import { afterKey, where } from '../storage/index.js';
import type { Queryable } from '../storage/postgres/index.js';

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

/** What opening an alert records. */
export interface AlertOpening {
  binId: string;
  zone: string;
  type: string;
  at: number;
  value?: number | undefined;
  message: string;
  cause?: string | undefined;
  hoursToFull?: number | undefined;
}

/**
 * Alerts with open/closed state; at most one open alert per bin and type (a partial unique index, so this holds
 * across instances sharing a PostgreSQL store). Opening and closing run in the caller's transaction (the rules').
 */
export interface AlertStore {
  /** Opens an alert; false when one of that type is already open for the bin. */
  open(a: AlertOpening): Promise<boolean>;
  /** Closes the open alert of that type; false when there was none. */
  close(binId: string, type: string, at: number): Promise<boolean>;
  /** Newest first. */
  list(f?: AlertFilter): Promise<Alert[]>;
  /** Closes every open alert of a bin (a bin removed from the registry); how many were open. */
  closeAllOf(binId: string, at: number): Promise<number>;
  openCounts(): Promise<{ type: string; n: number }[]>;
}

const OPEN_SQL = `INSERT INTO alerts (bin_id, zone, type, status, opened_at, value, message, cause, hours_to_full) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)
       ON CONFLICT (bin_id, type) WHERE status = 'open' DO NOTHING`;
const CLOSE_SQL = `UPDATE alerts SET status = 'closed', closed_at = ? WHERE bin_id = ? AND type = ? AND status = 'open'`;
const CLOSE_ALL_SQL = `UPDATE alerts SET status = 'closed', closed_at = ? WHERE bin_id = ? AND status = 'open'`;
const COUNTS_SQL = `SELECT type, count(*) AS n FROM alerts WHERE status = 'open' GROUP BY type`;

const openArgs = (a: AlertOpening): (string | number | null)[] => [a.binId, a.zone, a.type, a.at, a.value ?? null, a.message, a.cause ?? null, a.hoursToFull ?? null];

/** A listing's SQL, with `?` placeholders. */
function listSql(f: AlertFilter): { sql: string; args: (string | number)[] } {
  const filters = where([
    ['status = ?', f.status],
    ['zone = ?', f.zone],
    ['type = ?', f.type],
    ['bin_id = ?', f.bin],
  ]);
  const w = afterKey(filters, ['opened_at', 'id'], f.after);
  return { sql: `SELECT * FROM alerts ${w.sql} ORDER BY opened_at DESC, id DESC LIMIT ?`, args: [...w.args, f.limit ?? 500] };
}

/** The alerts in SQLite (`alerts`): synchronous statements underneath, resolved at once. */
export class SqliteAlertStore implements AlertStore {
  private readonly openStmt;
  private readonly closeStmt;

  constructor(private readonly db: Database.Database) {
    this.openStmt = db.prepare(OPEN_SQL);
    this.closeStmt = db.prepare(CLOSE_SQL);
  }

  async open(a: AlertOpening): Promise<boolean> {
    return this.openStmt.run(...openArgs(a)).changes > 0;
  }

  async close(binId: string, type: string, at: number): Promise<boolean> {
    return this.closeStmt.run(at, binId, type).changes > 0;
  }

  async list(f: AlertFilter = {}): Promise<Alert[]> {
    const { sql, args } = listSql(f);
    return this.db.prepare(sql).all(...args) as Alert[];
  }

  async closeAllOf(binId: string, at: number): Promise<number> {
    return this.db.prepare(CLOSE_ALL_SQL).run(at, binId).changes;
  }

  async openCounts(): Promise<{ type: string; n: number }[]> {
    return this.db.prepare(COUNTS_SQL).all() as { type: string; n: number }[];
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the statements above have no `?` elsewhere). */
const numbered = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/**
 * The alerts in PostgreSQL (the same `alerts` table), on a transaction's client or the pool. Two instances opening the
 * same bin's alert at once: the partial unique index `alerts_one_open` lets one insert through, the other's
 * ON CONFLICT … DO NOTHING reports false (the rules lock the bin's rule_state row first, so it rarely comes to that).
 */
export class PostgresAlertStore implements AlertStore {
  constructor(private readonly q: Queryable) {}

  async open(a: AlertOpening): Promise<boolean> {
    const { rowCount } = await this.q.query(numbered(OPEN_SQL), openArgs(a));
    return (rowCount ?? 0) > 0;
  }

  async close(binId: string, type: string, at: number): Promise<boolean> {
    const { rowCount } = await this.q.query(numbered(CLOSE_SQL), [at, binId, type]);
    return (rowCount ?? 0) > 0;
  }

  async list(f: AlertFilter = {}): Promise<Alert[]> {
    const { sql, args } = listSql(f);
    const { rows } = await this.q.query<Alert>(numbered(sql), args);
    return rows;
  }

  async closeAllOf(binId: string, at: number): Promise<number> {
    const { rowCount } = await this.q.query(numbered(CLOSE_ALL_SQL), [at, binId]);
    return rowCount ?? 0;
  }

  async openCounts(): Promise<{ type: string; n: number }[]> {
    const { rows } = await this.q.query<{ type: string; n: number }>(`SELECT type, count(*)::int AS n FROM alerts WHERE status = 'open' GROUP BY type`);
    return rows;
  }
}
