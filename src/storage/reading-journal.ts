import { realClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { orderTs } from '../rules/index.js';
import type { BinStateStore, LatestReading } from './bin-state.js';
import type { Db } from './database.js';
import { readingPoints, type ReadingPointsOf } from './points.js';
import type { ReadingHistory } from './reading-history.js';
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
export interface ReadingJournal {
  /** Called with each committed group, in commit order (the rules engine listens here). */
  onCommitted(listener: (entries: JournalEntry[]) => void): void;
  /** Resolves once the reading is durably recorded; rejects (SpoolFullError, disk errors) when it is not. */
  record(entry: JournalEntry): Promise<void>;
  /** Commits whatever is waiting, now (used at shutdown); resolves once it is committed. */
  flush(): Promise<void>;
  backlog(): JournalBacklog;
}

/**
 * The journal's one transaction: the spool's points, the bins' state (newest reading per bin) and their history.
 * Shared by the inline journal and the journal worker, so both store exactly the same.
 */
export class GroupCommit {
  private readonly tx;

  constructor(
    db: Db,
    private readonly spool: SpoolTable | null,
    binState: BinStateStore,
    private readonly history: ReadingHistory | null,
  ) {
    this.tx = db.transaction((entries: readonly JournalEntry[], now: number) => {
      const newest = new Map<string, LatestReading>();
      // the group's points in one insert, in the entries' order
      const lines: string[] = [];
      for (const entry of entries) {
        if (this.spool) {
          if (entry.points) for (const line of readingPoints(entry.reading, entry.points.bin, entry.points.withState)) lines.push(line);
          for (const line of entry.lines) lines.push(line);
        }
        const seen = newest.get(entry.reading.binId);
        if (!seen || orderTs(seen) <= orderTs(entry.reading)) newest.set(entry.reading.binId, entry.reading);
      }
      if (this.spool && lines.length > 0) this.spool.insert(lines, now);
      for (const r of newest.values()) binState.upsert(r);
      this.history?.record(
        entries.map((e) => e.reading),
        now,
      );
    });
  }

  /** Commits the group (fsynced with spool.sync=full); on an error nothing of it was stored, and the error is thrown. */
  run(entries: readonly JournalEntry[], now: number): void {
    try {
      this.tx(entries, now);
    } catch (err) {
      // the rollback took back what the in-memory counts and caches had already seen
      this.spool?.recount();
      this.history?.forgetUncommitted();
      throw err;
    }
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
  private scheduled = false;
  private readonly listeners: ((entries: JournalEntry[]) => void)[] = [];
  private readonly group: GroupCommit;
  private readonly clock: Clock;

  constructor(
    db: Db,
    private readonly spool: SpoolTable | null,
    binState: BinStateStore,
    private readonly opts: { maxBatch: number; delayMs: number; clock?: Clock },
    private readonly metrics: Metrics,
    private readonly log: Logger,
    history: ReadingHistory | null = null,
  ) {
    this.group = new GroupCommit(db, spool, binState, history);
    this.clock = opts.clock ?? realClock;
  }

  /** Called with each committed group, in commit order (the rules engine listens here). */
  onCommitted(listener: (entries: JournalEntry[]) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once the reading is durably recorded; rejects (SpoolFullError, disk errors) when it is not. */
  record(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (spoolsPoints(entry)) this.spool?.assertRoom();
      this.pending.push({ entry, at: this.clock.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Commits whatever is waiting, now (used at shutdown). */
  flush(): Promise<void> {
    while (this.pending.length > 0) this.commit();
    return Promise.resolve();
  }

  backlog(): JournalBacklog {
    return { readings: this.pending.length, oldestMs: this.pending[0]?.at ?? null, state: 'ok' };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.commit();
      if (this.pending.length > 0) this.schedule();
    };
    if (this.opts.delayMs > 0) this.clock.setTimeout(run, this.opts.delayMs);
    else setImmediate(run);
  }

  private commit(): void {
    const group = this.pending.length <= this.opts.maxBatch ? this.pending : this.pending.slice(0, this.opts.maxBatch);
    this.pending = group === this.pending ? [] : this.pending.slice(group.length);
    if (group.length === 0) return;
    const entries = group.map((p) => p.entry);
    const end = this.metrics.journalCommit.startTimer();
    try {
      this.group.run(entries, this.clock.now());
    } catch (err) {
      end();
      this.log.error({ err, readings: group.length }, 'journal commit failed; readings not acknowledged');
      for (const p of group) p.reject(err as Error);
      return;
    }
    end();
    for (const p of group) p.resolve();
    notifyCommitted(this.listeners, entries, this.log);
  }
}

/** Hands a committed group to each listener; one that throws is logged and the others still run. */
export function notifyCommitted(listeners: readonly ((entries: JournalEntry[]) => void)[], entries: JournalEntry[], log: Logger): void {
  for (const listener of listeners) {
    try {
      listener(entries);
    } catch (err) {
      log.error({ err }, 'journal listener failed');
    }
  }
}
