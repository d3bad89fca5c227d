import Database from 'better-sqlite3';
import { migrate, type Db } from '../../src/storage/index.js';

/** A database at this release's layout, as openDatabase leaves it: stores no longer create their own tables. */
export function migrated(db: Db): Db {
  migrate(db);
  return db;
}

/** A migrated database in memory, for a store tested on its own. */
export const memoryDb = (): Db => migrated(new Database(':memory:'));
