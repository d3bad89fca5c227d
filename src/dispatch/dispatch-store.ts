import type Database from 'better-sqlite3';
import type { Queryable } from '../storage/postgres/index.js';
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

/** A job to insert: the store draws its id unless one is given (tests, imports). */
export type NewJob = Omit<Dispatch, 'id' | 'stops'> & { id?: string; stops?: readonly JobStop[] };

type JobFields = Partial<Pick<Dispatch, 'status' | 'crew_id' | 'sent_at' | 'accepted_at' | 'done_at' | 'escalated_at' | 'cancelled_at' | 'error'>>;

const OPEN_SQL = `('pending', 'sent', 'accepted', 'escalated')`;
/** a fresh id is drawn this many times before the insert gives up (32^5 codes: a clash is already rare) */
const ID_TRIES = 20;
const newJobId = (): string => shortCode('J-', 5, () => false);

/**
 * Jobs (dispatches) and the bins waiting to be batched into one. Asynchronous: the same interface over SQLite (the
 * one connection, statements run at once) and PostgreSQL (shared by every instance: what two instances must not do
 * at once is ordered by the row locks `lock` and `lockZone` take, held to the end of the caller's transaction).
 */
export interface DispatchStore {
  /** Queues a bin; an urgent request upgrades a waiting one. */
  enqueue(binId: string, zone: string, at: number, urgent: boolean, reason: string, cause?: string | null): Promise<void>;
  /** Oldest first. */
  queue(): Promise<QueueEntry[]>;
  dequeue(binIds: readonly string[]): Promise<void>;
  /** True when an open job holds the bin, not yet collected. */
  inOpenJob(binId: string): Promise<boolean>;
  /** Every bin in an open job and not yet collected (one query, for planning over many bins). */
  openJobBins(): Promise<Set<string>>;
  /**
   * A job and its stops (a job without reasons, as made before they were kept, may leave them out); returns its id.
   * Without an id it draws a short code and draws again when the insert finds it taken (by another instance too).
   */
  insert(d: NewJob): Promise<string>;
  update(id: string, fields: JobFields): Promise<void>;
  /**
   * Marks a bin of open jobs as collected; returns the ids of open jobs whose bins are now all collected. The jobs
   * are locked first, so two bins of one job collected at two instances at once still finish it (exactly once).
   */
  markCollected(binId: string, at: number): Promise<string[]>;
  get(id: string): Promise<Dispatch | undefined>;
  /** The job, its row locked to the end of the transaction: an Accept, a Done, an escalation of it go one at a time. */
  lock(id: string): Promise<Dispatch | undefined>;
  /** Jobs of the zone are made one transaction at a time (held to its end), so no bin goes into two of them. */
  lockZone(zone: string): Promise<void>;
  /** The newest open job of a crew in one of the given statuses. */
  latestOfCrew(crewId: string, statuses: readonly DispatchStatus[]): Promise<Dispatch | undefined>;
  /** Newest first. */
  list(f?: DispatchFilter): Promise<Dispatch[]>;
  countByStatus(): Promise<{ status: DispatchStatus; n: number }[]>;
  /** Open jobs sent before the cutoff and not accepted: due for escalation. */
  unaccepted(sentBefore: number): Promise<Dispatch[]>;
  /** Jobs that found no crew on shift when they were made. */
  unassigned(): Promise<Dispatch[]>;
}

const queueEntry = (r: { bin_id: string; zone: string; queued_at: number; urgent: number; reason: string; cause: string | null }): QueueEntry => ({
  binId: r.bin_id,
  zone: r.zone,
  queuedAt: r.queued_at,
  urgent: r.urgent === 1,
  reason: r.reason,
  cause: r.cause,
});

/** A job from its row and its stops (stops missing for a bin: a job from before reasons were kept). */
function jobOf(r: Row, stops: readonly (JobStop & { dispatch_id?: string })[]): Dispatch {
  const binIds = JSON.parse(r.bin_ids) as string[];
  const byBin = new Map(stops.map((s) => [s.bin_id, { bin_id: s.bin_id, reason: s.reason, cause: s.cause, hours_to_full: s.hours_to_full }]));
  return { ...r, urgent: r.urgent === 1, bin_ids: binIds, stops: binIds.map((id) => byBin.get(id) ?? { bin_id: id, reason: null, cause: null, hours_to_full: null }) };
}

