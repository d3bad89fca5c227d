// The embedded history: readings downsampled to one row per bin and quarter of an hour, the same whatever order
// they arrive in, written in the journal's commit, pruned past 35 days.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { createMetrics } from '../../../src/metrics.js';
import {
  BUCKET_MS,
  SqliteBinStateStore,
  HISTORY_MS,
  SqliteReadingHistory,
  SqliteReadingJournal,
  downsample,
  openDatabase,
  type LatestReading,
} from '../../../src/storage/index.js';
import { memoryDb } from '../../helpers/db.js';

const T0 = Date.parse('2026-12-01T14:00:00Z'); // the start of a quarter
const MIN = 60_000;
const silent = pino({ level: 'silent' });
const r = (at: number, fillPct: number, more: Partial<LatestReading> = {}): LatestReading => ({ binId: 'UTR-0001', ts: at, receivedAt: at, fillPct, ...more });
const tempDb = () => openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-history-')));

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}


/** Readings of two buckets, with a tie in time and partial fields: what order and merging must not change. */
const mixedReadings = () => [
  r(T0 + 1 * MIN, 10, { batteryPct: 90 }),
  r(T0 + 9 * MIN, 80, { temperatureC: 30 }),
  r(T0 + 9 * MIN, 75, { batteryPct: 70 }),
  r(T0 + 14 * MIN, 30),
  r(T0 + 16 * MIN, 35, { temperatureC: 12 }),
];
describe('downsample', () => {
  const cases: { name: string; readings: LatestReading[]; want: object[] }[] = [
    {
      name: 'one reading is its own bucket, in tenths, placed from the quarter start',
      readings: [r(T0 + 7 * MIN, 41.26, { batteryPct: 88.04, temperatureC: -3.25 })],
      want: [{ bucket: T0 / BUCKET_MS, readings: 1, fill: 413, fillAt: 7 * MIN, fillMin: 413, fillMax: 413, batteryMin: 880, temperatureMax: -33 }],
    },
    {
      name: 'the last reading gives the fill, min and max span the quarter, lowest battery, highest temperature',
      readings: [
        r(T0 + 1 * MIN, 10, { batteryPct: 90, temperatureC: 12 }),
        r(T0 + 9 * MIN, 80, { batteryPct: 85, temperatureC: 64 }),
        r(T0 + 14 * MIN, 30, { temperatureC: 20 }),
      ],
      want: [{ readings: 3, fill: 300, fillAt: 14 * MIN, fillMin: 100, fillMax: 800, batteryMin: 850, temperatureMax: 640 }],
    },
    {
      name: 'a quarter ends 1 ms before the next one starts',
      readings: [r(T0 + BUCKET_MS - 1, 20), r(T0 + BUCKET_MS, 60)],
      want: [
        { bucket: T0 / BUCKET_MS, fill: 200, fillAt: BUCKET_MS - 1 },
        { bucket: T0 / BUCKET_MS + 1, fill: 600, fillAt: 0 },
      ],
    },
    {
      name: 'two readings at the same instant: the higher fill, whatever came first',
      readings: [r(T0 + 5 * MIN, 70), r(T0 + 5 * MIN, 40)],
      want: [{ readings: 2, fill: 700, fillMin: 400, fillMax: 700 }],
    },
    {
      name: 'a reading stamped ahead of its arrival counts at its arrival (orderTs)',
      readings: [{ binId: 'UTR-0001', ts: T0 + 20 * MIN, receivedAt: T0 + 2 * MIN, fillPct: 50 }],
      want: [{ bucket: T0 / BUCKET_MS, fillAt: 2 * MIN }],
    },
    {
      name: 'no battery or temperature: null, not zero',
      readings: [r(T0, 10)],
      want: [{ batteryMin: null, temperatureMax: null }],
    },
    {
      name: 'bins are kept apart',
      readings: [r(T0, 10), r(T0 + MIN, 90, { binId: 'UTR-0002' })],
      want: [
        { binId: 'UTR-0001', fill: 100 },
        { binId: 'UTR-0002', fill: 900 },
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = downsample(c.readings);
      expect(got).toHaveLength(c.want.length);
      c.want.forEach((w, i) => expect(got[i]).toMatchObject(w));
    });
  }

  it('gives the same buckets for every order of the same readings', () => {
    const readings = mixedReadings();
    const sorted = (bs: ReturnType<typeof downsample>) => [...bs].sort((a, b) => a.bucket - b.bucket);
    const want = sorted(downsample(readings));
    for (const order of permutations(readings)) expect(sorted(downsample(order))).toEqual(want);
  });

  it('leaves out readings before `since`', () => {
    expect(downsample([r(T0 - 1, 10), r(T0, 20)], T0).map((b) => b.fill)).toEqual([200]);
  });
});

