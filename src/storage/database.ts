import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

export type Db = Database.Database;

/**
 * Opens binbridge's SQLite file and brings its tables to this release's layout (migrations.ts): every store
 * finds its tables there. WAL lets readers (HTTP, the InfluxDB writer) run beside the ingest writer;
 * synchronous=FULL fsyncs every commit, so a reading that was acknowledged survives even a power cut.
 */
export function openDatabase(dataDir: string, opts: { sync: 'full' | 'normal' } = { sync: 'full' }): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'binbridge.db');
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    // deleted rows (residents' data past its time) are overwritten where that costs no extra I/O
    db.pragma('secure_delete = FAST');
    migrate(db);
  } catch (err) {
    db.close();
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return db;
}
