import { PostgresAlertStore, PostgresRuleStateRows, SqliteAlertStore, SqliteRuleStateRows, type AlertStore, type RuleStateRows } from './alerts/index.js';
import { PostgresDispatchStore, SqliteDispatchStore, type DispatchStore } from './dispatch/index.js';
import type { Logger } from './log.js';
import { PostgresNoticeStore, SqliteNoticeStore, type NoticeStore } from './notices/index.js';
import type { Sealer } from './privacy/index.js';
import { PostgresConversationStore, PostgresReportStore, SqliteConversationStore, SqliteReportStore, type ConversationStore, type ReportStore } from './reports/index.js';
import { SqliteUnitOfWork, type Db, type UnitOfWork } from './storage/index.js';
import { PostgresUnitOfWork, type Pool, type PoolClient, type Queryable } from './storage/postgres/index.js';
import type { Outbox, TxOutbox } from './whatsapp/index.js';

/**
 * The stores a decision writes together, bound to one transaction: an alert and the bin it queues for a crew, a
 * job and its crew message, a report and the answer to the resident, a notice and its messages. Committed together
 * or not at all, on SQLite (the program's one connection) as on PostgreSQL (one connection of the pool per
 * transaction, shared by every instance: what must not interleave is ordered by row locks the stores take).
 */
export interface Decisions {
  alerts: AlertStore;
  /** the rules' memory of each bin: on PostgreSQL locked, read and written here by the rules (one state per bin) */
  ruleStates: RuleStateRows;
  dispatch: DispatchStore;
  reports: ReportStore;
  conversations: ConversationStore;
  notices: NoticeStore;
  outbox: TxOutbox;
  /** Runs `fn` once the transaction has committed (never after a rollback): wake a loop for the rows just written. */
  afterCommit(fn: () => void): void;
}

/** The stores without the transaction's own parts. */
type Bound = Omit<Decisions, 'outbox' | 'afterCommit'>;

/** The stores on a PostgreSQL connection (a transaction's client, or the pool for single statements). */
function postgresStores(q: Queryable, sealer: Sealer): Bound {
  return {
    alerts: new PostgresAlertStore(q),
    ruleStates: new PostgresRuleStateRows(q),
    dispatch: new PostgresDispatchStore(q),
    reports: new PostgresReportStore(q),
    conversations: new PostgresConversationStore(q, sealer),
    notices: new PostgresNoticeStore(q, sealer),
  };
}

/**
 * The unit of work of the program's decisions (the rules, the dispatcher, the residents' flow, the notices):
 * `tx(async (t) => …)` runs in one transaction of the state's database, `read` gives the same stores for reads
 * outside one (listings, the API). On SQLite the write transactions are serialised on the one connection (see
 * SqliteUnitOfWork: never await anything but these stores inside); on PostgreSQL they run side by side.
 */
export class DecisionWork implements UnitOfWork<Decisions> {
  private readonly local: Bound;
  private readonly sqlite: SqliteUnitOfWork<null>;
  private postgres: { pool: Pool; work: PostgresUnitOfWork<PoolClient> } | null = null;

  constructor(
    private readonly deps: {
      db: Db;
      sealer: Sealer;
      outbox: Outbox;
      /** the store room's pool (null on SQLite, and on PostgreSQL until the store room has started) */
      pool: () => Pool | null;
      /** store.url is set: the decisions' rows are in PostgreSQL */
      shared: boolean;
      log: Logger;
    },
  ) {
    const { db, sealer } = deps;
    this.local = {
      alerts: new SqliteAlertStore(db),
      ruleStates: new SqliteRuleStateRows(db),
      dispatch: new SqliteDispatchStore(db),
      reports: new SqliteReportStore(db),
      conversations: new SqliteConversationStore(db, sealer),
      notices: new SqliteNoticeStore(db, sealer),
    };
    this.sqlite = new SqliteUnitOfWork(db, () => null);
  }

  /** Where the decisions' rows are. */
  get shared(): boolean {
    return this.deps.shared;
  }

  async tx<R>(work: (t: Decisions) => Promise<R>): Promise<R> {
    const after: (() => void)[] = [];
    const afterCommit = (fn: () => void): void => void after.push(fn);
    const result = this.deps.shared
      ? await this.postgresWork().tx((client) => work(this.bind(client, afterCommit)))
      : await this.sqlite.tx(() => work(this.bind(null, afterCommit)));
    this.committed(after);
    return result;
  }

  /**
   * The stores in a PostgreSQL transaction that someone else began (the journal's group commit, so that the rules run
   * in it): what is handed to `afterCommit` here is the caller's to run once it committed.
   */
  on(client: PoolClient, afterCommit: (fn: () => void) => void): Decisions {
    return this.bind(client, afterCommit);
  }

  /** The stores for reads outside a transaction: on PostgreSQL each statement on a connection of the pool. */
  get read(): Decisions {
    const client = this.deps.shared ? this.pool() : null;
    return this.bind(client, (fn) => fn());
  }

  private bind(client: Queryable | null, afterCommit: (fn: () => void) => void): Decisions {
    const stores = client ? postgresStores(client, this.deps.sealer) : this.local;
    return { ...stores, outbox: this.deps.outbox.within({ client, afterCommit }), afterCommit };
  }

  private committed(after: readonly (() => void)[]): void {
    for (const fn of after) {
      try {
        fn();
      } catch (err) {
        // the transaction has committed: what runs after it cannot undo it, and one failing does not stop the others
        this.deps.log.error({ err, module: 'decisions' }, 'work after a commit failed');
      }
    }
  }

  private pool(): Pool {
    const pool = this.deps.pool();
    if (!pool) throw new Error('a decision was made before the PostgreSQL store connected');
    return pool;
  }

  private postgresWork(): PostgresUnitOfWork<PoolClient> {
    const pool = this.pool();
    if (this.postgres?.pool !== pool) this.postgres = { pool, work: new PostgresUnitOfWork(pool, (client) => client) };
    return this.postgres.work;
  }
}