describe('ReadingHistory', () => {
  const NOW = T0 + 60 * MIN;

  it('merges a bucket across commits exactly as within one, whatever order the readings arrive in', () => {
    const readings = mixedReadings();
    const once = new SqliteReadingHistory(tempDb());
    once.record(readings, NOW);
    const want = once.rangeNow('UTR-0001', T0, NOW);
    expect(want).toEqual([
      { bucket: T0, ts: T0 + 14 * MIN, readings: 4, fill: 30, fillMin: 10, fillMax: 80, batteryMin: 70, temperatureMax: 30 },
      { bucket: T0 + BUCKET_MS, ts: T0 + 16 * MIN, readings: 1, fill: 35, fillMin: 35, fillMax: 35, batteryMin: null, temperatureMax: 12 },
    ]);
    for (const order of permutations(readings)) {
      // each reading its own commit: a sensor's backlog arriving one by one (in memory: 120 orders)
      const h = new SqliteReadingHistory(memoryDb());
      for (const x of order) h.record([x], NOW);
      expect(h.rangeNow('UTR-0001', T0, NOW)).toEqual(want);
    }
  });

  it('answers the quarters whose last reading lies in the range, per bin', () => {
    const h = new SqliteReadingHistory(tempDb());
    h.record([r(T0 + 2 * MIN, 10), r(T0 + 20 * MIN, 20), r(T0 + 40 * MIN, 30), r(T0 + 20 * MIN, 99, { binId: 'UTR-0002' })], NOW);
    expect(h.rangeNow('UTR-0001', T0 + 3 * MIN, T0 + 40 * MIN).map((p) => p.fill)).toEqual([20, 30]);
    expect(h.rangeNow('UTR-0001', T0, T0 + 39 * MIN).map((p) => p.fill)).toEqual([10, 20]);
    expect(h.rangeNow('UTR-0002', T0, NOW).map((p) => p.fill)).toEqual([99]);
    expect(h.rangeNow('UTR-0404', T0, NOW)).toEqual([]);
  });

  it('a commit of 90 bins over two quarters (statements of 64, 16, 4 and 1 rows) merges each row into its own bin and quarter', () => {
    const h = new SqliteReadingHistory(tempDb());
    const bins = Array.from({ length: 45 }, (_, i) => `B-${i}`);
    h.record([r(T0 + 20 * MIN, 5, { binId: 'B-7' })], NOW);
    h.record(
      bins.flatMap((binId, i) => [r(T0 + 2 * MIN, i, { binId }), r(T0 + 20 * MIN, i + 50, { binId })]),
      NOW,
    );
    for (const [i, binId] of bins.entries()) {
      expect(h.rangeNow(binId, T0, NOW).map((p) => [p.fill, p.readings, p.fillMin])).toEqual([
        [i, 1, i],
        [i + 50, binId === 'B-7' ? 2 : 1, binId === 'B-7' ? 5 : i + 50],
      ]);
    }
  });

  it('does not record readings older than the 35 days it keeps, and prunes what has grown older', () => {
    const h = new SqliteReadingHistory(tempDb());
    h.record([r(NOW - HISTORY_MS - MIN, 5)], NOW);
    expect(h.rangeNow('UTR-0001', 0, NOW)).toEqual([]);

    const day = 86_400_000;
    h.record([r(NOW - 34 * day, 10), r(NOW - 2 * day, 20), r(NOW - 34 * day, 30, { binId: 'UTR-0002' })], NOW);
    expect(h.prune(NOW)).toBe(0);
    // two days later the 34-day-old quarters are 36 days old; the rest stays
    expect(h.prune(NOW + 2 * day)).toBe(2);
    expect(h.rangeNow('UTR-0001', 0, NOW).map((p) => p.fill)).toEqual([20]);
    expect(h.rangeNow('UTR-0002', 0, NOW)).toEqual([]);
  });

  it('prunes when started and every hour after, on its clock', async () => {
    const clock = new ManualClock(NOW);
    const h = new SqliteReadingHistory(tempDb(), clock, silent);
    h.record([r(NOW - HISTORY_MS + 30 * MIN, 10), r(NOW - HISTORY_MS + 90 * MIN, 20)], NOW);
    h.start();
    expect(h.rangeNow('UTR-0001', 0, NOW)).toHaveLength(2);
    await clock.advance(60 * MIN);
    expect(h.rangeNow('UTR-0001', 0, NOW).map((p) => p.fill)).toEqual([20]);
    await clock.advance(60 * MIN);
    expect(h.rangeNow('UTR-0001', 0, NOW)).toEqual([]);
    h.stop();
  });
});

describe('ReadingJournal with the history', () => {
  const NOW = T0 + 60 * MIN;
  const setup = () => {
    const db = tempDb();
    const history = new SqliteReadingHistory(db);
    const state = new SqliteBinStateStore(db);
    const journal = new SqliteReadingJournal(db, null, state, { maxBatch: 100, delayMs: 0, clock: new ManualClock(NOW) }, createMetrics(), silent, history);
    return { db, history, state, journal };
  };

  it('has the reading in the history once its record() resolves (the PUBACK waits for it)', async () => {
    const { history, journal } = setup();
    await Promise.all([journal.record({ reading: r(T0 + MIN, 10), lines: [] }), journal.record({ reading: r(T0 + 2 * MIN, 12), lines: [] })]);
    expect(history.rangeNow('UTR-0001', T0, NOW)).toMatchObject([{ fill: 12, readings: 2 }]);
  });

  it('a failed commit leaves neither the state nor the history, and mixes no bins after it', async () => {
    const { db, history, state, journal } = setup();
    // the disk refuses the group's second history row, after the first bin got its number
    db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON reading_history WHEN NEW.fill = 666 BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    const failed = await Promise.allSettled([
      journal.record({ reading: r(T0 + MIN, 10, { binId: 'NEW-0001' }), lines: [] }),
      journal.record({ reading: r(T0 + MIN, 66.6, { binId: 'BOOM-0001' }), lines: [] }),
    ]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(state.get('NEW-0001')).toBeUndefined();
    expect(history.rangeNow('NEW-0001', T0, NOW)).toEqual([]);

    await journal.record({ reading: r(T0 + 2 * MIN, 40, { binId: 'OTHER-0001' }), lines: [] });
    await journal.record({ reading: r(T0 + 3 * MIN, 20, { binId: 'NEW-0001' }), lines: [] });
    expect(history.rangeNow('OTHER-0001', T0, NOW).map((p) => p.fill)).toEqual([40]);
    expect(history.rangeNow('NEW-0001', T0, NOW).map((p) => p.fill)).toEqual([20]);
  });
});
