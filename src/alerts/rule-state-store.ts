import type Database from 'better-sqlite3';
import { RuleStateTable, type RuleStateRow } from '../storage/index.js';

/** The rules engine's per-bin memory. Synchronous: the cache is the truth while running; SQLite keeps it for a restart. */
export interface RuleStateStore<S> {
  get(binId: string): S | undefined;
  /** Updates the cache only (the caller then writes or stages the newest state). */
  remember(binId: string, state: S): void;
  /** Writes the states now; the caller runs this inside its transaction (the one that opens or closes alerts). */
  write(states: Iterable<[binId: string, state: S]>, at: number): void;
  /** Hands the states to the journal, whose next commit stores them (no transaction of their own). */
  stage(states: Iterable<[binId: string, state: S]>, at: number): void;
  /** Every bin with a state. */
  binIds(): string[];
}

/**
 * The rules state in SQLite (`rule_state`, JSON), cached in memory. Most states ride in the journal's next group
 * commit (staged); those of bins whose alerts open or close are written in the rules' own transaction, with the
 * alerts. Both may land out of order (the journal's commit can come later, in its worker): every state carries a
 * sequence number, and a row is never replaced by an older one.
 */
export class SqliteRuleStateStore<S> implements RuleStateStore<S> {
  private readonly cache = new Map<string, S>();
  private readonly table: RuleStateTable;
  private seq: number;

  constructor(
    db: Database.Database,
    private readonly journal: { stageRuleStates(rows: readonly RuleStateRow[]): void },
  ) {
    this.table = new RuleStateTable(db);
    for (const row of this.table.all()) this.cache.set(row.bin_id, JSON.parse(row.state) as S);
    this.seq = this.table.maxSeq();
  }

  get(binId: string): S | undefined {
    return this.cache.get(binId);
  }

  remember(binId: string, state: S): void {
    this.cache.set(binId, state);
  }

  write(states: Iterable<[string, S]>, at: number): void {
    for (const row of this.rows(states, at)) this.table.upsert(row);
  }

  stage(states: Iterable<[string, S]>, at: number): void {
    const rows = this.rows(states, at);
    if (rows.length > 0) this.journal.stageRuleStates(rows);
  }

  binIds(): string[] {
    return [...this.cache.keys()];
  }

  private rows(states: Iterable<[string, S]>, at: number): RuleStateRow[] {
    const rows: RuleStateRow[] = [];
    for (const [binId, state] of states) {
      this.cache.set(binId, state);
      rows.push({ binId, state: JSON.stringify(state), at, seq: ++this.seq });
    }
    return rows;
  }
}

/**
 * The rules state's cache on PostgreSQL: there `rule_state` is the truth all instances share, locked and written by
 * the rules in their transactions (RuleStateRows). This keeps what this instance last read or wrote, for readers
 * that take a hint (the dispatcher's planner reads the fill rate in it; the API the outliers), and is loaded at start.
 */
export class RuleStateCache<S> implements RuleStateStore<S> {
  private readonly cache = new Map<string, S>();

  get(binId: string): S | undefined {
    return this.cache.get(binId);
  }

  remember(binId: string, state: S): void {
    this.cache.set(binId, state);
  }

  /** Nothing to write here: the rules wrote the rows; the cache takes the states. */
  write(states: Iterable<[string, S]>): void {
    for (const [binId, state] of states) this.cache.set(binId, state);
  }

  stage(states: Iterable<[string, S]>): void {
    this.write(states);
  }

  binIds(): string[] {
    return [...this.cache.keys()];
  }
}
