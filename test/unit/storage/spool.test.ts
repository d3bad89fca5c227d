import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/index.js';
import { createMetrics } from '../../../src/metrics.js';
import { commitCounter } from '../../helpers/event-loop.js';
import { journalContract } from '../../helpers/journal-contracts.js';
import {
  SqliteBinStateStore,
  SqliteReadingJournal,
  SqliteSpool,
  SPOOL_ROW_POINTS,
  SpoolFullError,
  WorkerReadingJournal,
  openDatabase,
  type ReadingJournal,
  type Spool,
} from '../../../src/storage/index.js';

const silent = pino({ level: 'silent' });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-spool-'));

describe('Spool', () => {
  it('keeps order, removes only acknowledged batches, and survives reopening', () => {
    const dir = tmp();
    let db = openDatabase(dir);
    let spool = new SqliteSpool(db, 1 << 20);
    spool.append(['a 1', 'b 2']);
    spool.append(['c 3']);
    // an append's points share a row, and a batch is whole rows: one point asked for, the row's two come
    expect(spool.peek(1)!.lines).toEqual(['a 1', 'b 2']);
    const first = spool.peek(2)!;
    expect(first).toMatchObject({ lines: ['a 1', 'b 2'], rows: 1 });
    spool.ack(first);
    spool.append(['d 4']);
    db.close();
    db = openDatabase(dir);
    spool = new SqliteSpool(db, 1 << 20);
    expect(spool.stats()).toMatchObject({ depth: 2, bytes: 6, full: false });
    expect(spool.peek(10)!.lines).toEqual(['c 3', 'd 4']);
  });

  it('keeps the order and the counts of points in rows of SPOOL_ROW_POINTS, many rows to a statement', () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 30);
    const lines = (n: number, from: number) => Array.from({ length: n }, (_, i) => `m v=${from + i} ${from + i}`);
    // 73 full rows and one of 5 points: statements of 64, 8, 1 and 1 rows
    const big = lines(73 * SPOOL_ROW_POINTS + 5, 0);
    spool.append(big);
    // a point with a newline of its own goes in a row alone, so that each row splits back into exactly its points
    const odd = ['x v=1 1', 'y v="a\nb" 2', 'z v=3 3'];
    spool.append(odd);
    const all = [...big, ...odd];
    const rows = db.prepare('SELECT points, line FROM spool ORDER BY seq').all() as { points: number; line: string }[];
    expect(rows.map((r) => r.points)).toEqual([...Array<number>(73).fill(SPOOL_ROW_POINTS), 5, 1, 1, 1]);
    const bytes = rows.reduce((n, r) => n + r.line.length, 0);
    expect(spool.stats()).toMatchObject({ depth: all.length, bytes });

    // a batch is whole rows, up to the first that reaches the limit
    const batch = spool.peek(1000)!;
    expect(batch).toMatchObject({ rows: 4, lines: all.slice(0, 4 * SPOOL_ROW_POINTS) });
    spool.ack(batch);
    expect(spool.peek(100_000)!.lines).toEqual(all.slice(4 * SPOOL_ROW_POINTS));
    const left = { depth: all.length - 4 * SPOOL_ROW_POINTS, bytes: bytes - batch.bytes };
    expect(spool.stats()).toMatchObject(left);
    spool.recount();
    expect(spool.stats()).toMatchObject(left);
    db.close();
  });

  it('appendSoon: the points of one turn share one commit, join a transaction in progress, and flush on demand', async () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 20);
    const commits = commitCounter(db);
    let notified = 0;
    for (let i = 0; i < 50; i++) spool.appendSoon([`m count=1 ${i}`], () => notified++);
    expect(spool.stats().depth).toBe(0); // not yet: at the end of the turn
    await new Promise((r) => setImmediate(r));
    expect(spool.stats().depth).toBe(50);
    expect(commits.commits).toBe(1);
    expect(notified).toBe(1);
    // inside a transaction: part of it, at once
    db.transaction(() => spool.appendSoon(['inner 1']))();
    expect(spool.stats().depth).toBe(51);
    // shutdown: flushSoon commits what waits, and the turn's own flush then finds nothing
    spool.appendSoon(['last 1']);
    spool.flushSoon();
    expect(spool.stats().depth).toBe(52);
    await new Promise((r) => setImmediate(r));
    expect(spool.peek(100)!.lines.slice(-2)).toEqual(['inner 1', 'last 1']);
  });

  it("tells its oldest point's time after inserts, acknowledgements, dead letters and a rolled-back commit", () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 20);
    expect(spool.stats().oldestMs).toBeNull();
    spool.append(['a 1'], 1000);
    spool.append(['b 2'], 2000);
    spool.append(['c 3'], 3000);
    expect(spool.stats().oldestMs).toBe(1000);
    spool.ack(spool.peek(1)!);
    expect(spool.stats().oldestMs).toBe(2000);
    spool.deadLetter(spool.peek(1)!, 'refused');
    expect(spool.stats().oldestMs).toBe(3000);
    spool.ack(spool.peek(1)!);
    expect(spool.stats().oldestMs).toBeNull();
    // points inserted in a transaction that rolls back were never there
    expect(() =>
      db.transaction(() => {
        spool.insert(['d 4'], 4000);
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    spool.recount();
    expect(spool.stats()).toMatchObject({ depth: 0, oldestMs: null });
    spool.append(['e 5'], 5000);
    expect(spool.stats()).toMatchObject({ depth: 1, oldestMs: 5000 });
  });

  it('counts nothing of an append whose insert fails: its transaction rolls back and its size and age stay as they were', () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 20);
    spool.append(['a 1'], 1000);
    const before = spool.stats();
    // a statement that fails after the append's first row went in (a full disk, an I/O error)
    db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON spool WHEN NEW.line LIKE 'boom%' BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const many = Array.from({ length: SPOOL_ROW_POINTS }, (_, i) => `ok v=${i} 1`);
    expect(() => spool.append([...many, 'boom\nx'], 2000)).toThrow('disk full');
    expect(spool.stats()).toEqual(before);
    db.exec('DROP TRIGGER refuse');
    spool.recount();
    expect(spool.stats()).toEqual(before);
  });

  it('moves refused batches to the dead-letter table instead of dropping them', () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 20);
    spool.append(['bad line']);
    spool.deadLetter(spool.peek(10)!, 'unable to parse');
    expect(spool.stats().depth).toBe(0);
    expect(db.prepare('SELECT line, reason FROM spool_dead_letter').all()).toEqual([{ line: 'bad line', reason: 'unable to parse' }]);
  });

  it('reports full at its size limit', () => {
    const spool = new SqliteSpool(openDatabase(tmp()), 10);
    spool.append(['0123456789']);
    expect(spool.full).toBe(true);
    expect(() => spool.assertRoom()).toThrow(SpoolFullError);
  });
});

