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
    spool.append(['a 1', 'b 2', 'c 3']);
    const first = spool.peek(2)!;
    expect(first.lines).toEqual(['a 1', 'b 2']);
    spool.ack(first);
    spool.append(['d 4']);
    db.close();
    db = openDatabase(dir);
    spool = new SqliteSpool(db, 1 << 20);
    expect(spool.stats()).toMatchObject({ depth: 2, bytes: 6, full: false });
    expect(spool.peek(10)!.lines).toEqual(['c 3', 'd 4']);
  });

  it('keeps the order and the counts of a group appended many rows to a statement', () => {
    const db = openDatabase(tmp());
    const spool = new SqliteSpool(db, 1 << 20);
    // 64 + 64 + 8 + 8 + 1 + 1 + 1 rows, then 7 (8 + 1 sizes skipped and used), then one
    const lines = (n: number, from: number) => Array.from({ length: n }, (_, i) => `m v=${from + i} ${from + i}`);
    const all = [...lines(147, 0), ...lines(7, 147), ...lines(1, 154)];
    spool.append(all.slice(0, 147));
    spool.append(all.slice(147, 154));
    spool.append(all.slice(154));
    expect(spool.stats()).toMatchObject({ depth: 155, bytes: all.join('').length });
    expect(spool.peek(1000)!.lines).toEqual(all);
    spool.recount();
    expect(spool.stats()).toMatchObject({ depth: 155, bytes: all.join('').length });
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

  journalContract(async (maxBytes = 1 << 20) => {
    const dir = tmp();
    const db = openDatabase(dir);
    const state = new SqliteBinStateStore(db);
    const firstLine = async () => db.prepare('SELECT line FROM spool ORDER BY seq LIMIT 1').pluck().get() as string | undefined;
    const storedState = async (binId: string) => db.prepare('SELECT ts, fill_pct FROM bin_state WHERE bin_id = ?').get(binId) as { ts: number | null; fill_pct: number | null } | undefined;
    const ruleState = async (binId: string) => db.prepare('SELECT state, seq FROM rule_state WHERE bin_id = ?').get(binId) as { state: string; seq: number } | undefined;
    if (mode === 'inline') {
      const spool = new SqliteSpool(db, maxBytes);
      const journal = new SqliteReadingJournal(db, spool, state, { maxBatch: 100, delayMs: 0 }, createMetrics(), silent);
      return { spool: spool as Spool, state, journal: journal as ReadingJournal, firstLine, ruleState, storedState };
    }
    // a writer that finds no InfluxDB leaves every point in the spool
    const influx = configSchema.shape.influx.parse({ url: 'http://127.0.0.1:9', flush_interval_ms: 60_000 });
    const journal = new WorkerReadingJournal({ dataDir: dir, sync: 'full', maxBatch: 100, delayMs: 0, spoolMaxBytes: maxBytes, influx }, createMetrics(), silent);
    opened.push(() => journal.close());
    await journal.start();
    return { spool: journal.spool! as Spool, state, journal: journal as ReadingJournal, firstLine, ruleState, storedState };
  });
});