const JOB_COLUMNS = 'id, zone, crew_id, status, urgent, bin_ids, created_at, sent_at, accepted_at, done_at, escalated_at, cancelled_at, error, map_url';

/** Jobs and the queue in SQLite (`dispatches`, `dispatch_bins`, `dispatch_queue`); statements run at once. */
export class SqliteDispatchStore implements DispatchStore {
  private readonly stopsStmt;
  private readonly inOpenJobStmt;
  private readonly openJobBinsStmt;
  // what the rules and the collections run for every bin that fills or is emptied, prepared once
  private readonly enqueueStmt;
  private readonly dequeueStmt;
  private readonly openJobsOfBinStmt;
  private readonly markCollectedStmt;
  private readonly binsLeftStmt;

  constructor(private readonly db: Database.Database) {
    this.stopsStmt = db.prepare('SELECT bin_id, reason, cause, hours_to_full FROM dispatch_bins WHERE dispatch_id = ?');
    const open = `FROM dispatch_bins b JOIN dispatches d ON d.id = b.dispatch_id
      WHERE b.collected_at IS NULL AND d.status IN ${OPEN_SQL}`;
    this.inOpenJobStmt = db.prepare(`SELECT 1 ${open} AND b.bin_id = ? LIMIT 1`);
    this.openJobBinsStmt = db.prepare(`SELECT DISTINCT b.bin_id ${open}`).pluck();
    // an urgent request upgrades a waiting one
    this.enqueueStmt = db.prepare(
      `INSERT INTO dispatch_queue (bin_id, zone, queued_at, urgent, reason, cause) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (bin_id) DO UPDATE SET urgent = max(urgent, excluded.urgent),
         reason = CASE WHEN excluded.urgent = 1 THEN excluded.reason ELSE reason END,
         cause = CASE WHEN excluded.urgent = 1 THEN excluded.cause ELSE cause END`,
    );
    this.dequeueStmt = db.prepare('DELETE FROM dispatch_queue WHERE bin_id = ?');
    this.openJobsOfBinStmt = db.prepare(`SELECT b.dispatch_id AS id ${open} AND b.bin_id = ?`).pluck();
    this.markCollectedStmt = db.prepare('UPDATE dispatch_bins SET collected_at = ? WHERE dispatch_id = ? AND bin_id = ?');
    this.binsLeftStmt = db.prepare('SELECT count(*) FROM dispatch_bins WHERE dispatch_id = ? AND collected_at IS NULL').pluck();
  }

  private fromRow(r: Row): Dispatch {
    return jobOf(r, this.stopsStmt.all(r.id) as JobStop[]);
  }

  async enqueue(binId: string, zone: string, at: number, urgent: boolean, reason: string, cause: string | null = null): Promise<void> {
    this.enqueueStmt.run(binId, zone, at, urgent ? 1 : 0, reason, cause);
  }

  async queue(): Promise<QueueEntry[]> {
    return (this.db.prepare('SELECT bin_id, zone, queued_at, urgent, reason, cause FROM dispatch_queue ORDER BY queued_at, bin_id').all() as Parameters<typeof queueEntry>[0][]).map(queueEntry);
  }

  async dequeue(binIds: readonly string[]): Promise<void> {
    for (const id of binIds) this.dequeueStmt.run(id);
  }

  async inOpenJob(binId: string): Promise<boolean> {
    return this.inOpenJobStmt.get(binId) !== undefined;
  }

  async openJobBins(): Promise<Set<string>> {
    return new Set(this.openJobBinsStmt.all() as string[]);
  }

