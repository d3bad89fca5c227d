import type { Config } from '../config/index.js';
import type { PointBin } from './points.js';
import type { JournalEntry } from './reading-journal.js';
import type { RuleStateRow } from './rule-state-table.js';
import type { SpoolStats } from './spool.js';

/**
 * The messages between the event loop and the journal worker (journal-worker.ts). The readings of a commit interval
 * travel as one message of a few columns: a structured clone of one object per reading costs the loop more than the
 * commit it moves away, and typed arrays are copied as a block. A reading's own InfluxDB points travel as what they are
 * made of (its numbers, and its bin once per message), and the worker writes their line protocol.
 */
export interface ReadingColumns {
  binIds: string[];
  /** NUMS numbers per reading (see encodeReadings); NaN where a value is absent */
  nums: Float64Array;
  /** per reading: -1 without points of its own, else 2 × its bin's index in `bins`, + 1 with its bin_state point */
  points: Int32Array;
  /** the bins of this message's readings' points, each once, with only what points take from them */
  bins: PointBin[];
  /** how many of `lines` belong to each reading, in order */
  lineCounts: Uint32Array;
  lines: string[];
}

const NUMS = 8;

/** The readings of one turn as columns. */
export function encodeReadings(entries: readonly JournalEntry[]): ReadingColumns {
  const n = entries.length;
  const binIds = new Array<string>(n);
  const nums = new Float64Array(n * NUMS);
  const lineCounts = new Uint32Array(n);
  const points = new Int32Array(n);
  const bins: PointBin[] = [];
  const binIndex = new Map<PointBin, number>();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const { reading: r, lines: l, points: p } = entries[i]!;
    if (p) {
      let b = binIndex.get(p.bin);
      if (b === undefined) {
        b = bins.push({ id: p.bin.id, zone: p.bin.zone, kind: p.bin.kind, lat: p.bin.lat, lon: p.bin.lon }) - 1;
        binIndex.set(p.bin, b);
      }
      points[i] = 2 * b + (p.withState ? 1 : 0);
    } else points[i] = -1;
    binIds[i] = r.binId;
    const o = i * NUMS;
    nums[o] = r.ts;
    nums[o + 1] = r.receivedAt;
    nums[o + 2] = r.fillPct;
    nums[o + 3] = r.distanceMm ?? NaN;
    nums[o + 4] = r.batteryPct ?? NaN;
    nums[o + 5] = r.temperatureC ?? NaN;
    nums[o + 6] = r.tilt === undefined ? NaN : r.tilt ? 1 : 0;
    nums[o + 7] = r.rssi ?? NaN;
    lineCounts[i] = l.length;
    for (const line of l) lines.push(line);
  }
  return { binIds, nums, points, bins, lineCounts, lines };
}

/**
 * The bins the worker has seen, one object each while it does not change, so that points.ts makes each bin's
 * measurement and tags once (it keeps them by object), not once per message.
 */
export class BinsSeen {
  private readonly byId = new Map<string, PointBin>();

  of(b: PointBin): PointBin {
    const seen = this.byId.get(b.id);
    if (seen && seen.zone === b.zone && seen.kind === b.kind && seen.lat === b.lat && seen.lon === b.lon) return seen;
    this.byId.set(b.id, b);
    return b;
  }
}

const opt = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

