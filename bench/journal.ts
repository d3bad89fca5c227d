// The journal's cost on the event loop, inline and in its worker (spool.journal): N readings of 100 bins arrive
// PER_TURN per turn of the event loop and are recorded through the journal with their line-protocol points, the
// spool, bin state and history, fsynced (spool.sync: full), as ingest records them (no MQTT, no InfluxDB).
//   npm run bench:journal -- [--readings 40000] [--per-turn 100] [--rounds 2] [--postgres postgres://…]
// With --postgres, a third mode: the journal on that PostgreSQL database (store.url), whose spool, bin state and
// history tables it empties before each round (give it a database of its own). Its readings/s is the figure to
// compare: the commit waits on the server, not on this thread. A fourth, postgres-rules: the same with the rules in
// each group's transaction, as binbridge runs them on PostgreSQL (the group's rule_state rows locked, read, written
// back; full alerts opened for the bins the readings fill).
// Prints ONE JSON object: per mode and round, CPU µs per reading of the main thread (the event loop that also
// speaks MQTT) and of the whole process (all threads), the loop's busy time per reading (it includes waiting for
// the fsync, and time the thread was runnable but not running on a loaded machine), and the wall time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { configSchema } from '../src/config/index.js';
import { createMetrics } from '../src/metrics.js';
import {
  SqliteBinStateStore,
  SqliteReadingHistory,
  SqliteReadingJournal,
  SqliteSpool,
  WorkerReadingJournal,
  openDatabase,
  readingPoints,
  type JournalEntry,
  type ReadingJournal,
} from '../src/storage/index.js';
import { PostgresBinStateStore, PostgresReadingHistory, PostgresReadingJournal, PostgresSpool, migratePostgres, openPool } from '../src/storage/postgres/index.js';
import { realClock } from '../src/clock.js';
import { PostgresAlertStore, PostgresRuleStateRows, RuleRunner, RuleStateCache, type RuleRunnerDeps } from '../src/alerts/index.js';
import type { Decisions } from '../src/decisions.js';
import { EventBus } from '../src/events.js';
import type { BinRegistry } from '../src/registry/index.js';
import type { BinRuleState } from '../src/rules/index.js';
import { intArg, log, r1 } from './lib/harness.js';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '40000' },
    'per-turn': { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' },
    postgres: { type: 'string', default: '' },
  },
});
const N = intArg('readings', args.readings, 100, 1_000_000);
const PER_TURN = intArg('per-turn', args['per-turn'], 1, 10_000);
const ROUNDS = intArg('rounds', args.rounds, 1, 10);
const silent = pino({ level: 'silent' });

/** CPU of this process's main thread in µs (Linux: /proc/self/task/<pid>/stat; 10 ms resolution). */
function mainThreadCpuUs(): number {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}

function entries(base: number): JournalEntry[] {
  return Array.from({ length: N }, (_, j) => {
    const ts = base + j;
    const reading = { binId: `B-${j % 100}`, ts, receivedAt: ts, fillPct: j % 100, batteryPct: 80, temperatureC: 12 };
    const bin = { id: reading.binId, zone: 'z1', kind: 'rest', lat: 52.37, lon: 4.89 };
    return { reading, lines: readingPoints(reading, bin, j % 10 === 0) };
  });
}

/** The rules as binbridge runs them on PostgreSQL, on the stores they use there (no dispatcher, no outbox). */
function benchRules(): RuleRunner {
  const on = (client: Parameters<RuleRunnerDeps['decisions']['on']>[0], afterCommit: (fn: () => void) => void) =>
    ({ alerts: new PostgresAlertStore(client), ruleStates: new PostgresRuleStateRows(client), afterCommit }) as unknown as Decisions;
  return new RuleRunner({
    decisions: { shared: true, on, tx: () => Promise.reject(new Error('not in the bench')), read: null as unknown as Decisions },
    registry: { get: (id: string) => ({ id, zone: 'z1' }) } as unknown as BinRegistry,
    states: new RuleStateCache<BinRuleState>(),
    config: configSchema.parse({}),
    zones: { zone: () => undefined },
    events: new EventBus(silent),
    log: silent,
  });
}

type Mode = 'inline' | 'worker' | 'postgres' | 'postgres-rules';

async function run(mode: Mode): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bench-journal-'));
  const pool = mode.startsWith('postgres') ? openPool({ url: args.postgres }) : null;
  try {
    const db = openDatabase(dir);
    // a writer that never reaches InfluxDB: the spool only fills
    const influx = configSchema.shape.influx.parse({ url: 'http://127.0.0.1:9', flush_interval_ms: 3_600_000 });
    let journal: ReadingJournal;
    let worker: WorkerReadingJournal | null = null;
    if (pool) {
      await migratePostgres(pool);
      await pool.query('TRUNCATE spool, bin_state, reading_history, history_bins, rule_state, alerts RESTART IDENTITY');
      const source = () => pool;
      const state = new PostgresBinStateStore(source, realClock, silent);
      const spool = new PostgresSpool(source, { maxBytes: 1 << 30, clock: realClock, log: silent });
      const pgJournal = new PostgresReadingJournal(source, spool, state, new PostgresReadingHistory(source, realClock, silent), { maxBatch: 2000, delayMs: 0 }, createMetrics(), silent);
      if (mode === 'postgres-rules') pgJournal.inCommit(benchRules().inCommit);
      journal = pgJournal;
    } else if (mode === 'inline') {
      const spool = new SqliteSpool(db, 1 << 30);
      journal = new SqliteReadingJournal(db, spool, new SqliteBinStateStore(db), { maxBatch: 2000, delayMs: 0 }, createMetrics(), silent, new SqliteReadingHistory(db));
    } else {
      worker = new WorkerReadingJournal({ dataDir: dir, sync: 'full', maxBatch: 2000, delayMs: 0, spoolMaxBytes: 1 << 30, influx }, createMetrics(), silent);
      await worker.start();
      journal = worker;
    }
    const all = entries(Date.now() - 3_600_000);
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuUs();
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < N; i += PER_TURN) {
      for (let k = i; k < Math.min(N, i + PER_TURN); k++) pending.push(journal.record(all[k]!));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const mainUs = mainThreadCpuUs() - main0;
    const elu = performance.eventLoopUtilization(elu0);
    await worker?.close();
    db.close();
    return {
      readings_per_s: Math.round(N / wallS),
      main_thread_cpu_us_per_reading: r1(mainUs / N),
      process_cpu_us_per_reading: r1((cpu.user + cpu.system) / N),
      loop_busy_us_per_reading: r1((elu.active * 1000) / N),
      wall_s: Math.round(wallS * 100) / 100,
    };
  } finally {
    await pool?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const modes: Mode[] = args.postgres ? ['inline', 'worker', 'postgres', 'postgres-rules'] : ['inline', 'worker'];
const out: Record<string, Record<string, number>[]> = Object.fromEntries(modes.map((m) => [m, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of modes) {
    const r = await run(mode);
    log(`${mode}: ${JSON.stringify(r)}`);
    out[mode]!.push(r);
  }
}
process.stdout.write(JSON.stringify({ readings: N, per_turn: PER_TURN, sync: 'full', load_average: os.loadavg().map(r1), ...out }, null, 2) + '\n');