// the journal on the event loop and in its worker thread keep the same promises (and so does PostgreSQL's:
// test/integration/postgres-journal.test.ts)
describe.each(['inline', 'worker'] as const)('ReadingJournal (%s)', (mode) => {
  const opened: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of opened.splice(0)) await close();
  });

  journalContract(async (maxBytes = 1 << 20, pace = { delayMs: 0 }) => {
    const dir = tmp();
    const db = openDatabase(dir);
    const state = new SqliteBinStateStore(db);
    // the first row's first point (a row holds a commit's points, newline-separated)
    const firstLine = async () => (db.prepare('SELECT line FROM spool ORDER BY seq LIMIT 1').pluck().get() as string | undefined)?.split('\n')[0];
    const storedState = async (binId: string) => db.prepare('SELECT ts, fill_pct FROM bin_state WHERE bin_id = ?').get(binId) as { ts: number | null; fill_pct: number | null } | undefined;
    const ruleState = async (binId: string) => db.prepare('SELECT state, seq FROM rule_state WHERE bin_id = ?').get(binId) as { state: string; seq: number } | undefined;
    if (mode === 'inline') {
      const spool = new SqliteSpool(db, maxBytes);
      const journal = new SqliteReadingJournal(db, spool, state, { maxBatch: 100, ...pace }, createMetrics(), silent);
      return { spool: spool as Spool, state, journal: journal as ReadingJournal, firstLine, ruleState, storedState };
    }
    // a writer that finds no InfluxDB leaves every point in the spool
    const influx = configSchema.shape.influx.parse({ url: 'http://127.0.0.1:9', flush_interval_ms: 60_000 });
    const journal = new WorkerReadingJournal({ dataDir: dir, sync: 'full', maxBatch: 100, ...pace, spoolMaxBytes: maxBytes, influx }, createMetrics(), silent);
    opened.push(() => journal.close());
    await journal.start();
    return { spool: journal.spool! as Spool, state, journal: journal as ReadingJournal, firstLine, ruleState, storedState };
  });
});
