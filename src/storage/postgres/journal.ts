import type pg from 'pg';
import { realClock, type Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { newestPerBin } from '../bin-state.js';
import { CommittedFeed } from '../committed-feed.js';
import { CommitPacer, PacedRun, observeAckDelays, spoolLines, type JournalPace, spoolsPoints, type CommitHook, type JournalBacklog, type JournalEntry, type ReadingJournal } from '../reading-journal.js';
import { StagedRuleStates, type RuleStateRow, type TakeRuleStates } from '../rule-state-table.js';
import { JournalUnavailableError } from '../worker-journal.js';
import type { PostgresBinStateStore } from './bin-state.js';
import type { PostgresReadingHistory } from './reading-history.js';
import type { PoolSource, PostgresSpool } from './spool.js';

interface Pending {
  entry: JournalEntry;
  at: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

// deadlock_detected, serialization_failure: the transaction is rolled back whole and may simply run again
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 3;

/**
 * The journal on PostgreSQL (store.url): a group commit is one transaction on one connection of the pool, with one
 * multi-row statement per table (unnest arrays): the spool's points, the newest reading per bin as bin state (never
 * backwards: see PostgresBinStateStore), the bins' history, and what the `inCommit` hooks write first (the rules:
 * the group's rule_state rows locked, judged and written back, alerts opened and closed). Rule states staged through
 * stageRuleStates are stored too, though the rules on PostgreSQL no longer stage any. A reading's promise resolves after COMMIT returned (synchronous_commit stays on: the WAL is flushed on the server),
 * so the broker's PUBACK follows a durable commit. While a commit is in flight the next readings gather, and go in
 * the next one (the group is as large as the database is slow, up to maxBatch). A commit that fails (the database
 * unreachable, a connection broken mid-way) rejects its readings with JournalUnavailableError: the broker sends no
 * PUBACK, the devices send them again, and nothing of the group is stored. Two instances' commits that touch the
 * same bins lock their rows in bin order; a deadlock between them all the same is retried.
 */
export class PostgresReadingJournal implements ReadingJournal {
  private pending: Pending[] = [];
  private inFlight = 0;
  private oldestInFlight: number | null = null;
  private readonly next: PacedRun;
  private running: Promise<void> | null = null;
  private readonly feed: CommittedFeed;
  /** taken into every commit (no rules stage here; the contract holds all the same) */
  private readonly staged = new StagedRuleStates(0);
  private readonly hooks: CommitHook[] = [];
  private readonly clock: Clock;
  private readonly pacer: CommitPacer;

  constructor(
    private readonly pool: PoolSource,
    private readonly spool: PostgresSpool | null,
    private readonly binState: PostgresBinStateStore,
    private readonly history: PostgresReadingHistory | null,
    private readonly opts: JournalPace & { maxBatch: number; clock?: Clock },
    private readonly metrics: Pick<Metrics, 'journalCommit' | 'journalAckDelay'>,
    private readonly log: Logger,
  ) {
    this.clock = opts.clock ?? realClock;
    this.pacer = new CommitPacer(opts.delayMs, opts.groupTarget);
    this.next = new PacedRun(this.clock, () => void this.drain());
    this.feed = new CommittedFeed(log);
  }

  onCommitted(listener: (entries: JournalEntry[]) => unknown): void {
    this.feed.listen(listener);
  }

  inCommit(hook: CommitHook): void {
    this.hooks.push(hook);
  }

  record(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (spoolsPoints(entry)) this.spool?.assertRoom();
      this.pending.push({ entry, at: this.clock.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Commits whatever is waiting, runs the listeners of what was committed, and stores the rule states they staged. */
  async flush(): Promise<void> {
    await this.running;
    await this.drain();
    this.feed.drain();
    await this.feed.settled();
    await this.drain();
  }

  settled(): Promise<void> {
    return this.feed.settled();
  }

  stageRuleStates(take: TakeRuleStates): void {
    this.staged.add(take);
    this.schedule();
  }

  backlog(): JournalBacklog {
    const oldest = this.oldestInFlight ?? this.pending[0]?.at ?? null;
    return { readings: this.inFlight + this.pending.length, oldestMs: oldest, state: 'ok' };
  }

  private schedule(): void {
    // a running drain takes what comes meanwhile
    if (this.running) return;
    this.next.within(this.pacer.waitMs(this.clock.now(), this.pending.length));
  }

  /** Commits group after group until nothing waits; one at a time, so groups commit in the order they were received. */
  private drain(): Promise<void> {
    this.running ??= (async () => {
      try {
        while (this.pending.length > 0 || this.staged.waiting) await this.commitNext();
      } finally {
        this.pacer.ended(this.clock.now());
        this.running = null;
      }
    })();
    return this.running;
  }

  private async commitNext(): Promise<void> {
    const group = this.pending.length <= this.opts.maxBatch ? this.pending : this.pending.slice(0, this.opts.maxBatch);
    this.pending = group === this.pending ? [] : this.pending.slice(group.length);
    const now = this.clock.now();
    const states = this.staged.take(now, true);
    this.inFlight = group.length;
    this.oldestInFlight = group[0]?.at ?? null;
    const entries = group.map((p) => p.entry);
    const lines = this.spool ? spoolLines(entries) : [];
    const end = this.metrics.journalCommit.startTimer();
    let after: (() => void)[] = [];
    try {
      const rows = await this.transaction((client) => {
        // a commit run again (a deadlock) runs the hooks again: only the last attempt's work follows the COMMIT
        after = [];
        return this.writeGroup(client, entries, lines, now, states, (fn) => void after.push(fn));
      });
      end();
      for (const fn of after) {
        try {
          fn();
        } catch (err) {
          this.log.error({ err }, 'work after a journal commit failed');
        }
      }
      this.spool?.noteInserted(lines, now);
      this.binState.remember(rows);
    } catch (err) {
      end();
      this.history?.forgetUncommitted();
      const reason = err instanceof Error ? err.message : String(err);
      this.log.error({ err, readings: group.length }, 'journal commit failed; readings not acknowledged');
      const refusal = new JournalUnavailableError(`PostgreSQL commit failed (${reason}); reading not recorded`);
      for (const p of group) p.reject(refusal);
      this.inFlight = 0;
      this.oldestInFlight = null;
      // the rule states wait for the next commit (a newer state of a bin has a higher seq and wins); alone, they are
      // not tried again at once against a database that just failed: the next reading carries them
      if (states.length > 0) this.stagedRetryLater(states);
      return;
    }
    this.inFlight = 0;
    this.oldestInFlight = null;
    observeAckDelays(this.metrics.journalAckDelay, group, this.clock.now());
    for (const p of group) p.resolve();
    this.feed.push(entries);
  }

  private stagedRetryLater(states: RuleStateRow[]): void {
    if (this.pending.length > 0) return this.staged.add(() => states);
    this.clock.setTimeout(() => this.stageRuleStates(() => states), 1000);
  }

  private async writeGroup(
    client: pg.PoolClient,
    entries: readonly JournalEntry[],
    lines: readonly string[],
    now: number,
    states: readonly RuleStateRow[],
    afterCommit: (fn: () => void) => void,
  ) {
    // the hooks first: the rules lock the group's rule_state rows (bin order) before bin_state's rows are locked
    // (bin order), the same order on every instance, so two instances' commits wait for each other, never deadlock
    if (entries.length > 0) for (const hook of this.hooks) await hook(client, entries, afterCommit);
    if (this.spool && lines.length > 0) await this.spool.insertIn(client, lines, now);
    const readings = entries.map((e) => e.reading);
    const rows = await this.binState.upsertIn(client, newestPerBin(readings));
    if (entries.length > 0) await this.history?.recordIn(client, readings, now);
    if (states.length > 0) await upsertRuleStates(client, states);
    return rows;
  }

  /** BEGIN … COMMIT on a connection of its own; a deadlock or serialization failure runs it again. */
  private async transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool().connect();
      let broken: Error | undefined;
      const onError = (err: Error): void => void (broken ??= err);
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken ??= e));
        this.history?.forgetUncommitted();
        const code = (err as { code?: string }).code ?? '';
        if (attempt < ATTEMPTS && RETRYABLE.has(code)) {
          this.log.warn({ code, attempt }, 'journal commit ran into another instance\'s; running it again');
          continue;
        }
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }
}

/** rule_state rows, in bin order; a row never replaces one with a higher seq (the same rule as RuleStateTable). */
async function upsertRuleStates(client: pg.ClientBase, states: readonly RuleStateRow[]): Promise<void> {
  const sorted = [...states].sort((a, b) => (a.binId < b.binId ? -1 : a.binId > b.binId ? 1 : 0));
  await client.query(
    `INSERT INTO rule_state AS r (bin_id, state, updated_at, seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
     ON CONFLICT (bin_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, seq = excluded.seq
     WHERE excluded.seq > r.seq`,
    [sorted.map((s) => s.binId), sorted.map((s) => s.state), sorted.map((s) => s.at), sorted.map((s) => s.seq)],
  );
}
