import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';

export type Db = Database.Database;

/** How long a statement waits for another connection's write lock (the journal worker's, another process's). */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * BEGIN IMMEDIATE without waiting for another connection's write lock: false, with nothing begun, while that is held
 * (SQLITE_BUSY). SQLite's own wait (busy_timeout) sleeps 1, 2, 5… ms with the whole thread; a caller that tries
 * again from its event loop waits a millisecond at a time and runs meanwhile.
 */
export function tryBeginImmediate(db: Db): boolean {
  // exec, not db.pragma: that makes a statement object each time, five times the cost, hundreds of times a second
  db.exec('PRAGMA busy_timeout = 0');
  try {
    db.exec('BEGIN IMMEDIATE');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return false;
    throw err;
  } finally {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/** Between tries for the write lock (a commit of the journal worker holds it 1–2 ms). */
export const LOCK_RETRY_MS = 1;

/** What a caller that tried for the write lock for busy_timeout gives up with: SQLite's own error and code. */
export function lockTimedOut(): Error {
  return new Database.SqliteError(`database is locked: another connection held the write lock for ${BUSY_TIMEOUT_MS / 1000} s`, 'SQLITE_BUSY');
}

/**
 * Opens binbridge's SQLite file and brings its tables to this release's layout (migrations.ts): every store
 * finds its tables there. WAL lets readers (HTTP, the InfluxDB writer) run beside the ingest writer;
 * synchronous=FULL fsyncs every commit, so a reading that was acknowledged survives even a power cut.
 */
export function openDatabase(dataDir: string, opts: { sync: 'full' | 'normal' } = { sync: 'full' }): Db {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'binbridge.db');
  // residents' sealed numbers, device secrets' records, reports: readable by binbridge's user only. SQLite gives its
  // -wal and -shm files the database file's mode, so the file is made (or tightened) before SQLite opens it.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
