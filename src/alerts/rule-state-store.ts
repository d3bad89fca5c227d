import type Database from 'better-sqlite3';

/** The rules engine's per-bin memory. Synchronous: `put` runs inside the rules runner's transaction. */
export interface RuleStateStore<S> {
  get(binId: string): S | undefined;
  /** Updates the cache only (the caller writes the newest state with put before its transaction ends). */
  remember(binId: string, state: S): void;
  /** Caller runs this inside its transaction. */
  put(binId: string, state: S, at: number): void;
  /** Every bin with a state. */
  binIds(): string[];
}

/** The rules state in SQLite (`rule_state`, JSON), cached in memory and written back in batches. */
export class SqliteRuleStateStore<S> implements RuleStateStore<S> {
  private readonly cache = new Map<string, S>();
  private readonly upsertStmt;
  private readonly getStmt;

  constructor(db: Database.Database) {
    this.upsertStmt = db.prepare(
      'INSERT INTO rule_state (bin_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (bin_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
    );
    this.getStmt = db.prepare('SELECT state FROM rule_state WHERE bin_id = ?').pluck();
    for (const row of db.prepare('SELECT bin_id, state FROM rule_state').all() as { bin_id: string; state: string }[]) {
      this.cache.set(row.bin_id, JSON.parse(row.state) as S);
    }
  }

  get(binId: string): S | undefined {
    return this.cache.get(binId);
  }

  remember(binId: string, state: S): void {
    this.cache.set(binId, state);
  }

  put(binId: string, state: S, at: number): void {
    this.cache.set(binId, state);
    this.upsertStmt.run(binId, JSON.stringify(state), at);
  }

  binIds(): string[] {
    return [...this.cache.keys()];
  }
}
