// The loop's connection and the journal worker's share one SQLite file (spool.journal: worker). A transaction that
// reads before it writes must hold the write lock from its BEGIN: a deferred one fails at its first write with
// SQLITE_BUSY whenever the worker committed in between (busy_timeout cannot help a stale read snapshot), which
// showed as an uncaught "database is locked" from the outbox when the suite ran with the worker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/storage/index.js';
import { SqliteOutboxStore, textMessage } from '../../src/whatsapp/index.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const A = '31600000001';
const T0 = 1_780_000_000_000;

describe('a write transaction beside another connection on the same file', () => {
  const open: Db[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('the outbox claims what it read although the other connection committed between its read and its write', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'binbridge-lock-'));
    dirs.push(dir);
    const loop = openDatabase(dir, { sync: 'normal' });
    const worker = openDatabase(dir, { sync: 'normal' });
    open.push(loop, worker);
    worker.pragma('busy_timeout = 0');
    worker.exec('CREATE TABLE IF NOT EXISTS lock_probe (n INTEGER)');
    const store = new SqliteOutboxStore(loop, sealer);
    const id = store.add({ to: A, key: 'k', message: textMessage(A, 'hello') }, A, T0).id;

    let otherWrite: unknown = 'not tried';
    store.batch(() => {
      expect(store.heads(10).map((h) => h.id)).toEqual([id]);
      // the journal worker's commit, arriving while the batch is between its read and its write
      try {
        worker.prepare('INSERT INTO lock_probe (n) VALUES (1)').run();
        otherWrite = 'committed';
      } catch (err) {
        otherWrite = (err as { code?: string }).code;
      }
      store.claim(id, T0 + 1);
    });

    expect(store.get(id)).toMatchObject({ status: 'sending', attempts: 1 });
    // the batch held the write lock, so the other connection waited (here: busy_timeout 0, refused) instead
    expect(otherWrite).toBe('SQLITE_BUSY');
  });
});
