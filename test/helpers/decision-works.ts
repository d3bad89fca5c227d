// A DecisionWork and its outbox on each store kind, for the tests that run decisions on both: on SQLite one
// in-memory database, on PostgreSQL a fresh database of the test file's cluster (the contacts stay in SQLite).
import { pino } from 'pino';
import { DecisionWork } from '../../src/decisions.js';
import { Outbox, PostgresOutboxStore, SqliteContacts, SqliteOutboxStore, type MessageTransport } from '../../src/whatsapp/index.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';
import { memoryDb } from './db.js';
import type { TestCluster } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';

/** `decisionsOn(kind, transport)`: the work and its outbox (started; its poll far away, so only a wake after a commit sends at once). */
export function decisionWorks(cluster: TestCluster): (kind: StoreKind, transport: MessageTransport) => Promise<{ work: DecisionWork; outbox: Outbox }> {
  const silent = pino({ level: 'silent' });
  return async (kind, transport) => {
    const db = memoryDb();
    const pool = kind === 'postgres' ? (await cluster.database()).pool : null;
    const store = pool ? new PostgresOutboxStore(() => pool, sealer) : new SqliteOutboxStore(db, sealer);
    const outbox = new Outbox({ store, contacts: new SqliteContacts(db, sealer), transport, log: silent, pairIntervalMs: 0, pollMs: 3_600_000 });
    const work = new DecisionWork({ db, sealer, outbox, pool: () => pool, shared: pool !== null, log: silent });
    outbox.start();
    return { work, outbox };
  };
}