  async insert(d: NewJob): Promise<string> {
    const { stops = [], id: given, ...row } = d;
    const ins = this.db.prepare(
      `INSERT INTO dispatches (${JOB_COLUMNS})
       VALUES (@id, @zone, @crew_id, @status, @urgent, @bin_ids, @created_at, @sent_at, @accepted_at, @done_at, @escalated_at, @cancelled_at, @error, @map_url)
       ${given ? '' : 'ON CONFLICT (id) DO NOTHING'}`,
    );
    let id = '';
    for (let tries = 0; !id; tries++) {
      if (tries === ID_TRIES) throw new Error(`no free job id after ${ID_TRIES} draws`);
      const candidate = given ?? newJobId();
      if (ins.run({ ...row, id: candidate, urgent: d.urgent ? 1 : 0, bin_ids: JSON.stringify(d.bin_ids) }).changes === 1) id = candidate;
    }
    const bin = this.db.prepare('INSERT INTO dispatch_bins (dispatch_id, bin_id, reason, cause, hours_to_full) VALUES (?, ?, ?, ?, ?)');
    const why = new Map(stops.map((s) => [s.bin_id, s]));
    for (const b of d.bin_ids) bin.run(id, b, why.get(b)?.reason ?? null, why.get(b)?.cause ?? null, why.get(b)?.hours_to_full ?? null);
    return id;
  }

  async update(id: string, fields: JobFields): Promise<void> {
    const keys = Object.keys(fields);
    if (keys.length === 0) return;
    this.db.prepare(`UPDATE dispatches SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...fields, id });
  }

  async markCollected(binId: string, at: number): Promise<string[]> {
    // one writer at a time on SQLite: no lock to take
    const jobs = this.openJobsOfBinStmt.all(binId) as string[];
    return jobs.filter((id) => {
      this.markCollectedStmt.run(at, id, binId);
      return (this.binsLeftStmt.get(id) as number) === 0;
    });
  }

  async get(id: string): Promise<Dispatch | undefined> {
    const r = this.db.prepare('SELECT * FROM dispatches WHERE id = ?').get(id) as Row | undefined;
    return r && this.fromRow(r);
  }

  /** SQLite's transactions are one at a time already: the job as it is. */
  lock(id: string): Promise<Dispatch | undefined> {
    return this.get(id);
  }

  async lockZone(): Promise<void> {}

  async latestOfCrew(crewId: string, statuses: readonly DispatchStatus[]): Promise<Dispatch | undefined> {
    const r = this.db
      .prepare(`SELECT * FROM dispatches WHERE crew_id = ? AND status IN (${statuses.map(() => '?').join(',')}) ORDER BY created_at DESC LIMIT 1`)
      .get(crewId, ...statuses) as Row | undefined;
    return r && this.fromRow(r);
  }

  /** Newest first; `after`: the page after that job's [created_at, id]. */
  async list(f: DispatchFilter = {}): Promise<Dispatch[]> {
    const w = listWhere(f);
    const sql = `SELECT * FROM dispatches ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...w.args, f.limit ?? 500) as Row[]).map((r) => this.fromRow(r));
  }

  async countByStatus(): Promise<{ status: DispatchStatus; n: number }[]> {
    return this.db.prepare('SELECT status, count(*) AS n FROM dispatches GROUP BY status').all() as { status: DispatchStatus; n: number }[];
  }

  async unaccepted(sentBefore: number): Promise<Dispatch[]> {
    return (this.db.prepare(`SELECT * FROM dispatches WHERE status = 'sent' AND sent_at <= ?`).all(sentBefore) as Row[]).map((r) => this.fromRow(r));
  }

  async unassigned(): Promise<Dispatch[]> {
    return (this.db.prepare(`SELECT * FROM dispatches WHERE status = 'pending' AND crew_id IS NULL`).all() as Row[]).map((r) => this.fromRow(r));
  }
}

/** The listing's filters and page (SQLite's `?` placeholders; PostgreSQL numbers them). */
function listWhere(f: DispatchFilter): { sql: string; args: (string | number)[] } {
  const filters = where([
    ['status = ?', f.status],
    ['zone = ?', f.zone],
    ['crew_id = ?', f.crew],
    ['id IN (SELECT dispatch_id FROM dispatch_bins WHERE bin_id = ?)', f.bin],
  ]);
  return afterKey(filters, ['created_at', 'id'], f.after);
}

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the shared filters are written once, for both). */
function numbered(sql: string, from = 1): string {
  let n = from - 1;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Jobs and the queue in PostgreSQL, on a connection of the caller's (a transaction's client, or the pool for reads).
 * Every instance writes here: a job's row lock (`lock`, `markCollected`) orders its Accept, Done, collection and
 * escalation whichever instance they reach; a transaction-scoped advisory lock per zone (`lockZone`) orders the making
 * of its jobs; the queue is one row per bin (`ON CONFLICT`), so a bin queued at two instances waits once.
 */
