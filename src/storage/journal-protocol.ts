import type { Config } from '../config/index.js';
import type { PointBin } from './points.js';
import type { JournalEntry } from './reading-journal.js';
import type { RuleStateRow } from './rule-state-table.js';
import type { SpoolStats } from './spool.js';

/**
 * The messages between the event loop and the journal worker (journal-worker.ts). The readings of a commit interval
 * travel as one message of a few columns: a structured clone of one object per reading costs the loop more than the
 * commit it moves away, and typed arrays are copied as a block. A reading's bin travels as a slot number: the worker
 * keeps what each slot holds (the bin's id, and what its InfluxDB points take from it), and a message carries only
 * the slots it defines or changes (ReadingEncoder, BinSlots). A reading's own points travel as what they are made of
 * (its numbers, its slot), and the worker writes their line protocol.
 */
export interface ReadingColumns {
  /** per reading: its bin's slot */
  slots: Int32Array;
  /** NUMS numbers per reading (see ReadingEncoder); NaN where a value is absent */
  nums: Float64Array;
  /** per reading: 0 without points of its own, 1 with, 3 with its bin_state point too */
  points: Uint8Array;
  /** the slots this message defines or changes, in reading order: each holds from reading `at` on */
  defs: SlotDef[];
  /** how many of `lines` belong to each reading, in order */
  lineCounts: Uint32Array;
  lines: string[];
}

export interface SlotDef {
  /** the first reading of the message that reads the slot as defined here */
  at: number;
  slot: number;
  binId: string;
  /** only what points take from the bin; null while no reading of it had points */
  bin: PointBin | null;
}

const NUMS = 8;

const sameBin = (a: PointBin | null, b: PointBin): boolean =>
  a !== null && a.id === b.id && a.zone === b.zone && a.kind === b.kind && a.lat === b.lat && a.lon === b.lon;

/**
 * The loop's side of the slots: which bin each slot holds in the worker it writes to. One per worker: a worker that
 * replaces one that died starts with none.
 */
export class ReadingEncoder {
  private readonly sent = new Map<string, { slot: number; bin: PointBin | null }>();

  /** The readings of one turn as columns. */
  encode(entries: readonly JournalEntry[]): ReadingColumns {
    const n = entries.length;
    const slots = new Int32Array(n);
    const nums = new Float64Array(n * NUMS);
    const lineCounts = new Uint32Array(n);
    const points = new Uint8Array(n);
    const defs: SlotDef[] = [];
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const { reading: r, lines: l, points: p } = entries[i]!;
      let known = this.sent.get(r.binId);
      if (!known || (p && !sameBin(known.bin, p.bin))) {
        const bin = p ? { id: p.bin.id, zone: p.bin.zone, kind: p.bin.kind, lat: p.bin.lat, lon: p.bin.lon } : null;
        known = { slot: known?.slot ?? this.sent.size, bin };
        this.sent.set(r.binId, known);
        defs.push({ at: i, slot: known.slot, binId: r.binId, bin });
      }
      slots[i] = known.slot;
      points[i] = p ? (p.withState ? 3 : 1) : 0;
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
    return { slots, nums, points, defs, lineCounts, lines };
  }
}

/**
 * The worker's side of the slots. A bin's object stays the same while the bin does not change, so that points.ts
 * makes its measurement and tags once (it keeps them by object), not once per message.
 */
export class BinSlots {
  private readonly slots: { binId: string; bin: PointBin | null }[] = [];

  /** The entries again, as the journal's group commit takes them (absent values stay absent). */
  decode(cols: ReadingColumns): JournalEntry[] {
    const out: JournalEntry[] = [];
    const v = cols.nums;
    let def = 0;
    let line = 0;
    for (let i = 0; i < cols.slots.length; i++) {
      for (let d = cols.defs[def]; d !== undefined && d.at === i; d = cols.defs[++def]) this.slots[d.slot] = { binId: d.binId, bin: d.bin };
      const slot = this.slots[cols.slots[i]!];
      if (!slot) throw new Error(`journal message: reading ${i} names slot ${cols.slots[i]}, which no message defined`);
      const o = i * NUMS;
      const reading: JournalEntry['reading'] = { binId: slot.binId, ts: v[o]!, receivedAt: v[o + 1]!, fillPct: v[o + 2]! };
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
      if (p !== 0) {
        if (!slot.bin) throw new Error(`journal message: reading ${i} has points, its slot ${cols.slots[i]} no bin`);
        entry.points = { bin: slot.bin, withState: p === 3 };
      }
      out.push(entry);
      line += count;
    }
    return out;
  }
}

const opt = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

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
  /** spool.commit_group_target (CommitPacer) */
  groupTarget?: number;
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
