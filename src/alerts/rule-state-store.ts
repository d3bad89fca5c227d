import type Database from 'better-sqlite3';
import { RuleStateTable, type RuleStateRow, type TakeRuleStates } from '../storage/index.js';

/** The rules engine's per-bin memory. Synchronous: the cache is the truth while running; SQLite keeps it for a restart. */
export interface RuleStateStore<S> {
  get(binId: string): S | undefined;
  /** Updates the cache only (the caller then writes or stages the newest state). */
  remember(binId: string, state: S): void;
  /** Writes the states now; the caller runs this inside its transaction (the one that opens or closes alerts). */
  write(states: Iterable<[binId: string, state: S]>, at: number): void;
  /** Hands the states to the journal, whose commits store them (no transaction of their own; see StagedRuleStates). */
  stage(states: Iterable<[binId: string, state: S]>, at: number): void;
  /** Every bin with a state. */
  binIds(): string[];
}

/**
 * The rules state in SQLite (`rule_state`, JSON), cached in memory. Most states ride in one of the journal's group
 * commits (staged: the journal takes the bins changed since, serialised then, at most every RULE_STATES_EVERY_MS);
 * those of bins whose alerts open or close are written in the rules' own transaction, with the alerts. Both may land
 * out of order (the journal's commit can come later, in its worker): every state carries a sequence number, and a
 * row is never replaced by an older one.
 */
export class SqliteRuleStateStore<S> implements RuleStateStore<S> {
  private readonly cache = new Map<string, S>();
  /** bins whose state waits for the journal, with the time it was decided */
  private readonly staged = new Map<string, number>();
  private readonly table: RuleStateTable;
  private seq: number;

  constructor(
    db: Database.Database,
    private readonly journal: { stageRuleStates(take: TakeRuleStates): void },
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
    for (const row of this.rows(states, at)) {
      this.table.upsert(row);
      this.staged.delete(row.binId);
    }
  }

  stage(states: Iterable<[string, S]>, at: number): void {
    const before = this.staged.size;
    for (const [binId, state] of states) {
      this.cache.set(binId, state);
      this.staged.set(binId, at);
    }
    if (before === 0 && this.staged.size > 0) this.journal.stageRuleStates(this.take);
  }

  /** The journal takes the staged bins' states as they are now (the newest), each once. */
  private readonly take = (): RuleStateRow[] => {
    const rows: RuleStateRow[] = [];
    for (const [binId, at] of this.staged) rows.push({ binId, state: JSON.stringify(this.cache.get(binId)), at, seq: ++this.seq });
    this.staged.clear();
    return rows;
  };

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
