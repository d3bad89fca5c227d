import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { newestPerBin, type BinStateStore, type LatestReading } from './bin-state.js';
import { CommittedFeed } from './committed-feed.js';
import { tryBeginImmediate, type Db } from './database.js';
import type { PoolClient } from './postgres/pool.js';
import { readingPoints, type ReadingPointsOf } from './points.js';
import type { ReadingHistory } from './reading-history.js';
import { RuleStateTable, StagedRuleStates, type RuleStateRow, type TakeRuleStates } from './rule-state-table.js';
import type { SpoolTable } from './spool.js';

export interface JournalEntry {
  reading: LatestReading;
  /** Line-protocol points for InfluxDB; empty when the writer is off. */
  lines: string[];
  /**
   * The reading's own points, made (readingPoints) where the entry is committed and spooled before `lines`: in the
   * journal worker that is off the event loop, and the message to it carries no line protocol. Absent when the
   * writer is off.
   */
  points?: ReadingPointsOf | undefined;
}

/** A group's readings are durable at `now` (the clock's ms): how long each waited since it arrived. */
export function observeAckDelays(metric: Pick<Metrics['journalAckDelay'], 'observe'>, group: readonly { at: number }[], now: number): void {
  for (const p of group) metric.observe((now - p.at) / 1000);
}

/**
 * A commit waits until `intervalMs` (spool.commit_delay_ms) after the last one ended: readings that come meanwhile
 * share the next commit and its fsync, and a reading that finds the journal idle longer is committed on the next
 * turn. A quiet city's readings wait for no one; a busy one's commits do not grow in number with its readings. Once
 * `groupTarget` readings (spool.commit_group_target) wait, the wait is over: the fixed cost of a commit is shared
 * enough, and at a high rate the readings do not wait out the interval only to make a larger group (0: no target).
 */
export class CommitPacer {
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly groupTarget = 0,
  ) {}

  /** How long a commit that could start at `now` (ms), with `waiting` readings, waits. */
  waitMs(now: number, waiting = 0): number {
    if (this.groupTarget > 0 && waiting >= this.groupTarget) return 0;
    return Math.max(0, this.last + this.intervalMs - now);
  }

  /** The last commit (or run of commits) ended at `now`. */
  ended(now: number): void {
    this.last = now;
  }
}

/** A journal's pace: spool.commit_delay_ms and spool.commit_group_target (CommitPacer). */
export interface JournalPace {
  delayMs: number;
  groupTarget?: number;
}

/**
 * One run of `fn`, set for a time: asked again for the same time or later it stays, asked for sooner it moves
 * (a paced commit whose group reached its target goes at once). A delay of 0 runs it at the end of this turn.
 */
export class PacedRun {
  private at: number | null = null;
  private timer: Timer | null = null;
  private current: (() => void) | null = null;

  constructor(
    private readonly clock: Pick<Clock, 'now' | 'setTimeout'>,
    private readonly fn: () => void,
  ) {}

  /** Whether a run is set. */
  get pending(): boolean {
    return this.current !== null;
  }

  /** Runs `fn` in `delayMs` (0: at the end of this turn), unless a run is set for then or sooner. */
  within(delayMs: number): void {
    const now = this.clock.now();
    if (this.at !== null && this.at <= now + delayMs) return;
    this.timer?.clear();
    this.at = now + delayMs;
    // a run on the turn's end cannot be cleared: one that was moved (the wall clock stepped back) does nothing
    const run = (): void => {
      if (this.current !== run) return;
      this.current = null;
      this.at = null;
      this.timer = null;
      this.fn();
    };
    this.current = run;
    if (delayMs > 0) this.timer = this.clock.setTimeout(run, delayMs);
    else {
      this.timer = null;
      setImmediate(run);
    }
  }
}

/** The group's points, in the entries' order (the reading's own points, then any lines it brought). */
export function spoolLines(entries: readonly JournalEntry[]): string[] {
  const lines: string[] = [];
  for (const entry of entries) {
    if (entry.points) for (const line of readingPoints(entry.reading, entry.points.bin, entry.points.withState)) lines.push(line);
    for (const line of entry.lines) lines.push(line);
  }
  return lines;
}