export class PostgresDispatchStore implements DispatchStore {
  constructor(private readonly q: Queryable) {}

  /** Jobs from rows, their stops in one query. */
  private async jobs(rows: readonly Row[]): Promise<Dispatch[]> {
    if (rows.length === 0) return [];
    const stops = await this.q.query<JobStop & { dispatch_id: string }>(
      'SELECT dispatch_id, bin_id, reason, cause, hours_to_full FROM dispatch_bins WHERE dispatch_id = ANY($1::text[])',
      [rows.map((r) => r.id)],
    );
    const byJob = new Map<string, JobStop[]>();
    for (const s of stops.rows) byJob.set(s.dispatch_id, [...(byJob.get(s.dispatch_id) ?? []), s]);
    return rows.map((r) => jobOf(r, byJob.get(r.id) ?? []));
  }

  private async one(sql: string, values: unknown[]): Promise<Dispatch | undefined> {
    const { rows } = await this.q.query<Row>(sql, values);
    return (await this.jobs(rows))[0];
  }

  async enqueue(binId: string, zone: string, at: number, urgent: boolean, reason: string, cause: string | null = null): Promise<void> {
    await this.q.query(
      `INSERT INTO dispatch_queue (bin_id, zone, queued_at, urgent, reason, cause) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (bin_id) DO UPDATE SET urgent = GREATEST(dispatch_queue.urgent, excluded.urgent),
         reason = CASE WHEN excluded.urgent = 1 THEN excluded.reason ELSE dispatch_queue.reason END,
         cause = CASE WHEN excluded.urgent = 1 THEN excluded.cause ELSE dispatch_queue.cause END`,
      [binId, zone, at, urgent ? 1 : 0, reason, cause],
    );
  }

  async queue(): Promise<QueueEntry[]> {
    const { rows } = await this.q.query<Parameters<typeof queueEntry>[0]>('SELECT bin_id, zone, queued_at, urgent, reason, cause FROM dispatch_queue ORDER BY queued_at, bin_id');
    return rows.map(queueEntry);
  }

  async dequeue(binIds: readonly string[]): Promise<void> {
    if (binIds.length === 0) return;
    await this.q.query('DELETE FROM dispatch_queue WHERE bin_id = ANY($1::text[])', [binIds]);
  }

  async inOpenJob(binId: string): Promise<boolean> {
    const { rows } = await this.q.query(
      `SELECT 1 FROM dispatch_bins b JOIN dispatches d ON d.id = b.dispatch_id
       WHERE b.bin_id = $1 AND b.collected_at IS NULL AND d.status IN ${OPEN_SQL} LIMIT 1`,
      [binId],
    );
    return rows.length > 0;
  }

  async openJobBins(): Promise<Set<string>> {
    const { rows } = await this.q.query<{ bin_id: string }>(
      `SELECT DISTINCT b.bin_id FROM dispatch_bins b JOIN dispatches d ON d.id = b.dispatch_id
       WHERE b.collected_at IS NULL AND d.status IN ${OPEN_SQL}`,
    );
    return new Set(rows.map((r) => r.bin_id));
  }

  async insert(d: NewJob): Promise<string> {
    const { stops = [], id: given } = d;
    const values = [d.zone, d.crew_id, d.status, d.urgent ? 1 : 0, JSON.stringify(d.bin_ids), d.created_at, d.sent_at, d.accepted_at, d.done_at, d.escalated_at, d.cancelled_at, d.error, d.map_url];
    let id = '';
    for (let tries = 0; !id; tries++) {
      if (tries === ID_TRIES) throw new Error(`no free job id after ${ID_TRIES} draws`);
      const candidate = given ?? newJobId();
      // a code another instance drew at the same moment: ON CONFLICT leaves the transaction usable, draw again
      const { rows } = await this.q.query(
        `INSERT INTO dispatches (${JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ${given ? '' : 'ON CONFLICT (id) DO NOTHING'} RETURNING id`,
        [candidate, ...values],
      );
      if (rows.length === 1) id = candidate;
    }
    const why = new Map(stops.map((s) => [s.bin_id, s]));
    await this.q.query(
      `INSERT INTO dispatch_bins (dispatch_id, bin_id, reason, cause, hours_to_full)
       SELECT $1, b, r, c, h FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[]) AS u(b, r, c, h)`,
      [id, d.bin_ids, d.bin_ids.map((b) => why.get(b)?.reason ?? null), d.bin_ids.map((b) => why.get(b)?.cause ?? null), d.bin_ids.map((b) => why.get(b)?.hours_to_full ?? null)],
    );
    return id;
  }

