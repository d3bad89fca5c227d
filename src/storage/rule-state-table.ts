import type { Db } from './database.js';

/** One bin's rule state as stored: the rules engine's memory, JSON, and the order it was decided in. */
export interface RuleStateRow {
  binId: string;
  state: string;
  at: number;
  /** increases with every state the rules decide; a row never replaces one with a higher seq */
  seq: number;
}

/** Hands over the rule states that wait for a journal's commit, each bin's newest, serialised as they are taken. */
export type TakeRuleStates = () => RuleStateRow[];

/** How often, at most, staged rule states ride a journal's commit (flush() takes them at once). */
export const RULE_STATES_EVERY_MS = 100;

/**
 * The rule states that wait for a journal's commit. After every commit the rules stage the states of the group's
 * bins; serialising each of them for every group cost the event loop more than the rules themselves at 10,000
 * readings/s, and only a bin's newest state is ever kept. So the states wait where they are (the rules' store, as
 * objects) and the journal takes them, serialised then, at most every `everyMs` (with the first commit after that;
 * a commit of their own when no reading comes), or at once when it is flushed. A kill -9 loses what waits: the
 * rules' memory of the last moments, never a reading or an alert (those are written in their own transactions).
 */
export class StagedRuleStates {
  private readonly takers = new Set<TakeRuleStates>();
  private lastAt = -Infinity;

  constructor(private readonly everyMs = RULE_STATES_EVERY_MS) {}

  add(take: TakeRuleStates): void {
    this.takers.add(take);
  }

  get waiting(): boolean {
    return this.takers.size > 0;
  }

  /** How long until the waiting states are due (0: now). */
  dueIn(now: number): number {
    return Math.max(0, this.lastAt + this.everyMs - now);
  }

  /** The rows for a commit that starts now: none when none wait or they are not due yet, unless `force`. */
  take(now: number, force = false): RuleStateRow[] {
    if (this.takers.size === 0 || (!force && this.dueIn(now) > 0)) return [];
    this.lastAt = now;
    const rows: RuleStateRow[] = [];
    for (const take of this.takers) for (const r of take()) rows.push(r);
    this.takers.clear();
    return rows;
  }
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
