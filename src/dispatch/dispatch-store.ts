import type Database from 'better-sqlite3';
import { shortCode } from '../short-code.js';
import { afterKey, where } from '../storage/index.js';
import type { StopReason, StopWhy } from './planner.js';

export type DispatchStatus = 'pending' | 'sent' | 'accepted' | 'done' | 'escalated' | 'cancelled';
export const OPEN_STATUSES: readonly DispatchStatus[] = ['pending', 'sent', 'accepted', 'escalated'];

export interface Dispatch {
  id: string;
  zone: string;
  crew_id: string | null;
  status: DispatchStatus;
  urgent: boolean;
  bin_ids: string[];
  created_at: number;
  sent_at: number | null;
  accepted_at: number | null;
  done_at: number | null;
  escalated_at: number | null;
  cancelled_at: number | null;
  error: string | null;
  map_url: string;
  /** why each bin is on the job, in route order (jobs made before reasons were kept: reason null) */
  stops: JobStop[];
}

/** A stop of a job and why it is there. */
export interface JobStop {
  bin_id: string;
  reason: StopReason | null;
  cause: string | null;
  hours_to_full: number | null;
}

interface Row extends Omit<Dispatch, 'urgent' | 'bin_ids' | 'stops'> {
  urgent: number;
  bin_ids: string;
}

export const stopOf = (w: StopWhy): JobStop => ({ bin_id: w.binId, reason: w.reason, cause: w.cause ?? null, hours_to_full: w.hoursToFull ?? null });

/** A bin waiting to be batched into a job. */
export interface QueueEntry {
  binId: string;
  zone: string;
  queuedAt: number;
  urgent: boolean;
  reason: string;
  /** the cause of the alert that queued it; null for a request no alert made */
  cause: string | null;
}

/** The filters of a job listing (the API's query). */
export interface DispatchFilter {
  status?: string | undefined;
  zone?: string | undefined;
  crew?: string | undefined;
  bin?: string | undefined;
  limit?: number | undefined;
  /** the page after that job's [created_at, id] */
  after?: readonly [number, string] | undefined;
}

/**
 * Jobs (dispatches) and the bins waiting to be batched into one. Synchronous: the dispatcher runs each decision
 * and the message it causes in one transaction.
 */
export interface DispatchStore {
  /** A job id no job has yet. */
  newId(): string;
  /** Queues a bin; an urgent request upgrades a waiting one. */
  enqueue(binId: string, zone: string, at: number, urgent: boolean, reason: string, cause?: string | null): void;
  /** Oldest first. */
  queue(): QueueEntry[];
  dequeue(binIds: readonly string[]): void;
  /** True when an open job holds the bin, not yet collected. */
  inOpenJob(binId: string): boolean;
  /** Every bin in an open job and not yet collected (one query, for planning over many bins). */
  openJobBins(): Set<string>;
  insert(d: Omit<Dispatch, 'stops'> & { stops?: readonly JobStop[] }): void;
  update(id: string, fields: Partial<Pick<Dispatch, 'status' | 'crew_id' | 'sent_at' | 'accepted_at' | 'done_at' | 'escalated_at' | 'cancelled_at' | 'error'>>): void;
  /** Marks a bin of open jobs as collected; returns the ids of open jobs whose bins are now all collected. */
  markCollected(binId: string, at: number): string[];
  get(id: string): Dispatch | undefined;
  /** The newest open job of a crew in one of the given statuses. */
  latestOfCrew(crewId: string, statuses: readonly DispatchStatus[]): Dispatch | undefined;
  /** Newest first. */
  list(f?: DispatchFilter): Dispatch[];
  countByStatus(): { status: DispatchStatus; n: number }[];
  /** Open jobs sent before the cutoff and not accepted: due for escalation. */
  unaccepted(sentBefore: number): Dispatch[];
  /** Jobs that found no crew on shift when they were made. */
  unassigned(): Dispatch[];
}