  async update(id: string, fields: JobFields): Promise<void> {
    const keys = Object.keys(fields) as (keyof JobFields)[];
    if (keys.length === 0) return;
    await this.q.query(`UPDATE dispatches SET ${keys.map((k, i) => `${k} = $${i + 2}`).join(', ')} WHERE id = $1`, [id, ...keys.map((k) => fields[k])]);
  }

  async markCollected(binId: string, at: number): Promise<string[]> {
    // lock the open jobs that hold the bin (in id order, as everyone locks several): another bin of the same job
    // collected at another instance waits here, then counts this one's mark
    const { rows: locked } = await this.q.query<{ id: string }>(
      `SELECT d.id FROM dispatches d
       WHERE d.status IN ${OPEN_SQL} AND d.id IN (SELECT dispatch_id FROM dispatch_bins WHERE bin_id = $1 AND collected_at IS NULL)
       ORDER BY d.id FOR UPDATE`,
      [binId],
    );
    if (locked.length === 0) return [];
    const { rows: marked } = await this.q.query<{ dispatch_id: string }>(
      'UPDATE dispatch_bins SET collected_at = $1 WHERE dispatch_id = ANY($2::text[]) AND bin_id = $3 AND collected_at IS NULL RETURNING dispatch_id',
      [at, locked.map((r) => r.id), binId],
    );
    if (marked.length === 0) return [];
    const { rows: done } = await this.q.query<{ id: string }>(
      `SELECT d.id FROM dispatches d WHERE d.id = ANY($1::text[])
       AND NOT EXISTS (SELECT 1 FROM dispatch_bins b WHERE b.dispatch_id = d.id AND b.collected_at IS NULL) ORDER BY d.id`,
      [marked.map((r) => r.dispatch_id)],
    );
    return done.map((r) => r.id);
  }

  get(id: string): Promise<Dispatch | undefined> {
    return this.one('SELECT * FROM dispatches WHERE id = $1', [id]);
  }

  lock(id: string): Promise<Dispatch | undefined> {
    return this.one('SELECT * FROM dispatches WHERE id = $1 FOR UPDATE', [id]);
  }

  async lockZone(zone: string): Promise<void> {
    await this.q.query(`SELECT pg_advisory_xact_lock(hashtext('dispatch zone ' || $1))`, [zone]);
  }

  latestOfCrew(crewId: string, statuses: readonly DispatchStatus[]): Promise<Dispatch | undefined> {
    return this.one('SELECT * FROM dispatches WHERE crew_id = $1 AND status = ANY($2::text[]) ORDER BY created_at DESC LIMIT 1', [crewId, statuses]);
  }

  async list(f: DispatchFilter = {}): Promise<Dispatch[]> {
    const w = listWhere(f);
    const sql = numbered(`SELECT * FROM dispatches ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?`);
    const { rows } = await this.q.query<Row>(sql, [...w.args, f.limit ?? 500]);
    return this.jobs(rows);
  }

  async countByStatus(): Promise<{ status: DispatchStatus; n: number }[]> {
    const { rows } = await this.q.query<{ status: DispatchStatus; n: number }>('SELECT status, count(*)::int AS n FROM dispatches GROUP BY status');
    return rows;
  }

  async unaccepted(sentBefore: number): Promise<Dispatch[]> {
    const { rows } = await this.q.query<Row>(`SELECT * FROM dispatches WHERE status = 'sent' AND sent_at <= $1 ORDER BY id`, [sentBefore]);
    return this.jobs(rows);
  }

  async unassigned(): Promise<Dispatch[]> {
    const { rows } = await this.q.query<Row>(`SELECT * FROM dispatches WHERE status = 'pending' AND crew_id IS NULL ORDER BY id`);
    return this.jobs(rows);
  }
}
