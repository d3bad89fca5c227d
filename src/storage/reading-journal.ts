import { realClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { orderTs } from '../rules/index.js';
import type { BinStateStore, LatestReading } from './bin-state.js';
import type { Db } from './database.js';
import type { ReadingHistory } from './reading-history.js';
import type { Spool } from './spool.js';

export interface JournalEntry {
  reading: LatestReading;
  /** Line-protocol points for InfluxDB; empty when the writer is off. */
  lines: string[];
}

interface Pending {
  entry: JournalEntry;
  resolve: () => void;
  reject: (err: Error) => void;
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
  /** Commits whatever is waiting, now (used at shutdown). */
  flush(): void;
}

/** The journal's group commit in one SQLite transaction: the spool's points, the bins' state and their history. */
export class SqliteReadingJournal implements ReadingJournal {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly listeners: ((entries: JournalEntry[]) => void)[] = [];
  private readonly commitTx;

  constructor(
    db: Db,
    private readonly spool: Spool | null,
    private readonly binState: BinStateStore,
    private readonly opts: { maxBatch: number; delayMs: number; clock?: Clock },
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly history: ReadingHistory | null = null,
  ) {
    this.commitTx = db.transaction((entries: Pending[], now: number) => {
      const newest = new Map<string, LatestReading>();
      for (const { entry } of entries) {
        if (this.spool && entry.lines.length > 0) this.spool.insert(entry.lines, now);
        const seen = newest.get(entry.reading.binId);
        if (!seen || orderTs(seen) <= orderTs(entry.reading)) newest.set(entry.reading.binId, entry.reading);
      }
      for (const r of newest.values()) this.binState.upsert(r);
      this.history?.record(entries.map((p) => p.entry.reading), now);
    });
  }

  /** Called with each committed group, in commit order (the rules engine listens here). */
  onCommitted(listener: (entries: JournalEntry[]) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once the reading is durably recorded; rejects (SpoolFullError, disk errors) when it is not. */
  record(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (entry.lines.length > 0) this.spool?.assertRoom();
      this.pending.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  /** Commits whatever is waiting, now (used at shutdown). */
  flush(): void {
    while (this.pending.length > 0) this.commit();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.commit();
      if (this.pending.length > 0) this.schedule();
    };
    if (this.opts.delayMs > 0) (this.opts.clock ?? realClock).setTimeout(run, this.opts.delayMs);
    else setImmediate(run);
  }

  private commit(): void {
    const group = this.pending.length <= this.opts.maxBatch ? this.pending : this.pending.slice(0, this.opts.maxBatch);
    this.pending = group === this.pending ? [] : this.pending.slice(group.length);
    if (group.length === 0) return;
    const end = this.metrics.journalCommit.startTimer();
    try {
      this.commitTx(group, (this.opts.clock ?? realClock).now());
    } catch (err) {
      end();
      this.spool?.recount();
      this.history?.forgetUncommitted();
      this.log.error({ err, readings: group.length }, 'journal commit failed; readings not acknowledged');
      for (const p of group) p.reject(err as Error);
      return;
    }
    end();
    for (const p of group) p.resolve();
    const entries = group.map((p) => p.entry);
    for (const listener of this.listeners) {
      try {
        listener(entries);
      } catch (err) {
        this.log.error({ err }, 'journal listener failed');
      }
    }
  }
}
