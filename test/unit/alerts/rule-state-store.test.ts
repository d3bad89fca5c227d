import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { SqliteRuleStateStore } from '../../../src/alerts/index.js';
import { ManualClock } from '../../../src/clock.js';
import { createMetrics } from '../../../src/metrics.js';
import { RULE_STATES_EVERY_MS, SqliteBinStateStore, SqliteReadingJournal, openDatabase } from '../../../src/storage/index.js';

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

  it('serialises the staged states when the journal takes them, at most every RULE_STATES_EVERY_MS, and alone when no reading comes', async () => {
    const db = openDatabase(tmp());
    const clock = new ManualClock(1_000_000);
    const journal = new SqliteReadingJournal(db, null, new SqliteBinStateStore(db), { maxBatch: 100, delayMs: 0, clock }, createMetrics(), pino({ level: 'silent' }));
    const store = new SqliteRuleStateStore<{ v: number }>(db, journal);
    const stored = (binId: string): unknown => {
      const row = db.prepare('SELECT state FROM rule_state WHERE bin_id = ?').pluck().get(binId) as string | undefined;
      return row === undefined ? undefined : JSON.parse(row);
    };
    const reading = (ts: number) => ({ reading: { binId: 'R', ts, receivedAt: ts, fillPct: 10 }, lines: [] });

    // the first states ride the next commit (a reading's)
    store.stage([['A', { v: 1 }]], clock.now());
    await journal.record(reading(clock.now()));
    expect(stored('A')).toEqual({ v: 1 });

    // newer states within the interval wait, however many commits pass; a state staged twice is taken once, newest
    const stringify = vi.spyOn(JSON, 'stringify');
    await clock.advance(10);
    store.stage([['A', { v: 2 }], ['B', { v: 1 }]], clock.now());
    await journal.record(reading(clock.now()));
    store.stage([['A', { v: 3 }]], clock.now());
    await journal.record(reading(clock.now() + 1));
    expect(stored('A')).toEqual({ v: 1 });
    expect(stored('B')).toBeUndefined();
    expect(stringify).not.toHaveBeenCalled();

    // due: a commit of their own, with no reading to carry them
    await clock.advance(RULE_STATES_EVERY_MS);
    expect(stored('A')).toEqual({ v: 3 });
    expect(stored('B')).toEqual({ v: 1 });
    expect(stringify).toHaveBeenCalledTimes(2);
    stringify.mockRestore();

    // flush takes what waits at once (a shutdown stores the newest states)
    store.stage([['B', { v: 2 }]], clock.now());
    await journal.flush();
    expect(stored('B')).toEqual({ v: 2 });
  });
});