/** The entries again, as the journal's group commit takes them (absent values stay absent). */
export function decodeReadings(cols: ReadingColumns, seen: BinsSeen = new BinsSeen()): JournalEntry[] {
  const out: JournalEntry[] = [];
  const bins = cols.bins.map((b) => seen.of(b));
  let line = 0;
  for (let i = 0; i < cols.binIds.length; i++) {
    const o = i * NUMS;
    const v = cols.nums;
    const reading: JournalEntry['reading'] = { binId: cols.binIds[i]!, ts: v[o]!, receivedAt: v[o + 1]!, fillPct: v[o + 2]! };
    const distanceMm = opt(v[o + 3]!);
    const batteryPct = opt(v[o + 4]!);
    const temperatureC = opt(v[o + 5]!);
    const tilt = opt(v[o + 6]!);
    const rssi = opt(v[o + 7]!);
    if (distanceMm !== undefined) reading.distanceMm = distanceMm;
    if (batteryPct !== undefined) reading.batteryPct = batteryPct;
    if (temperatureC !== undefined) reading.temperatureC = temperatureC;
    if (tilt !== undefined) reading.tilt = tilt === 1;
    if (rssi !== undefined) reading.rssi = rssi;
    const count = cols.lineCounts[i]!;
    const p = cols.points[i]!;
    const entry: JournalEntry = { reading, lines: count === 0 ? [] : cols.lines.slice(line, line + count) };
    if (p >= 0) entry.points = { bin: bins[p >> 1]!, withState: (p & 1) === 1 };
    out.push(entry);
    line += count;
  }
  return out;
}

/** Rule states staged for the worker's next commit, as columns too. */
export interface RuleStateColumns {
  binIds: string[];
  states: string[];
  /** at, seq per row */
  nums: Float64Array;
}

export function encodeRuleStates(rows: Iterable<RuleStateRow>): RuleStateColumns {
  const list = [...rows];
  const nums = new Float64Array(list.length * 2);
  list.forEach((r, i) => {
    nums[2 * i] = r.at;
    nums[2 * i + 1] = r.seq;
  });
  return { binIds: list.map((r) => r.binId), states: list.map((r) => r.state), nums };
}

export function decodeRuleStates(cols: RuleStateColumns): RuleStateRow[] {
  return cols.binIds.map((binId, i) => ({ binId, state: cols.states[i]!, at: cols.nums[2 * i]!, seq: cols.nums[2 * i + 1]! }));
}

/** What the worker's metrics did since its last message; the main thread adds it to its registry. */
export interface MetricDeltas {
  commitSeconds: number[];
  influxWriteSeconds: number[];
  influxPointsWritten: number;
  influxDeadLetters: number;
  /** failed writes by code */
  influxFailures: Record<string, number>;
}

/** The spool and the writer as the worker last saw them, with its metrics since the last message. */
export interface WorkerStatus {
  spool: SpoolStats | null;
  writerHealthy: boolean | null;
  metrics: MetricDeltas;
}

/** Settings the worker starts with (workerData). */
export interface JournalWorkerData {
  dataDir: string;
  sync: 'full' | 'normal';
  maxBatch: number;
  delayMs: number;
  spoolMaxBytes: number;
  /** null: InfluxDB is off, no spool and no writer */
  influx: Config['influx'] | null;
  logLevel: string;
}

export type ToWorker =
  /** readings, and the rule states staged since the last such message (both ride the next commit) */
  | { t: 'record'; now: number; cols: ReadingColumns; states: RuleStateColumns | null }
  | { t: 'append'; id: number; now: number; lines: string[] }
  | { t: 'flush'; id: number }
  | { t: 'stopWriter'; deadlineMs: number }
  | { t: 'close' }
  /** test hook: the worker stops committing (what it takes waits) until it dies */
  | { t: 'hold' }
  /** test hook: the worker throws an uncaught error, as a bug in it would */
  | { t: 'crash' };

export type FromWorker =
  | { t: 'ready'; status: WorkerStatus }
  /** the next `n` readings sent are durable */
  | { t: 'committed'; n: number; status: WorkerStatus }
  /** the next `n` readings sent were not stored */
  | { t: 'failed'; n: number; error: { name: string; message: string }; status: WorkerStatus }
  | { t: 'appended'; id: number; status: WorkerStatus }
  | { t: 'flushed'; id: number }
  | { t: 'status'; status: WorkerStatus }
  | { t: 'writerStopped'; status: WorkerStatus }
  | { t: 'closed'; status: WorkerStatus }
  /** one log line of the worker's pino, as JSON */
  | { t: 'log'; line: string };