/** Jobs and the queue in SQLite (`dispatches`, `dispatch_bins`, `dispatch_queue`). */
export class SqliteDispatchStore implements DispatchStore {
  private readonly stopsStmt;
  private readonly inOpenJobStmt;
  private readonly openJobBinsStmt;

  constructor(private readonly db: Database.Database) {
    this.stopsStmt = db.prepare('SELECT bin_id, reason, cause, hours_to_full FROM dispatch_bins WHERE dispatch_id = ?');
    const open = `FROM dispatch_bins b JOIN dispatches d ON d.id = b.dispatch_id
      WHERE b.collected_at IS NULL AND d.status IN ('pending', 'sent', 'accepted', 'escalated')`;
    this.inOpenJobStmt = db.prepare(`SELECT 1 ${open} AND b.bin_id = ? LIMIT 1`);
    this.openJobBinsStmt = db.prepare(`SELECT DISTINCT b.bin_id ${open}`).pluck();
  }

  private fromRow(r: Row): Dispatch {
    const binIds = JSON.parse(r.bin_ids) as string[];
    const byBin = new Map((this.stopsStmt.all(r.id) as JobStop[]).map((s) => [s.bin_id, s]));
    const stops = binIds.map((id) => byBin.get(id) ?? { bin_id: id, reason: null, cause: null, hours_to_full: null });
    return { ...r, urgent: r.urgent === 1, bin_ids: binIds, stops };
  }

  newId(): string {
    return shortCode('J-', 5, (id) => this.get(id) !== undefined);
  }


  enqueue(binId: string, zone: string, at: number, urgent: boolean, reason: string, cause: string | null = null): void {
    // an urgent request upgrades a waiting one
    this.db
      .prepare(
        `INSERT INTO dispatch_queue (bin_id, zone, queued_at, urgent, reason, cause) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (bin_id) DO UPDATE SET urgent = max(urgent, excluded.urgent),
           reason = CASE WHEN excluded.urgent = 1 THEN excluded.reason ELSE reason END,
           cause = CASE WHEN excluded.urgent = 1 THEN excluded.cause ELSE cause END`,
      )
      .run(binId, zone, at, urgent ? 1 : 0, reason, cause);
  }

  queue(): QueueEntry[] {
    return (this.db.prepare('SELECT bin_id, zone, queued_at, urgent, reason, cause FROM dispatch_queue ORDER BY queued_at, bin_id').all() as {
      bin_id: string;
      zone: string;
      queued_at: number;
      urgent: number;
      reason: string;
      cause: string | null;
    }[]).map((r) => ({ binId: r.bin_id, zone: r.zone, queuedAt: r.queued_at, urgent: r.urgent === 1, reason: r.reason, cause: r.cause }));
  }

  dequeue(binIds: readonly string[]): void {
    const del = this.db.prepare('DELETE FROM dispatch_queue WHERE bin_id = ?');
    for (const id of binIds) del.run(id);
  }

  inOpenJob(binId: string): boolean {
    return this.inOpenJobStmt.get(binId) !== undefined;
  }

  openJobBins(): Set<string> {
    return new Set(this.openJobBinsStmt.all() as string[]);
  }

  /** A job and its stops (a job without reasons, as made before they were kept, may leave them out). */
  insert(d: Omit<Dispatch, 'stops'> & { stops?: readonly JobStop[] }): void {
    const { stops = [], ...row } = d;
    this.db
      .prepare(
        `INSERT INTO dispatches (id, zone, crew_id, status, urgent, bin_ids, created_at, sent_at, accepted_at, done_at, escalated_at, cancelled_at, error, map_url)
         VALUES (@id, @zone, @crew_id, @status, @urgent, @bin_ids, @created_at, @sent_at, @accepted_at, @done_at, @escalated_at, @cancelled_at, @error, @map_url)`,
      )
      .run({ ...row, urgent: d.urgent ? 1 : 0, bin_ids: JSON.stringify(d.bin_ids) });
    const bin = this.db.prepare('INSERT INTO dispatch_bins (dispatch_id, bin_id, reason, cause, hours_to_full) VALUES (?, ?, ?, ?, ?)');
    const why = new Map(stops.map((s) => [s.bin_id, s]));
    for (const b of d.bin_ids) bin.run(d.id, b, why.get(b)?.reason ?? null, why.get(b)?.cause ?? null, why.get(b)?.hours_to_full ?? null);
  }

