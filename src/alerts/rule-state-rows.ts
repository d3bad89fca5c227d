import type Database from 'better-sqlite3';
import type { Queryable } from '../storage/postgres/index.js';

/** A bin's rule state to store: the rules engine's memory, JSON. */
export interface RuleStateWrite {
  binId: string;
  state: string;
  at: number;
}

/**
 * The `rule_state` rows in a decision's transaction. On PostgreSQL the table is the truth every instance shares: the
 * rules lock a bin's row, evaluate from what it holds and write it back before the transaction commits, so two
 * instances never judge one bin from two memories. On SQLite the one process's cache is the truth
 * (SqliteRuleStateStore writes and stages it); there this only reads.
 */
export interface RuleStateRows {
  /**
   * Locks the bins' rows for the rest of the transaction, in bin order (a missing row is created first, so that a
   * bin's first readings on two instances also wait for each other); each bin's state as stored, null for none yet.
   */
  lock(binIds: readonly string[], at: number): Promise<Map<string, string | null>>;
  /** Writes states of rows this transaction locked. */
  write(rows: readonly RuleStateWrite[]): Promise<void>;
  /** Every bin's state as stored (no lock): the offline check's look, and the cache's load at start. */
  all(): Promise<{ bin_id: string; state: string }[]>;
}

const byBin = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `rule_state` in PostgreSQL. A created row holds the JSON `null` until the rules write the bin's first state. */
export class PostgresRuleStateRows implements RuleStateRows {
  constructor(private readonly q: Queryable) {}

  async lock(binIds: readonly string[], at: number): Promise<Map<string, string | null>> {
    const ids = [...new Set(binIds)].sort(byBin);
    const states = new Map<string, string | null>();
    if (ids.length === 0) return states;
    // rows created in bin order too: an insert that meets another transaction's uncommitted row waits for it
    await this.q.query(
      `INSERT INTO rule_state (bin_id, state, updated_at, seq) SELECT id, 'null', $2, 0 FROM unnest($1::text[]) AS id ORDER BY id
       ON CONFLICT (bin_id) DO NOTHING`,
      [ids, at],
    );
    const { rows } = await this.q.query<{ bin_id: string; state: string }>(
      'SELECT bin_id, state FROM rule_state WHERE bin_id = ANY($1::text[]) ORDER BY bin_id FOR UPDATE',
      [ids],
    );
    for (const row of rows) states.set(row.bin_id, row.state === 'null' ? null : row.state);
    return states;
  }

  async write(rows: readonly RuleStateWrite[]): Promise<void> {
    if (rows.length === 0) return;
    const sorted = [...rows].sort((a, b) => byBin(a.binId, b.binId));
    await this.q.query(
      `UPDATE rule_state AS r SET state = w.state, updated_at = w.at, seq = r.seq + 1
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS w(bin_id, state, at) WHERE r.bin_id = w.bin_id`,
      [sorted.map((r) => r.binId), sorted.map((r) => r.state), sorted.map((r) => r.at)],
    );
  }

  async all(): Promise<{ bin_id: string; state: string }[]> {
    const { rows } = await this.q.query<{ bin_id: string; state: string }>(`SELECT bin_id, state FROM rule_state WHERE state <> 'null'`);
    return rows;
  }
}

/** `rule_state` in SQLite, read only: the rules' cache writes it there (SqliteRuleStateStore), with its own order. */
export class SqliteRuleStateRows implements RuleStateRows {
  constructor(private readonly db: Database.Database) {}

  async lock(binIds: readonly string[]): Promise<Map<string, string | null>> {
    // the transaction is the only writer on the connection: reading is locking enough
    const get = this.db.prepare('SELECT state FROM rule_state WHERE bin_id = ?').pluck();
    return new Map(binIds.map((id) => [id, (get.get(id) as string | undefined) ?? null]));
  }

  async write(): Promise<void> {
    throw new Error('rule_state on SQLite is written by SqliteRuleStateStore (it orders the states the journal stages)');
  }

  async all(): Promise<{ bin_id: string; state: string }[]> {
    return this.db.prepare('SELECT bin_id, state FROM rule_state').all() as { bin_id: string; state: string }[];
  }
}
