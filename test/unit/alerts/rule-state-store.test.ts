import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteRuleStateStore } from '../../../src/alerts/index.js';
import { createMetrics } from '../../../src/metrics.js';
import { SqliteBinStateStore, SqliteReadingJournal, openDatabase } from '../../../src/storage/index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-rule-state-'));

describe('SqliteRuleStateStore', () => {
  it('keeps the newest state when a staged one reaches the journal after one written with an alert', async () => {
    const dir = tmp();
    const db = openDatabase(dir);
    const journal = new SqliteReadingJournal(db, null, new SqliteBinStateStore(db), { maxBatch: 100, delayMs: 0 }, createMetrics(), pino({ level: 'silent' }));
    const store = new SqliteRuleStateStore<{ v: number }>(db, journal);
    store.stage([['A', { v: 1 }]], 1000);
    // decided later, written at once (its alert opened): the journal's commit of the older one comes after it
    store.write([['A', { v: 2 }]], 1000);
    await journal.flush();
    expect(new SqliteRuleStateStore<{ v: number }>(db, journal).get('A')).toEqual({ v: 2 });

    // and a state staged after it replaces it, in a store opened again (the order survives a restart)
    const again = new SqliteRuleStateStore<{ v: number }>(openDatabase(dir), journal);
    again.stage([['A', { v: 3 }]], 2000);
    await journal.flush();
    expect(new SqliteRuleStateStore<{ v: number }>(db, journal).get('A')).toEqual({ v: 3 });
  });
});
