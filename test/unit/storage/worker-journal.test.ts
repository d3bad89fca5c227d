// The journal worker: the readings' columns arrive whole, and a worker that dies acknowledges nothing it did not store.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../../src/metrics.js';
import { JournalUnavailableError, SqliteBinStateStore, SqliteReadingHistory, WorkerReadingJournal, openDatabase, type JournalEntry, type JournalPace } from '../../../src/storage/index.js';
import { configSchema } from '../../../src/config/index.js';
import { BinSlots, ReadingEncoder, type ToWorker } from '../../../src/storage/journal-protocol.js';
import { readingPoints } from '../../../src/storage/points.js';
import { waitFor } from '../../helpers/wait.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wjournal-'));
const NOW = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const reading = (binId: string, ts: number, fillPct = 50) => ({ binId, ts, receivedAt: ts, fillPct });
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('journal protocol', () => {
  it('carries readings through columns unchanged, absent values absent and lines with their reading', () => {
    const entries: JournalEntry[] = [
      { reading: { binId: 'A', ts: 1, receivedAt: 2, fillPct: 3.5 }, lines: [] },
      {
        reading: { binId: 'B-0001', ts: NOW, receivedAt: NOW + 7, fillPct: 0, distanceMm: 0, batteryPct: 99.9, temperatureC: -12.5, tilt: false, rssi: -101 },
        lines: ['bin_reading fill_pct=0 1', 'bin_state fill_pct=0 1'],
      },
      { reading: { binId: 'C', ts: 5, receivedAt: 5, fillPct: 100, tilt: true }, lines: ['x v=1 5'] },
      { reading: { binId: 'A', ts: 6, receivedAt: 6, fillPct: 4 }, lines: [] },
    ];
    const decoded = new BinSlots().decode(structuredClone(new ReadingEncoder().encode(entries)));
    expect(decoded).toEqual(entries);
    expect(Object.keys(decoded[0]!.reading)).toEqual(['binId', 'ts', 'receivedAt', 'fillPct']);
  });

  it("carries a reading's bin once to the worker (only what points take), again only when it changes, and the worker makes the same lines", () => {
    const registryBin = { id: 'B-0001', zone: 'north', kind: 'paper', lat: 52.09, lon: 5.12, address: 'Domplein 1', capacity_l: 240 };
    const other = { id: 'B-0002', zone: 'south', kind: 'glass', lat: 52.1, lon: 5.13, address: 'Neude 2', capacity_l: 1100 };
    const entries: JournalEntry[] = [
      { reading: reading('B-0001', NOW, 10), lines: [], points: { bin: registryBin, withState: true } },
      { reading: reading('B-0002', NOW, 20), lines: ['x v=1 5'], points: { bin: other, withState: false } },
      { reading: reading('B-0001', NOW + 1, 11), lines: [], points: { bin: registryBin, withState: false } },
      { reading: reading('C', NOW, 30), lines: [] },
    ];
    const encoder = new ReadingEncoder();
    const slots = new BinSlots();
    const cols = encoder.encode(entries);
    expect(cols.defs).toEqual([
      { at: 0, slot: 0, binId: 'B-0001', bin: { id: 'B-0001', zone: 'north', kind: 'paper', lat: 52.09, lon: 5.12 } },
      { at: 1, slot: 1, binId: 'B-0002', bin: { id: 'B-0002', zone: 'south', kind: 'glass', lat: 52.1, lon: 5.13 } },
      { at: 3, slot: 2, binId: 'C', bin: null },
    ]);
    const made = (list: JournalEntry[]) => list.map((e) => e.points && readingPoints(e.reading, e.points.bin, e.points.withState));
    const decoded = slots.decode(structuredClone(cols));
    expect(made(decoded)).toEqual(made(entries));
    expect(decoded.map((e) => e.lines)).toEqual(entries.map((e) => e.lines));
    // the next message names known bins by their slot alone, and the worker hands the same object (points' parts
    // made once); a bin that changed is sent again, and changes from its reading on within the message
    const east = { ...other, zone: 'east' };
    const next: JournalEntry[] = [
      entries[0]!,
      { ...entries[1]!, points: { bin: other, withState: false } },
      { reading: reading('B-0002', NOW + 2, 21), lines: [], points: { bin: east, withState: false } },
      { reading: reading('C', NOW + 1, 31), lines: [] },
    ];
    const cols2 = encoder.encode(next);
    expect(cols2.defs).toEqual([{ at: 2, slot: 1, binId: 'B-0002', bin: { id: 'B-0002', zone: 'east', kind: 'glass', lat: 52.1, lon: 5.13 } }]);
    const again = slots.decode(structuredClone(cols2));
    expect(again[0]!.points!.bin).toBe(decoded[0]!.points!.bin);
    expect(again[1]!.points!.bin).toBe(decoded[1]!.points!.bin);
    expect(again[2]!.points!.bin).not.toBe(decoded[1]!.points!.bin);
    expect(made(again)).toEqual(made(next));
    expect(readingPoints(again[2]!.reading, again[2]!.points!.bin, false)[0]).toContain('zone=east');
    expect(again[3]!.reading.binId).toBe('C');
  });

  it('a worker that replaces one gets every bin anew, and a slot no message defined is an error, not a wrong bin', () => {
    const entry: JournalEntry = { reading: reading('B-0001', NOW, 10), lines: [], points: { bin: { id: 'B-0001', zone: 'n', kind: 'paper', lat: 1, lon: 2 }, withState: false } };
    const encoder = new ReadingEncoder();
    new BinSlots().decode(encoder.encode([entry]));
    // the same encoder to a fresh worker: the slot is not there
    expect(() => new BinSlots().decode(encoder.encode([entry]))).toThrow(/slot 0, which no message defined/);
    expect(new BinSlots().decode(new ReadingEncoder().encode([entry]))[0]!.reading.binId).toBe('B-0001');
  });
});