/** Whether the entry puts anything into the spool (which must then have room). */
export const spoolsPoints = (entry: JournalEntry): boolean => entry.points !== undefined || entry.lines.length > 0;

/** What waits for the journal's commit, for /readyz and the metrics. */
export interface JournalBacklog {
  /** readings received and not yet durably committed (nor refused) */
  readings: number;
  /** when the oldest of them was received (the injected clock's ms); null when none waits */
  oldestMs: number | null;
  /** 'restarting' while a journal worker that died is replaced: readings are refused (no PUBACK) meanwhile */
  state: 'ok' | 'restarting' | 'stopped';
}

/**
 * Group commit of accepted readings: every reading that arrives while the event loop is busy goes
 * into one SQLite transaction (spool points, latest bin state, the bin's 15-minute history), fsynced once.
 * A reading's promise resolves only after that commit, and the broker sends the PUBACK only then.
 */
/**
 * Work in a journal's group commit on PostgreSQL: `client` is the group's transaction; what is handed to
 * `afterCommit` runs once it committed (never after a rollback, and a retried commit runs the hook again).
 */
export type CommitHook = (client: PoolClient, entries: readonly JournalEntry[], afterCommit: (fn: () => void) => void) => Promise<void>;

export interface ReadingJournal {
  /**
   * Called with each committed group, in commit order (the rules engine listens here), on a turn after the one that
   * acknowledged its readings: listeners never hold up a PUBACK.
   */
  onCommitted(listener: (entries: JournalEntry[]) => unknown): void;
  /**
   * PostgreSQL only: `hook` runs inside each group's transaction, before the bins' state is written (the rules lock
   * and update the group's bins' rule state there), so its rows commit with the readings or not at all, and the
   * readings are acknowledged only after it. Absent on SQLite, where the rules follow the commit (onCommitted).
   */
  inCommit?(hook: CommitHook): void;
  /** Resolves once the reading is durably recorded; rejects (SpoolFullError, disk errors) when it is not. */
  record(entry: JournalEntry): Promise<void>;
  /** Commits whatever is waiting, now (used at shutdown); resolves once it is committed and its listeners ran. */
  flush(): Promise<void>;
  /** Resolves once every group committed so far has been through the listeners (tests wait here, not by time). */
  settled(): Promise<void>;
  /**
   * The rules' memory of some bins waits in `take`'s store; the journal takes it into a commit at most every
   * RULE_STATES_EVERY_MS (StagedRuleStates): no fsync of its own per group. A kill -9 loses what waits.
   */
  stageRuleStates(take: TakeRuleStates): void;
  backlog(): JournalBacklog;
}

/**
 * The journal's one transaction: the spool's points, the bins' state (newest reading per bin), their history, and
 * the rule states staged since the last commit. Shared by the inline journal and the journal worker, so both store
 * exactly the same.
 */
export class GroupCommit {
  private readonly tx;
  private readonly ruleStates: RuleStateTable;

  constructor(
    private readonly db: Db,
    private readonly spool: SpoolTable | null,
    binState: BinStateStore,
    private readonly history: ReadingHistory | null,
  ) {
    this.ruleStates = new RuleStateTable(db);
    this.tx = db.transaction((entries: readonly JournalEntry[], now: number, states: Iterable<RuleStateRow>) => {
      const readings = entries.map((e) => e.reading);
      if (this.spool) {
        // the group's points in one insert
        const lines = spoolLines(entries);
        if (lines.length > 0) this.spool.insert(lines, now);
      }
      binState.upsert(newestPerBin(readings));
      if (entries.length > 0) this.history?.record(readings, now);
      for (const r of states) this.ruleStates.upsert(r);
    });
  }

  /** Commits the group (fsynced with spool.sync=full); on an error nothing of it was stored, and the error is thrown. */
  run(entries: readonly JournalEntry[], now: number, states: Iterable<RuleStateRow> = []): void {
    try {
      this.tx.immediate(entries, now, states);
    } catch (err) {
      this.rolledBack();
      throw err;
    }
  }

