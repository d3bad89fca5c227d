import { AsyncLocalStorage } from 'node:async_hooks';
import { realClock } from '../clock.js';
import { BUSY_TIMEOUT_MS, LOCK_RETRY_MS, lockTimedOut, tryBeginImmediate, type Db } from './database.js';

/**
 * A unit of work: `tx(async (t) => …)` runs `work` in one database transaction, with `t` the stores bound to it;
 * committed when `work` resolves, rolled back when it throws (and the error goes up as it was). Decisions and the
 * rows they cause (a job and its crew message) go in one `tx`, so they are kept together or not at all. The same
 * interface on SQLite (storage/unit-of-work.ts) and PostgreSQL (storage/postgres/unit-of-work.ts); the contract both
 * pass is test/helpers/unit-of-work-contracts.ts.
 */
export interface UnitOfWork<T> {
  tx<R>(work: (t: T) => Promise<R>): Promise<R>;
}

/**
 * `tx` called inside `tx`: the inner one would wait for the outer one's connection (SQLite) or take a second
 * connection whose row locks the outer one holds (PostgreSQL), and neither ever finishes. Pass `t` down instead.
 */
export class NestedTransactionError extends Error {
  override readonly name = 'NestedTransactionError';
  constructor() {
    super('a transaction was started inside another one on the same store: pass the outer transaction\'s stores down instead');
  }
}

/**
 * Whether the running code is inside one of this store's transactions, so a nested `tx` fails at once instead of
 * hanging. Work that was started inside a transaction and carries on after it ended (a timer set in it) is free.
 *
 * It needs AsyncLocalStorage, which on Node 20 runs a hook for every promise the process makes (2–3 µs a reading on
 * the MQTT event loop at 10,000 readings/s, bench:ingest): so the check runs where the code is exercised — tests
 * and development — and not under NODE_ENV=production (the container image's setting), where a nested `tx` would
 * wait for ever; the whole test suite runs with it on.
 */
export class TxScope {
  private readonly inside = process.env.NODE_ENV === 'production' ? null : new AsyncLocalStorage<{ open: boolean }>();

  check(): void {
    if (this.inside?.getStore()?.open) throw new NestedTransactionError();
  }

  async run<R>(work: () => Promise<R>): Promise<R> {
    if (!this.inside) return work();
    const mark = { open: true };
    try {
      return await this.inside.run(mark, work);
    } finally {
      mark.open = false;
    }
  }
}

/** First come, first served: one holder at a time, the others queued in order. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  queued = 0;

  async lock(): Promise<() => void> {
    let unlock!: () => void;
    const next = new Promise<void>((resolve) => (unlock = resolve));
    const before = this.tail;
    this.tail = before.then(() => next);
    this.queued++;
    await before;
    this.queued--;
    return unlock;
  }
}

/**
 * The unit of work on better-sqlite3's one connection. A transaction stays open across the awaits in `work`, so
 * write transactions are serialised by a mutex: the next one begins when the last has committed or rolled back.
 * BEGIN IMMEDIATE takes SQLite's write lock at the start, so another process on the file (the `devices` command)
 * makes it wait (busy_timeout) rather than fail half-way. Stores still written outside `tx` (those not yet moved
 * onto it) must not run while one is open: their statements would join it. Their own `db.transaction()` does join
 * it as a savepoint, which is what a caller inside `tx` wants.
 */
export class SqliteUnitOfWork<T> implements UnitOfWork<T> {
  private readonly mutex = new Mutex();
  private readonly scope = new TxScope();

  constructor(
    private readonly db: Db,
    private readonly bind: (db: Db) => T,
  ) {}

  /** transactions waiting for the one that is open */
  get waiting(): number {
    return this.mutex.queued;
  }

  async tx<R>(work: (t: T) => Promise<R>): Promise<R> {
    this.scope.check();
    const unlock = await this.mutex.lock();
    try {
      await this.begin();
      try {
        const result = await this.scope.run(() => work(this.bind(this.db)));
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        // a failed COMMIT (a deferred constraint, a full disk) leaves the transaction open too
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      unlock();
    }
  }

  /**
   * BEGIN IMMEDIATE, its wait for the write lock off the event loop. The journal worker holds the lock for a
   * millisecond or two, hundreds of times a second: SQLite's own busy handler would sleep 1, 2, 5… ms with the whole
   * loop (every device's reads and PUBACKs) until it got it. Here each try takes it or gives up at once, and the
   * loop runs between tries; after busy_timeout the transaction fails with SQLITE_BUSY, as SQLite's wait would.
   */
  private async begin(): Promise<void> {
    // wall time: the lock is another thread's or process's, whatever clock the program runs on
    const deadline = realClock.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      if (tryBeginImmediate(this.db)) return;
      if (realClock.now() >= deadline) throw lockTimedOut();
      await realClock.sleep(LOCK_RETRY_MS);
    }
  }
}
