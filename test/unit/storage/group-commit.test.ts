// The journal worker's commit gives up at once while another connection (the event loop's) holds the write lock,
// with nothing done and nothing counted, and commits once the lock is free.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { GroupCommit, SqliteBinStateStore, SqliteReadingHistory, SqliteSpool, openDatabase } from '../../../src/storage/index.js';

describe('GroupCommit.tryRun', () => {
  it('gives up with nothing done while another connection holds the write lock, and commits once it is released', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-group-'));
    const db = openDatabase(dir);
    const spool = new SqliteSpool(db, 1 << 20);
    const group = new GroupCommit(db, spool, new SqliteBinStateStore(db), new SqliteReadingHistory(db));
    const entry = { reading: { binId: 'A', ts: 1000, receivedAt: 1000, fillPct: 40 }, lines: ['m v=1 1000'] };
    const other = openDatabase(dir);
    other.exec('BEGIN IMMEDIATE');
    const recount = vi.spyOn(spool, 'recount');

    const t0 = performance.now();
    expect(group.tryRun([entry], 1000)).toBe(false);
    // at once, not after busy_timeout; no transaction left open, no spool scan for a rollback that did not happen
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(db.inTransaction).toBe(false);
    expect(recount).not.toHaveBeenCalled();
    expect(spool.stats().depth).toBe(0);

    other.exec('COMMIT');
    expect(group.tryRun([entry], 1000)).toBe(true);
    expect(spool.stats().depth).toBe(1);
    expect(new SqliteBinStateStore(openDatabase(dir)).get('A')).toMatchObject({ fill_pct: 40 });
    other.close();
    db.close();
  });
});
