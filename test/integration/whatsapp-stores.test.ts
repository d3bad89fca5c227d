import pg from 'pg';
import { PostgresInboxStore, PostgresOutboxStore, SqliteContacts, SqliteInboxStore, SqliteOutboxStore } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { postgresCluster } from '../helpers/postgres.js';
import { inboxStoreContract, outboxStoreContract } from '../helpers/whatsapp-store-contracts.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

outboxStoreContract('SqliteOutboxStore', () => new SqliteOutboxStore(memoryDb(), sealer));

const cluster = postgresCluster();
let pool: pg.Pool | undefined;

// one migrated database for the contract's cases, emptied before each (they run one after the other)
outboxStoreContract('PostgresOutboxStore', async () => {
  if (!pool) {
    pool = (await cluster.database()).pool;
  }
  await pool.query('TRUNCATE whatsapp_outbox RESTART IDENTITY');
  const shared = pool;
  return new PostgresOutboxStore(() => shared, sealer);
});

inboxStoreContract('SqliteInboxStore', () => {
  const db = memoryDb();
  return { store: new SqliteInboxStore(db, sealer, new SqliteContacts(db, sealer)) };
});

// each case on a database of its own; two pools on it are two instances
inboxStoreContract('PostgresInboxStore', async () => {
  const [one, two] = await cluster.twoInstances();
  return { store: new PostgresInboxStore(one, sealer), second: new PostgresInboxStore(two, sealer) };
}, { shared: true });