  update(id: string, fields: Partial<Pick<Dispatch, 'status' | 'crew_id' | 'sent_at' | 'accepted_at' | 'done_at' | 'escalated_at' | 'cancelled_at' | 'error'>>): void {
    const keys = Object.keys(fields);
    if (keys.length === 0) return;
    this.db.prepare(`UPDATE dispatches SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...fields, id });
  }

  /** Marks a bin of open jobs as collected; returns the ids of open jobs whose bins are now all collected. */
  markCollected(binId: string, at: number): string[] {
    const jobs = this.db
      .prepare(
        `SELECT b.dispatch_id AS id FROM dispatch_bins b JOIN dispatches d ON d.id = b.dispatch_id
         WHERE b.bin_id = ? AND b.collected_at IS NULL AND d.status IN ('pending', 'sent', 'accepted', 'escalated')`,
      )
      .pluck()
      .all(binId) as string[];
    const mark = this.db.prepare('UPDATE dispatch_bins SET collected_at = ? WHERE dispatch_id = ? AND bin_id = ?');
    const left = this.db.prepare('SELECT count(*) FROM dispatch_bins WHERE dispatch_id = ? AND collected_at IS NULL').pluck();
    return jobs.filter((id) => {
      mark.run(at, id, binId);
      return (left.get(id) as number) === 0;
    });
  }

  get(id: string): Dispatch | undefined {
    const r = this.db.prepare('SELECT * FROM dispatches WHERE id = ?').get(id) as Row | undefined;
    return r && this.fromRow(r);
  }

  /** The newest open job of a crew in one of the given statuses. */
  latestOfCrew(crewId: string, statuses: readonly DispatchStatus[]): Dispatch | undefined {
    const r = this.db
      .prepare(`SELECT * FROM dispatches WHERE crew_id = ? AND status IN (${statuses.map(() => '?').join(',')}) ORDER BY created_at DESC LIMIT 1`)
      .get(crewId, ...statuses) as Row | undefined;
    return r && this.fromRow(r);
  }

  /** Newest first; `after`: the page after that job's [created_at, id]. */
  list(f: DispatchFilter = {}): Dispatch[] {
    const filters = where([
      ['status = ?', f.status],
      ['zone = ?', f.zone],
      ['crew_id = ?', f.crew],
      ['id IN (SELECT dispatch_id FROM dispatch_bins WHERE bin_id = ?)', f.bin],
    ]);
    const w = afterKey(filters, ['created_at', 'id'], f.after);
    const sql = `SELECT * FROM dispatches ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...w.args, f.limit ?? 500) as Row[]).map((r) => this.fromRow(r));
  }

  countByStatus(): { status: DispatchStatus; n: number }[] {
    return this.db.prepare('SELECT status, count(*) AS n FROM dispatches GROUP BY status').all() as { status: DispatchStatus; n: number }[];
  }

  /** Open jobs sent before the cutoff and not accepted: due for escalation. */
  unaccepted(sentBefore: number): Dispatch[] {
    return (this.db.prepare(`SELECT * FROM dispatches WHERE status = 'sent' AND sent_at <= ?`).all(sentBefore) as Row[]).map((r) => this.fromRow(r));
  }

  /** Jobs that found no crew on shift when they were made. */
  unassigned(): Dispatch[] {
    return (this.db.prepare(`SELECT * FROM dispatches WHERE status = 'pending' AND crew_id IS NULL`).all() as Row[]).map((r) => this.fromRow(r));
  }
}
