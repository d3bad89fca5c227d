import { afterEach } from 'vitest';
import { SqliteDispatchStore } from '../../../src/dispatch/index.js';
import { SqliteUnitOfWork, type Db } from '../../../src/storage/index.js';
import { memoryDb } from '../../helpers/db.js';
import { dispatchStoreContract } from '../../helpers/dispatch-store-contracts.js';

const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

dispatchStoreContract('SqliteDispatchStore', async () => {
  const db = memoryDb();
  dbs.push(db);
  const store = new SqliteDispatchStore(db);
  const work = new SqliteUnitOfWork(db, () => store);
  return { store, tx: (fn) => work.tx(fn) };
});
