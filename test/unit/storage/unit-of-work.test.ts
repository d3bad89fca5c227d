import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { NestedTransactionError, SqliteUnitOfWork, openDatabase, type Db } from '../../../src/storage/index.js';
import { TxScope } from '../../../src/storage/unit-of-work.js';
import { memoryDb } from '../../helpers/db.js';
import { unitOfWorkContract, type Tally } from '../../helpers/unit-of-work-contracts.js';

function tally(db: Db): Tally {
  const get = async (key: string): Promise<number | null> => {
    const value = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined;
    return value === undefined ? null : Number(value);
  };
  return {
    get,
    // the mutex already keeps every other transaction out
    getForUpdate: get,
    set: async (key, n) => void db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, String(n)),
    fail: async () => void db.prepare('INSERT INTO meta (key, value) VALUES (?, NULL)').run('f'),
  };
}

describe('SqliteUnitOfWork', () => {
  unitOfWorkContract('SQLite', async () => {
    const uow = new SqliteUnitOfWork(memoryDb(), tally);
    return { uow, blocked: () => uow.waiting > 0 };
  });

  /** A unit of work on a database whose write lock another connection holds (the journal worker's, mid-commit). */
  const lockedByAnother = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-uow-lock-'));
    const db = openDatabase(dir);
    const other = openDatabase(dir);
    other.exec('BEGIN IMMEDIATE');
    const close = (): void => {
      other.close();
      db.close();
    };
    return { db, other, uow: new SqliteUnitOfWork(db, tally), close };
  };

  it('waits for another connection\'s write lock with the event loop free, and begins once it is released', async () => {
    const { db, other, uow, close } = lockedByAnother();
    let done = false;
    const tx = uow.tx(async (t) => t.set('k', 1)).then(() => (done = true));
    // SQLite's own wait would hold this thread until busy_timeout, and the lock could never be released
    let turns = 0;
    while (turns < 20) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    expect(done).toBe(false);
    other.exec('COMMIT');
    await tx;
    expect(await tally(db).get('k')).toBe(1);
    close();
  });

  it('gives up with SQLITE_BUSY after busy_timeout of another connection holding the lock, the event loop running all along', async () => {
    const { db, other, uow, close } = lockedByAnother();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      await expect(uow.tx(async (t) => t.set('k', 1))).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    } finally {
      clearInterval(ticker);
    }
    // BUSY_TIMEOUT_MS (5 s) of 10 ms ticks; SQLite's own wait would have held the thread (and the ticker) throughout
    expect(ticks).toBeGreaterThan(100);
    expect(db.inTransaction).toBe(false);
    other.exec('COMMIT');
    // the next transaction gets the lock as usual
    await uow.tx(async (t) => t.set('k', 2));
    expect(await tally(db).get('k')).toBe(2);
    close();
  }, 20_000);
});

describe('TxScope', () => {
  it('checks for a nested transaction except under NODE_ENV=production, where its hook would cost every promise', async () => {
    const dev = new TxScope();
    await dev.run(async () => expect(() => dev.check()).toThrow(NestedTransactionError));
    expect(() => dev.check()).not.toThrow();

    vi.stubEnv('NODE_ENV', 'production');
    try {
      const prod = new TxScope();
      await expect(prod.run(async () => (prod.check(), 'ran'))).resolves.toBe('ran');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
