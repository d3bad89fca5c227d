// spool.commit_delay_ms: a commit waits until that long after the last one ended, so readings that come meanwhile
// share one commit (one fsync); a reading that finds the journal idle is committed on the next turn.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { createMetrics } from '../../../src/metrics.js';
import { CommitPacer, PacedRun, SqliteBinStateStore, SqliteReadingJournal, openDatabase } from '../../../src/storage/index.js';

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('CommitPacer', () => {
  it('lets a commit start at once after an idle spell, and only intervalMs after the last one ended otherwise', () => {
    const pacer = new CommitPacer(2);
    expect(pacer.waitMs(1000)).toBe(0);
    pacer.ended(1000);
    expect(pacer.waitMs(1000)).toBe(2);
    expect(pacer.waitMs(1001.5)).toBe(0.5);
    expect(pacer.waitMs(1002)).toBe(0);
    expect(new CommitPacer(0).waitMs(5)).toBe(0);
  });

  it('ends the wait once the readings waiting reach the group target', () => {
    const pacer = new CommitPacer(4, 64);
    pacer.ended(1000);
    expect(pacer.waitMs(1001, 63)).toBe(3);
    expect(pacer.waitMs(1001, 64)).toBe(0);
    // no target: the interval alone
    const plain = new CommitPacer(4);
    plain.ended(1000);
    expect(plain.waitMs(1001, 10_000)).toBe(3);
  });
});

describe('PacedRun', () => {
  it('keeps a run set for the same time or sooner, moves it when asked for sooner, and runs it once', async () => {
    const clock = new ManualClock(0);
    const runs: number[] = [];
    const run = new PacedRun(clock, () => runs.push(clock.now()));
    run.within(10);
    run.within(20);
    expect(run.pending).toBe(true);
    await clock.advance(10);
    expect(runs).toEqual([10]);
    expect(run.pending).toBe(false);

    run.within(10);
    await clock.advance(5);
    // sooner: at the end of this turn, and the timer it replaced does not run again
    run.within(0);
    await turns(1);
    expect(runs).toEqual([10, 15]);
    await clock.advance(10);
    expect(runs).toEqual([10, 15]);
  });

  it('runs once when a run set for the end of the turn is moved because the clock stepped back', async () => {
    // a wall clock may step back (ManualClock only moves on)
    let t = 1000;
    const clock = {
      now: () => t,
      setTimeout: (): never => {
        throw new Error('no timer: every run here is at the end of the turn');
      },
    };
    let runs = 0;
    const run = new PacedRun(clock, () => runs++);
    run.within(0);
    // asked at an earlier time, the run is set anew
    t = 500;
    run.within(0);
    await turns(2);
    expect(runs).toBe(1);
    expect(run.pending).toBe(false);
  });
});

describe('SqliteReadingJournal with a commit delay', () => {
  it('commits a reading that finds it idle on the next turn, and gathers the readings of the delay after a commit into one', async () => {
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-pacer-')));
    const clock = new ManualClock(1_000_000);
    const journal = new SqliteReadingJournal(db, null, new SqliteBinStateStore(db), { maxBatch: 100, delayMs: 2, clock }, createMetrics(), pino({ level: 'silent' }));
    const groups: string[][] = [];
    journal.onCommitted((entries) => groups.push(entries.map((e) => e.reading.binId)));
    const record = (binId: string) => journal.record({ reading: { binId, ts: clock.now(), receivedAt: clock.now(), fillPct: 10 }, lines: [] });

    // idle: the clock stands still and the reading is committed all the same
    await record('A');

    // within 2 ms of that commit: both wait for the next one, together
    const acked: string[] = [];
    const waiting = ['B', 'C'].map((binId) => record(binId).then(() => acked.push(binId)));
    await turns(5);
    expect(acked).toEqual([]);
    await clock.advance(1);
    expect(acked).toEqual([]);
    await clock.advance(1);
    await Promise.all(waiting);
    expect(acked).toEqual(['B', 'C']);

    // idle longer than the delay: at once again
    await clock.advance(5);
    await record('D');
    await journal.settled();
    expect(groups).toEqual([['A'], ['B', 'C'], ['D']]);
  });
});
