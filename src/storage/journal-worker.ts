// The journal worker's thread: its own SQLite connection to binbridge.db (WAL), the group commit with its fsync,
// the spool and the InfluxDB writer that drains it. The event loop posts the readings of each commit interval here
// and answers the devices (PUBACK) only when this thread says they are durable (journal-protocol.ts,
// worker-journal.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { realClock } from '../clock.js';
import { retryDelay } from '../retry.js';
import { SqliteBinStateStore } from './bin-state.js';
import { BUSY_TIMEOUT_MS, LOCK_RETRY_MS, lockTimedOut, openDatabase } from './database.js';
import { createSink } from './influx-sink.js';
import { InfluxWriter, type WriterMetrics } from './influx-writer.js';
import type { FromWorker, JournalWorkerData, MetricDeltas, ToWorker, WorkerStatus } from './journal-protocol.js';
import { BinSlots, decodeRuleStates } from './journal-protocol.js';
import { SqliteReadingHistory } from './reading-history.js';
import { CommitPacer, GroupCommit, PacedRun, type JournalEntry } from './reading-journal.js';
import type { RuleStateRow } from './rule-state-table.js';
import { SqliteSpool, type SpoolBatch } from './spool.js';

const STATUS_EVERY_MS = 500;

const port = parentPort!;
const data = workerData as JournalWorkerData;
const post = (m: FromWorker): void => port.postMessage(m);
// the main thread's logger writes the lines (its level, its destination, its redaction)
const log = pino({ level: data.logLevel, base: undefined, timestamp: false }, { write: (line: string) => post({ t: 'log', line }) }).child({ module: 'journal' });

let deltas: MetricDeltas = { commitSeconds: [], influxWriteSeconds: [], influxPointsWritten: 0, influxDeadLetters: 0, influxFailures: {} };
const timer = (into: 'commitSeconds' | 'influxWriteSeconds') => () => {
  const start = process.hrtime.bigint();
  return () => {
    deltas[into].push(Number(process.hrtime.bigint() - start) / 1e9);
  };
};
// the writer's metrics, kept here and handed to the main thread's registry with the next message
const metrics: WriterMetrics = {
  influxWrite: { startTimer: timer('influxWriteSeconds') },
  influxPointsWritten: { inc: (n = 1) => void (deltas.influxPointsWritten += n) },
  influxDeadLetters: { inc: (n = 1) => void (deltas.influxDeadLetters += n) },
  influxFailures: {
    inc: (labels: { code: string }) => {
      deltas.influxFailures[labels.code] = (deltas.influxFailures[labels.code] ?? 0) + 1;
      statusSoon();
    },
  },
} as unknown as WriterMetrics;
const commitTimer = timer('commitSeconds');

/** A spool that tells the main thread when the writer took points out of it. */
class ReportingSpool extends SqliteSpool {
  override ack(batch: SpoolBatch): void {
    super.ack(batch);
    statusSoon();
  }
  override deadLetter(batch: SpoolBatch, reason: string): void {
    super.deadLetter(batch, reason);
    statusSoon();
  }
}

const db = openDatabase(data.dataDir, { sync: data.sync });
const spool = data.influx ? new ReportingSpool(db, data.spoolMaxBytes) : null;
const group = new GroupCommit(db, spool, new SqliteBinStateStore(db), new SqliteReadingHistory(db));
const influxLog = log.child({ module: 'influx' });
const writer =
  spool && data.influx
    ? new InfluxWriter(spool, createSink(data.influx, influxLog), { batchSize: data.influx.batch_size, flushIntervalMs: data.influx.flush_interval_ms }, metrics, influxLog)
    : null;

function status(): WorkerStatus {
  const out = { spool: spool && db.open ? spool.stats() : null, writerHealthy: writer?.healthy ?? null, metrics: deltas };
  deltas = { commitSeconds: [], influxWriteSeconds: [], influxPointsWritten: 0, influxDeadLetters: 0, influxFailures: {} };
  return out;
}

let statusPending = false;
function statusSoon(): void {
  if (statusPending) return;
  statusPending = true;
  setImmediate(() => {
    statusPending = false;
    if (db.open) post({ t: 'status', status: status() });
  });
}

const bins = new BinSlots();

// readings waiting for the next commit, with the main thread's clock at the turn they came in
let queue: JournalEntry[] = [];
let queueNow = 0;
// the rules' memory of some bins (sent at most every RULE_STATES_EVERY_MS), newest per bin, for the next commit
let states = new Map<string, RuleStateRow>();
const pacer = new CommitPacer(data.delayMs, data.groupTarget);
const next = new PacedRun(realClock, () => {
  commitAll();
  pacer.ended(realClock.now());
});
/** test hook: nothing is committed any more */
let held = false;

