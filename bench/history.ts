// The embedded history's size and write cost: K bins report every M minutes for D days into a fresh SQLite file
// through ReadingHistory (one transaction per round of readings, as the journal's group commit does, pruned every
// hour as the bridge does), then the table is measured with dbstat.
//   npm run bench:history -- [--bins 315] [--days 40] [--every 15]
// Prints ONE JSON object: rows kept, bytes per bin-day (the table and the file), CPU µs per reading written,
// the time one bin's chart takes to read (24 h, 35 days), and the journal's CPU per reading without and with it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ManualClock } from '../src/clock.js';
import { createMetrics } from '../src/metrics.js';
import { BUCKET_MS, SqliteBinStateStore, HISTORY_DAYS, SqliteReadingHistory, SqliteReadingJournal, openDatabase, type LatestReading } from '../src/storage/index.js';
import { intArg, log, r1 } from './lib/harness.js';

const { values: args } = parseArgs({
  options: {
    bins: { type: 'string', default: '315' },
    days: { type: 'string', default: '40' },
    every: { type: 'string', default: '15' },
    'keep-temp': { type: 'boolean', default: false },
  },
});
const BINS = intArg('bins', args.bins, 1, 100_000);
const DAYS = intArg('days', args.days, 1, 400);
const EVERY_MIN = intArg('every', args.every, 1, 60);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bench-history-'));
const DAY = 86_400_000;
const start = Math.floor(Date.parse('2026-01-01T00:00:00Z') / BUCKET_MS) * BUCKET_MS;
const clock = new ManualClock(start);
const db = openDatabase(dir, { sync: 'normal' });
const history = new SqliteReadingHistory(db, clock);
const fileBytes = (): number => (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
db.pragma('wal_checkpoint(TRUNCATE)');
const before = fileBytes();

const ids = Array.from({ length: BINS }, (_, i) => `AMS-${String(i + 1).padStart(5, '0')}`);
const round = db.transaction((readings: LatestReading[], now: number) => history.record(readings, now));
let readingsWritten = 0;
let cpuUs = 0;
let nextPrune = start + 3_600_000;
const end = start + DAYS * DAY;
log(`${BINS} bins, a reading every ${EVERY_MIN} min for ${DAYS} days, into ${dir}`);
for (let t = start; t < end; t += EVERY_MIN * 60_000) {
  // each bin a little after the round's start, its fill rising and emptied every ~3 days, a battery slowly draining
  const readings = ids.map((binId, i): LatestReading => {
    const ts = t + ((i * 7919) % (EVERY_MIN * 60_000));
    const hours = (ts - start) / 3_600_000;
    return { binId, ts, receivedAt: ts, fillPct: (hours * (0.8 + (i % 7) * 0.1) + i) % 100, batteryPct: 100 - hours / 50, temperatureC: 12 + (i % 9) };
  });
  const c0 = process.cpuUsage();
  round(readings, t + EVERY_MIN * 60_000);
  const c = process.cpuUsage(c0);
  cpuUs += c.user + c.system;
  readingsWritten += readings.length;
  if (t >= nextPrune) {
    await clock.advanceTo(t);
    history.prune(t);
    nextPrune += 3_600_000;
  }
}
history.prune(end);
db.pragma('wal_checkpoint(TRUNCATE)');
const table = db
  .prepare("SELECT name, sum(pgsize) AS bytes, sum(payload) AS payload, count(*) AS pages FROM dbstat WHERE name IN ('reading_history', 'history_bins', 'sqlite_autoindex_history_bins_1') GROUP BY name")
  .all() as { name: string; bytes: number; payload: number; pages: number }[];
const rows = db.prepare('SELECT count(*) FROM reading_history').pluck().get() as number;
// a chart's read: one bin's last 24 hours and last 35 days (the median of 25)
const readMs = (hours: number): number => {
  const times: number[] = [];
  for (let k = 0; k < 25; k++) {
    const t0 = process.hrtime.bigint();
    history.rangeNow(ids[k % ids.length]!, end - hours * 3_600_000, end);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b)[12]!;
};
const read24h = readMs(24);
const read35d = readMs(HISTORY_DAYS * 24);
const freePages = db.pragma('freelist_count', { simple: true }) as number;
const after = fileBytes();
db.close();
const keptDays = Math.min(DAYS, HISTORY_DAYS);
const historyBytes = table.find((t) => t.name === 'reading_history')?.bytes ?? 0;
// in the journal: CPU per reading committed without and with the history (groups of 200 readings from 100 bins,
// spool.sync normal so that the disk's fsync time does not drown it), alternately, 3 runs each
async function journalUsPerReading(withHistory: boolean): Promise<number> {
  const jdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bench-journal-'));
  const jdb = openDatabase(jdir, { sync: 'normal' });
  const journal = new SqliteReadingJournal(jdb, null, new SqliteBinStateStore(jdb), { maxBatch: 1000, delayMs: 0 }, createMetrics(), pino({ level: 'silent' }), withHistory ? new SqliteReadingHistory(jdb) : null);
  const t0 = Date.now() - 3_600_000;
  const N = 60_000;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; ) {
    const group: Promise<void>[] = [];
    for (let k = 0; k < 200; k++, i++) {
      const ts = t0 + i * 50;
      group.push(journal.record({ reading: { binId: `B-${i % 100}`, ts, receivedAt: ts, fillPct: i % 100, batteryPct: 80, temperatureC: 15 }, lines: [] }));
    }
    await Promise.all(group);
  }
  const c = process.cpuUsage(c0);
  jdb.close();
  fs.rmSync(jdir, { recursive: true, force: true });
  return r1((c.user + c.system) / N);
}
const journalUs: { without: number[]; with: number[] } = { without: [], with: [] };
for (let k = 0; k < 3; k++) {
  journalUs.without.push(await journalUsPerReading(false));
  journalUs.with.push(await journalUsPerReading(true));
}

const out = {
  bins: BINS,
  days: DAYS,
  every_min: EVERY_MIN,
  readings: readingsWritten,
  rows_kept: rows,
  rows_per_bin_day: r1(rows / BINS / keptDays),
  table_bytes: Object.fromEntries(table.map((t) => [t.name, t.bytes])),
  bytes_per_row: r1(historyBytes / rows),
  table_bytes_per_bin_day: Math.round(historyBytes / BINS / keptDays),
  file_growth_bytes: after - before,
  file_growth_per_bin_day: Math.round((after - before) / BINS / keptDays),
  free_pages_after_pruning: freePages,
  cpu_us_per_reading: r1(cpuUs / readingsWritten),
  read_ms: { last_24h: Math.round(read24h * 100) / 100, last_35d: Math.round(read35d * 100) / 100 },
  journal_cpu_us_per_reading: journalUs,
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
if (!args['keep-temp']) fs.rmSync(dir, { recursive: true, force: true });
