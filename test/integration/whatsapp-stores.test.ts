import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { migratePostgres, openPool } from '../../src/storage/postgres/index.js';
import { PostgresInboxStore, PostgresOutboxStore, SqliteContacts, SqliteInboxStore, SqliteOutboxStore } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startPostgres, type Postgres } from '../helpers/servers.js';
import { inboxStoreContract, outboxStoreContract } from '../helpers/whatsapp-store-contracts.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

outboxStoreContract('SqliteOutboxStore', () => new SqliteOutboxStore(memoryDb(), sealer));

let server: Postgres | undefined;
let pool: pg.Pool | undefined;
const pools: pg.Pool[] = [];
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pool?.end();
  await Promise.all(pools.map((p) => p.end()));
  await server?.destroy();
});

// one migrated database for the contract's cases, emptied before each (they run one after the other)
outboxStoreContract('PostgresOutboxStore', async () => {
  if (!pool) {
    pool = openPool({ url: await freshDatabase(server!), applicationName: 'binbridge-test' });
    await migratePostgres(pool);
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
  const url = await freshDatabase(server!);
  const [one, two] = [openPool({ url }), openPool({ url })];
  pools.push(one, two);
  await migratePostgres(one);
  return { store: new PostgresInboxStore(one, sealer), second: new PostgresInboxStore(two, sealer) };
}, { shared: true });
