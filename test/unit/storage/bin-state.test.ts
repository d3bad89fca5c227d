// The latest state of a bin: the newest reading by what the device sends next (orderTs), never a future stamp
// that pins it, never a backlog that overwrites it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics.js';
import { SqliteBinStateStore, SqliteReadingJournal, openDatabase } from '../../../src/storage/index.js';

const NOW = Date.parse('2026-11-25T16:00:00Z');
const AHEAD = 299_000; // 4 min 59 s: just inside the 5 min limit
const reading = (ts: number, receivedAt: number, fillPct: number) => ({ binId: 'UTR-0001', ts, receivedAt, fillPct });
const store = () => new SqliteBinStateStore(openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-state-'))));

describe('BinStateStore.upsert', () => {
  it('a reading stamped just inside the future limit does not pin the state: the next real reading shows', () => {
    const s = store();
    s.upsert([reading(NOW + AHEAD, NOW, 10)]);
    s.upsert([reading(NOW + 1000, NOW + 1000, 90)]);
    expect(s.get('UTR-0001')).toMatchObject({ fill_pct: 90, ts: NOW + 1000, received_at: NOW + 1000 });
  });

  it('a backlog (older readings sent late) never overwrites a newer state', () => {
    const s = store();
    s.upsert([reading(NOW, NOW, 50)]);
    s.upsert([reading(NOW - 60_000, NOW + 1000, 20)]);
    expect(s.get('UTR-0001')).toMatchObject({ fill_pct: 50, ts: NOW });
  });

  it('keeps a future-stamped reading over a backlog older than its arrival', () => {
    const s = store();
    s.upsert([reading(NOW + AHEAD, NOW, 10)]);
    s.upsert([reading(NOW - 1000, NOW + 2000, 70)]);
    expect(s.get('UTR-0001')).toMatchObject({ fill_pct: 10, ts: NOW + AHEAD });
  });

  it('a group of 85 bins (statements of 64, 16, 4 and 1 rows) stores each one, and each row keeps its own order rule', () => {
    const s = store();
    s.upsert([reading(NOW, NOW, 50)]);
    const bins = Array.from({ length: 85 }, (_, i) => ({ binId: `B-${i}`, ts: NOW, receivedAt: NOW, fillPct: i, batteryPct: i === 84 ? 33 : undefined }));
    // the backlog of UTR-0001 rides in the same statement as three new bins (the last 4 of 89 rows)
    s.upsert([...bins.slice(0, 82), reading(NOW - 60_000, NOW + 1000, 20), ...bins.slice(82)]);
    expect(s.all()).toHaveLength(86);
    for (const b of bins) expect(s.get(b.binId)).toMatchObject({ fill_pct: b.fillPct, battery_pct: b.batteryPct ?? null, ts: NOW });
    expect(s.get('UTR-0001')).toMatchObject({ fill_pct: 50, ts: NOW });
  });
});

describe('ReadingJournal', () => {
  it('in one commit group, the next real reading wins over a future-stamped one', async () => {
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-state-')));
    const state = new SqliteBinStateStore(db);
    const journal = new SqliteReadingJournal(db, null, state, { maxBatch: 100, delayMs: 0 }, createMetrics(), pino({ level: 'silent' }));
    await Promise.all([
      journal.record({ reading: reading(NOW + AHEAD, NOW, 10), lines: [] }),
      journal.record({ reading: reading(NOW + 5, NOW + 5, 90), lines: [] }),
    ]);
    expect(state.get('UTR-0001')).toMatchObject({ fill_pct: 90 });
  });
});