  /**
   * As `run`, but gives up at once, with nothing done, while another connection holds the write lock: false then
   * (the journal worker tries again a moment later, its thread free meanwhile).
   */
  tryRun(entries: readonly JournalEntry[], now: number, states: Iterable<RuleStateRow> = []): boolean {
    if (!tryBeginImmediate(this.db)) return false;
    try {
      // inside the open transaction the transaction function is a savepoint; the COMMIT below is the fsync
      this.tx(entries, now, states);
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.rolledBack();
      throw err;
    }
    return true;
  }

  /** The rollback took back what the in-memory counts and caches had already seen. */
  private rolledBack(): void {
    this.spool?.recount();
    this.history?.forgetUncommitted();
  }
}

interface Pending {
  entry: JournalEntry;
  at: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The journal on the event loop: its group commit runs between the broker's turns. */
export class SqliteReadingJournal implements ReadingJournal {
  private pending: Pending[] = [];
  private readonly next: PacedRun;
  private readonly feed: CommittedFeed;
  private readonly staged = new StagedRuleStates();
  private readonly group: GroupCommit;
  private readonly clock: Clock;
  private readonly pacer: CommitPacer;

  constructor(
    db: Db,
    private readonly spool: SpoolTable | null,
    binState: BinStateStore,
    private readonly opts: JournalPace & { maxBatch: number; clock?: Clock },
    private readonly metrics: Metrics,
    private readonly log: Logger,
    history: ReadingHistory | null = null,
  ) {
    this.group = new GroupCommit(db, spool, binState, history);
    this.clock = opts.clock ?? realClock;
    this.pacer = new CommitPacer(opts.delayMs, opts.groupTarget);
    this.next = new PacedRun(this.clock, () => {
      this.commit();
      this.pacer.ended(this.clock.now());
      if (this.pending.length > 0 || this.staged.waiting) this.schedule();
    });
    this.feed = new CommittedFeed(log);
  }

  onCommitted(listener: (entries: JournalEntry[]) => unknown): void {
    this.feed.listen(listener);
  }

  /** Resolves once the reading is durably recorded; rejects (SpoolFullError, disk errors) when it is not. */
  record(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (spoolsPoints(entry)) this.spool?.assertRoom();
      this.pending.push({ entry, at: this.clock.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Commits whatever is waiting, now (used at shutdown), runs the listeners of what was committed, and stores the rule states they staged. */
  async flush(): Promise<void> {
    while (this.pending.length > 0) this.commit(true);
    this.feed.drain();
    // the rules' transactions the listeners began (alerts opening) finish before the staged states are stored
    await this.feed.settled();
    this.commit(true);
  }

  stageRuleStates(take: TakeRuleStates): void {
    this.staged.add(take);
    this.schedule();
  }

  settled(): Promise<void> {
    return this.feed.settled();
  }

  backlog(): JournalBacklog {
    return { readings: this.pending.length, oldestMs: this.pending[0]?.at ?? null, state: 'ok' };
  }

  /** The next commit: on the next turn (or when the pacer lets it) for readings; rule states alone when they are due. */
  private schedule(): void {
    const now = this.clock.now();
    const paced = this.pacer.waitMs(now, this.pending.length);
    this.next.within(this.pending.length > 0 ? paced : Math.max(paced, this.staged.dueIn(now)));
  }

  private commit(force = false): void {
    const group = this.pending.length <= this.opts.maxBatch ? this.pending : this.pending.slice(0, this.opts.maxBatch);
    this.pending = group === this.pending ? [] : this.pending.slice(group.length);
    const now = this.clock.now();
    const states = this.staged.take(now, force);
    if (group.length === 0 && states.length === 0) return;
    const entries = group.map((p) => p.entry);
    const end = this.metrics.journalCommit.startTimer();
    try {
      this.group.run(entries, now, states);
    } catch (err) {
      end();
      // the rule states wait for the next commit (a newer state of a bin has a higher seq and wins)
      if (states.length > 0) this.staged.add(() => states);
      this.log.error({ err, readings: group.length }, 'journal commit failed; readings not acknowledged');
      for (const p of group) p.reject(err as Error);
      return;
    }
    end();
    observeAckDelays(this.metrics.journalAckDelay, group, this.clock.now());
    for (const p of group) p.resolve();
    this.feed.push(entries);
  }
}