/** The next commit: when the pacer lets it, sooner once the readings waiting reach its group target. */
function schedule(): void {
  next.within(pacer.waitMs(realClock.now(), queue.length));
}

// since when the event loop's connection has held the write lock against this thread's commits
let lockedSince: number | null = null;
let lockRetry = false;

/** Rule states a commit took and did not store wait for the next one (newer ones staged meanwhile win). */
function putBackStates(rows: Map<string, RuleStateRow>): void {
  for (const [binId, r] of rows) if (!states.has(binId)) states.set(binId, r);
}

function retryWhenUnlocked(): void {
  lockRetry = true;
  realClock.setTimeout(() => {
    lockRetry = false;
    commitAll();
  }, LOCK_RETRY_MS);
}

/**
 * Commits the queue in groups of at most maxBatch, each followed by its answer to the main thread. While the event
 * loop's connection holds the write lock (an alert, the outbox), a commit is tried again every LOCK_RETRY_MS rather
 * than in SQLite's sleeps of 1, 2, 5… ms, and fails after busy_timeout as it would have there; with `wait` (flush,
 * close) it waits in SQLite.
 */
function commitAll(wait = false): void {
  while ((queue.length > 0 || states.size > 0) && db.open && !held && (wait || !lockRetry)) {
    const entries = queue.length <= data.maxBatch ? queue : queue.slice(0, data.maxBatch);
    queue = entries === queue ? [] : queue.slice(entries.length);
    const rows = states;
    states = new Map();
    const end = commitTimer();
    try {
      const now = realClock.now();
      if (wait) group.run(entries, queueNow, rows.values());
      else if (!group.tryRun(entries, queueNow, rows.values())) {
        // held for busy_timeout: the group fails as it would have in SQLite's wait, and is refused (no PUBACK)
        if (lockedSince !== null && now - lockedSince >= BUSY_TIMEOUT_MS) throw lockTimedOut();
        // nothing ran: everything goes back as it was, and is tried again in a moment
        lockedSince ??= now;
        queue = entries.concat(queue);
        putBackStates(rows);
        retryWhenUnlocked();
        return;
      }
      lockedSince = null;
    } catch (err) {
      lockedSince = null;
      end();
      putBackStates(rows);
      log.error({ err, readings: entries.length }, 'journal commit failed; readings not acknowledged');
      if (entries.length === 0) break;
      const e = err as Error;
      post({ t: 'failed', n: entries.length, error: { name: e.name, message: e.message }, status: status() });
      continue;
    }
    end();
    if (entries.length > 0) post({ t: 'committed', n: entries.length, status: status() });
  }
  writer?.notify();
}

// the event loop's connection writes too (alerts, outbox): under a long burst of its writes the worker's may wait
// longer than busy_timeout; the points are tried again, not lost with a dying worker
const APPEND_RETRY = { baseMs: 50, maxMs: 2000, jitter: 'equal' } as const;

/** Spools the points of an append and confirms it; tries again while the database is locked. */
function append(id: number, lines: string[], now: number, attempt: number): void {
  if (!db.open) return;
  try {
    spool?.append(lines, now);
  } catch (err) {
    // the main thread keeps the points until they are confirmed (and sends them to a worker that replaces this one)
    log.warn({ err, points: lines.length, attempt }, 'could not spool telemetry points; trying again');
    realClock.setTimeout(() => append(id, lines, now, attempt + 1), retryDelay(attempt, APPEND_RETRY));
    return;
  }
  writer?.notify();
  post({ t: 'appended', id, status: status() });
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'record':
      for (const e of bins.decode(m.cols)) queue.push(e);
      if (m.states) for (const r of decodeRuleStates(m.states)) states.set(r.binId, r);
      queueNow = m.now;
      schedule();
      return;
    case 'append':
      append(m.id, m.lines, m.now, 1);
      return;
    case 'flush':
      commitAll(true);
      post({ t: 'flushed', id: m.id });
      return;
    case 'stopWriter':
      commitAll(true);
      void (writer?.stop(m.deadlineMs) ?? Promise.resolve()).then(() => post({ t: 'writerStopped', status: status() }));
      return;
    case 'close':
      commitAll(true);
      interval.clear();
      // the writer must not peek into a closed database; after 'stopWriter' this returns at once
      void (writer?.stop(0) ?? Promise.resolve()).then(() => {
        const last = status();
        db.close();
        post({ t: 'closed', status: last });
        port.close();
      });
      return;
    case 'hold':
      held = true;
      return;
    case 'crash':
      throw new Error('journal worker crashed on purpose (test hook)');
  }
});

// the writer's health and the spool's age move without a commit (an outage, a replay): told twice a second
const interval = realClock.setInterval(() => {
  if (db.open) post({ t: 'status', status: status() });
}, STATUS_EVERY_MS);
interval.unref();
writer?.start();
post({ t: 'ready', status: status() });
