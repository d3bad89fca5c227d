import type { Db } from './database.js';

/** One bin's rule state as stored: the rules engine's memory, JSON, and the order it was decided in. */
export interface RuleStateRow {
  binId: string;
  state: string;
  at: number;
  /** increases with every state the rules decide; a row never replaces one with a higher seq */
  seq: number;
}

/** `rule_state`: written in the journal's group commit and in the rules' alert transactions (migration-8.ts). */
export class RuleStateTable {
  private readonly upsertStmt;

  constructor(private readonly db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO rule_state (bin_id, state, updated_at, seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (bin_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, seq = excluded.seq
       WHERE excluded.seq > rule_state.seq`,
    );
  }

  /** The caller's transaction holds it. */
  upsert(r: RuleStateRow): void {
    this.upsertStmt.run(r.binId, r.state, r.at, r.seq);
  }

  all(): { bin_id: string; state: string }[] {
    return this.db.prepare('SELECT bin_id, state FROM rule_state').all() as { bin_id: string; state: string }[];
  }

  maxSeq(): number {
    return (this.db.prepare('SELECT coalesce(max(seq), 0) FROM rule_state').pluck().get() as number) ?? 0;
  }
}