describe('WorkerReadingJournal', () => {
  const opened: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of opened.splice(0)) await close();
  });

  /** A started journal paced as given, `sent()` the readings of each message to its worker so far. */
  const paced = async (pace: JournalPace) => {
    const journal = new WorkerReadingJournal({ dataDir: tmp(), sync: 'full', maxBatch: 100, ...pace, spoolMaxBytes: 1 << 20, influx: null }, createMetrics(), pino({ level: 'silent' }));
    opened.push(() => journal.close());
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    opened.push(async () => post.mockRestore());
    const sent = (): number[] => post.mock.calls.map(([m]) => m as ToWorker).flatMap((m) => (m.t === 'record' ? [m.cols.slots.length] : []));
    await journal.start();
    const record = (binId: string) => journal.record({ reading: reading(binId, NOW), lines: [] });
    return { journal, sent, record };
  };

  it('sends the readings of a commit interval in one message: none while a group is unanswered, then delayMs after the answer', async () => {
    // the pacing is in wall time (as the worker's own); 1 s is far longer than the few turns the readings come in
    const { journal, sent, record } = await paced({ delayMs: 1000 });

    // idle: sent at the end of the turn
    await record('A');
    expect(sent()).toEqual([1]);

    // within the delay after the answer, over several turns: they wait on this side and go together
    const acked: string[] = [];
    const waiting: Promise<unknown>[] = [];
    for (const binId of ['B', 'C', 'D']) {
      waiting.push(record(binId).then(() => acked.push(binId)));
      await turns(3);
    }
    expect(sent()).toEqual([1]);
    expect(journal.backlog()).toMatchObject({ readings: 3 });
    await Promise.all(waiting);
    expect(sent()).toEqual([1, 3]);
    expect(acked).toEqual(['B', 'C', 'D']);
  });

  it('sends and commits a group at once when it reaches the group target, not delayMs after the last answer', async () => {
    const { sent, record } = await paced({ delayMs: 60_000, groupTarget: 3 });

    await record('A');
    expect(sent()).toEqual([1]);
    // two wait for the minute's pace; the third makes the target, and all three are sent and committed without it
    const acked: string[] = [];
    const first = ['B', 'C'].map((binId) => record(binId).then(() => acked.push(binId)));
    await turns(5);
    expect(sent()).toEqual([1]);
    expect(acked).toEqual([]);
    await Promise.all([...first, record('D').then(() => acked.push('D'))]);
    expect(sent()).toEqual([1, 3]);
    expect(acked).toEqual(['B', 'C', 'D']);
  });

  it('refuses what a dying worker had not committed, logs it once, restarts it and records again', async () => {
    const dir = tmp();
    const db = openDatabase(dir);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const metrics = createMetrics();
    // a reading that comes within 100 ms of the last commit waits for the next: time enough to kill the worker before
    const journal = new WorkerReadingJournal({ dataDir: dir, sync: 'full', maxBatch: 100, delayMs: 100, spoolMaxBytes: 1 << 20, influx: null }, metrics, log);
    opened.push(() => journal.close());
    await journal.start();
    const committed: number[] = [];
    journal.onCommitted((entries) => committed.push(...entries.map((e) => e.reading.ts)));

    await journal.record({ reading: reading('A', NOW), lines: [] });
    const lost = journal.record({ reading: reading('A', NOW + 1000), lines: [] });
    await new Promise((r) => setImmediate(r)); // the turn's readings are sent at its end
    journal.crashWorker();
    await expect(lost).rejects.toBeInstanceOf(JournalUnavailableError);
    expect(journal.backlog()).toMatchObject({ readings: 0, state: 'restarting' });
    // while it restarts, a reading is refused at once rather than held
    await expect(journal.record({ reading: reading('A', NOW + 1500), lines: [] })).rejects.toBeInstanceOf(JournalUnavailableError);

    await waitFor(() => journal.backlog().state === 'ok', { timeoutMs: 20_000, message: 'worker restarted' });
    await journal.record({ reading: reading('A', NOW + 2000), lines: [] });
    await journal.record({ reading: reading('A', NOW + 3000), lines: [] });
    await journal.settled();

    expect(committed).toEqual([NOW, NOW + 2000, NOW + 3000]);
    expect(new SqliteBinStateStore(db).get('A')).toMatchObject({ ts: NOW + 3000 });
    // the refused readings are nowhere in the store
    const stored = new SqliteReadingHistory(db).rangeNow('A', NOW - 1, NOW + 10_000).reduce((n, p) => n + p.readings, 0);
    expect(stored).toBe(3);
    const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; unconfirmed?: number }).filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ unconfirmed: 1 });
    expect(errors[0]!.msg).toMatch(/journal worker died/);
    expect((await metrics.registry.getSingleMetric('binbridge_journal_worker_restarts_total')!.get()).values[0]!.value).toBe(1);
    // each acknowledged reading's wait, the commit delay in it (the last one came right after a commit and waited
    // for the next); the refused ones are not counted
    const ack = (await metrics.registry.getSingleMetric('binbridge_journal_ack_delay_seconds')!.get()).values;
    const bucket = (le: number | string): number => ack.find((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket') && v.labels.le === le)!.value;
    expect(bucket('+Inf')).toBe(3);
    expect(bucket('+Inf') - bucket(0.05)).toBeGreaterThanOrEqual(1);
  });

  it('keeps points it could not spool and refuses readings it could not commit while another connection held the database past its busy timeout; both go in after', async () => {
    const dir = tmp();
    const db = openDatabase(dir);
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => logged.push(l) });
    const metrics = createMetrics();
    const influx = configSchema.shape.influx.parse({ url: 'http://127.0.0.1:9', flush_interval_ms: 60_000 });
    const journal = new WorkerReadingJournal({ dataDir: dir, sync: 'normal', maxBatch: 100, delayMs: 0, spoolMaxBytes: 1 << 20, influx }, metrics, log);
    opened.push(() => journal.close());
    await journal.start();
    // the event loop's connection in a long write (the worker's busy_timeout is 5 s)
    db.exec('BEGIN IMMEDIATE');
    let spooled = false;
    journal.spool!.appendSoon(['m v=1 1'], () => (spooled = true));
    const refused = journal.record({ reading: reading('A', NOW), lines: [] });
    try {
      await waitFor(() => logged.some((l) => l.includes('could not spool')), { timeoutMs: 15_000, message: 'the worker gave up waiting once' });
      // the worker tried the reading's commit a millisecond at a time, and gave up after busy_timeout: no PUBACK
      await expect(refused).rejects.toMatchObject({ name: 'SqliteError', message: expect.stringMatching(/database is locked/) });
    } finally {
      db.exec('COMMIT');
    }
    await waitFor(() => spooled, { timeoutMs: 15_000, message: 'the points spooled once the lock was free' });
    await journal.record({ reading: reading('A', NOW + 1000), lines: [] });
    expect(new SqliteBinStateStore(db).get('A')).toMatchObject({ ts: NOW + 1000 });
    expect(journal.backlog().state).toBe('ok');
    expect(db.prepare('SELECT line FROM spool').pluck().all()).toEqual(['m v=1 1']);
    expect((await metrics.registry.getSingleMetric('binbridge_journal_worker_restarts_total')!.get()).values[0]?.value ?? 0).toBe(0);
    db.close();
  }, 30_000);

  it('refuses to start, with the reason, when the worker cannot open the store', async () => {
    const file = path.join(tmp(), 'not-a-dir');
    fs.writeFileSync(file, '');
    const journal = new WorkerReadingJournal({ dataDir: file, sync: 'full', maxBatch: 100, delayMs: 0, spoolMaxBytes: 1 << 20, influx: null }, createMetrics(), pino({ level: 'silent' }));
    await expect(journal.start()).rejects.toThrow(/journal worker did not start: .*(EEXIST|ENOTDIR)/);
  });
});
