import { realClock, type Clock } from '../clock.js';
import type { Db } from './database.js';
import { RowBatches } from './row-batches.js';

/**
 * Points in one row of the SQLite spool at most (newline-separated): a group commit's points go in one row or a
 * few, so the writer reads and deletes a few rows a batch instead of one per point (migration-11.ts). A batch may
 * exceed `influx.batch_size` by less than this.
 */
export const SPOOL_ROW_POINTS = 256;

/** A reading was not recorded because the spool reached its configured size (`spool.max_mb`). */
export class SpoolFullError extends Error {
  constructor(readonly bytes: number) {
    super(`spool is full (${bytes} bytes waiting for InfluxDB)`);
    this.name = 'SpoolFullError';
  }
}

export interface SpoolBatch {
  lastSeq: number;
  lines: string[];
  bytes: number;
  /** rows of the spool the batch is made of, where a row can hold many points (SQLite); absent: one per point */
  rows?: number;
}

export interface SpoolStats {
  depth: number;
  bytes: number;
  oldestMs: number | null;
  full: boolean;
}

/**
 * The durable queue between ingest and InfluxDB: line-protocol points in arrival order.
 * Points leave only when InfluxDB has accepted them (ack) or refused them as invalid (dead letter),
 * so a crash, an outage or a restart loses nothing; a replay after a crash re-sends the same
 * points with the same timestamps, which InfluxDB stores once. This is the side the rest of the program sees:
 * its size, and appending events; the table side (SpoolTable) belongs to the journal and the writer.
 */
export interface Spool {
  /** Points waiting. */
  readonly size: number;
  readonly full: boolean;
  /** Throws SpoolFullError when there is no room; call before accepting a reading. */
  assertRoom(): void;
  /** Appends points in a transaction of their own. */
  append(lines: readonly string[], nowMs?: number): void;
  /** Appends points with the next commit (inside a transaction: with it); `then` runs after that commit. */
  appendSoon(lines: readonly string[], then?: () => void): void;
  /** Commits what appendSoon holds now (at shutdown, before the writer's last flush); resolves once committed. */
  flushSoon(): void | Promise<void>;
  stats(): SpoolStats;
}

/**
 * What the InfluxDB writer needs of a spool. On SQLite the calls are synchronous (one writer per file); on PostgreSQL
 * `peek` claims the rows (`FOR UPDATE SKIP LOCKED`, so two instances' writers never take the same points), `ack` and
 * `deadLetter` end the claim, and `release` gives a batch back unwritten so that no claim is held through a pause.
 */
export interface SpoolQueue {
  /** Points waiting (on PostgreSQL: in the shared table, as last counted). */
  readonly size: number;
  stats(): SpoolStats;
  peek(limit: number): SpoolBatch | null | Promise<SpoolBatch | null>;
  ack(batch: SpoolBatch): void | Promise<void>;
  deadLetter(batch: SpoolBatch, reason: string): void | Promise<void>;
  /** Ends a claim without removing its points (absent where a batch is no claim). */
  release?(batch: SpoolBatch): Promise<void>;
  /** Counts the points again from storage, where other instances add to it too (absent where the counts are exact). */
  refresh?(): Promise<void>;
}

/** The spool's table, for the journal that fills it and the writer that drains it (in the thread that owns them). */
export interface SpoolTable extends Spool, SpoolQueue {
  /** Re-reads depth and size from storage (at start, and after a failed transaction). */
  recount(): void;
  /** Appends points; the caller runs this inside its own transaction (the journal's group commit). */
  insert(lines: readonly string[], nowMs: number): void;
  /** The oldest points, in order, without removing them. */
  peek(limit: number): SpoolBatch | null;
  /** InfluxDB accepted the batch: remove it. */
  ack(batch: SpoolBatch): void;
  /** InfluxDB refused the batch as invalid: keep it aside for an operator instead of retrying forever. */
  deadLetter(batch: SpoolBatch, reason: string): void;
  flushSoon(): void;
}

/** The spool in SQLite (`spool`, `spool_dead_letter`), its depth and size counted in memory. */
export class SqliteSpool implements SpoolTable {
  private depth = 0;
  private bytes = 0;
  /** the oldest point's time while known (null: none), undefined until read again after points left or a rollback */
  private oldest: number | null | undefined = undefined;
  private readonly inserts;
  private readonly peekStmt;
  private readonly ackStmt;
  private readonly oldestStmt;
  private readonly deadStmt;

  constructor(
    private readonly db: Db,
    private readonly maxBytes: number,
    private readonly clock: Clock = realClock,
  ) {
    this.inserts = new RowBatches(db, 3, (values) => `INSERT INTO spool (line, points, created_ms) VALUES ${values}`);
    this.peekStmt = db.prepare('SELECT seq, line, points FROM spool ORDER BY seq').raw(true);
    this.ackStmt = db.prepare('DELETE FROM spool WHERE seq <= ?');
    this.oldestStmt = db.prepare('SELECT created_ms FROM spool ORDER BY seq LIMIT 1').pluck(true);
    this.deadStmt = db.prepare(
      'INSERT OR REPLACE INTO spool_dead_letter (seq, line, points, reason, at_ms) SELECT seq, line, points, ?, ? FROM spool WHERE seq <= ?',
    );
    this.recount();
  }

  /** Re-reads depth and size from the table (at start, and after a failed transaction). */
  recount(): void {
    const row = this.db.prepare('SELECT coalesce(sum(points), 0) AS n, coalesce(sum(length(line)), 0) AS b FROM spool').get() as {
      n: number;
      b: number;
    };
    this.depth = row.n;
    this.bytes = row.b;
    this.oldest = undefined;
  }

  /** Points waiting, without touching the table. */
  get size(): number {
    return this.depth;
  }

  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** Throws SpoolFullError when there is no room; call before accepting a reading. */
  assertRoom(): void {
    if (this.full) throw new SpoolFullError(this.bytes);
  }

  /**
   * Appends points; the caller runs this inside its own transaction (the journal's group commit). They go in rows
   * of up to SPOOL_ROW_POINTS points each (a point with a newline of its own, which InfluxDB would refuse anyway,
   * in a row alone, so that every row splits back into its points), many rows to a statement (RowBatches).
   */
  insert(lines: readonly string[], nowMs: number): void {
    const rows: [string, number][] = [];
    let chunk: string[] = [];
    const close = (): void => {
      if (chunk.length > 0) rows.push([chunk.length === 1 ? chunk[0]! : chunk.join('\n'), chunk.length]);
      chunk = [];
    };
    for (const line of lines) {
      if (line.includes('\n')) {
        close();
        rows.push([line, 1]);
        continue;
      }
      chunk.push(line);
      if (chunk.length === SPOOL_ROW_POINTS) close();
    }
    close();
    const values = new Array<string | number>(3 * rows.length);
    let bytes = 0;
    rows.forEach(([text, points], i) => {
      values[3 * i] = text;
      values[3 * i + 1] = points;
      values[3 * i + 2] = nowMs;
      bytes += text.length;
    });
    this.inserts.run(values);
    // counted once every statement ran: a statement that throws leaves the counts as they were (its transaction rolls back)
    this.bytes += bytes;
    // into an empty spool: these are the oldest points (stats is asked after every commit; this spares it a query)
    if (this.depth === 0 && lines.length > 0) this.oldest = nowMs;
    this.depth += lines.length;
  }

  /** Appends points in a transaction of their own. */
  append(lines: readonly string[], nowMs = this.clock.now()): void {
    this.db.transaction(() => this.insert(lines, nowMs)).immediate();
  }

  private soon: string[] = [];
  private afterSoon: (() => void) | undefined;

  /**
   * Appends points with the next commit. Inside a transaction they join it (and go if it rolls back); otherwise
   * the points of one turn of the event loop share one commit, and `then` runs after it. Events come in bursts (a
   * webhook of 50 messages, a pass of the outbox): a commit each would be a disk flush each. A crash in that turn
   * loses them; they count events whose own records were committed.
   */
  appendSoon(lines: readonly string[], then?: () => void): void {
    if (this.db.inTransaction) {
      this.insert(lines, this.clock.now());
      then?.();
      return;
    }
    if (this.soon.length === 0) setImmediate(() => this.flushSoon());
    this.soon.push(...lines);
    this.afterSoon = then ?? this.afterSoon;
  }

  /** Commits what appendSoon holds now (at shutdown, before the writer's last flush). */
  flushSoon(): void {
    if (this.soon.length === 0 || !this.db.open) return;
    const lines = this.soon;
    this.soon = [];
    this.append(lines);
    this.afterSoon?.();
  }

  /** The oldest points, in order, without removing them: whole rows, until they hold `limit` points or more. */
  peek(limit: number): SpoolBatch | null {
    const lines: string[] = [];
    let bytes = 0;
    let rows = 0;
    let lastSeq = 0;
    for (const [seq, text, points] of this.peekStmt.iterate() as IterableIterator<[number, string, number]>) {
      if (points === 1) lines.push(text);
      else for (const line of text.split('\n')) lines.push(line);
      bytes += text.length;
      lastSeq = seq;
      rows++;
      if (lines.length >= limit) break;
    }
    return rows === 0 ? null : { lastSeq, lines, bytes, rows };
  }

  /** InfluxDB accepted the batch: remove it. */
  ack(batch: SpoolBatch): void {
    this.ackStmt.run(batch.lastSeq);
    this.left(batch);
  }

  /** InfluxDB refused the batch as invalid: keep it aside for an operator instead of retrying forever. */
  deadLetter(batch: SpoolBatch, reason: string): void {
    this.db.transaction(() => {
      this.deadStmt.run(reason.slice(0, 2000), this.clock.now(), batch.lastSeq);
      this.ackStmt.run(batch.lastSeq);
    }).immediate();
    this.left(batch);
  }

  /** A batch left the table: the counts go down, and the oldest point is read again when next asked. */
  private left(batch: SpoolBatch): void {
    this.depth -= batch.lines.length;
    this.bytes -= batch.bytes;
    this.oldest = undefined;
  }

  stats(): SpoolStats {
    if (this.oldest === undefined) this.oldest = (this.oldestStmt.get() as number | undefined) ?? null;
    return { depth: this.depth, bytes: this.bytes, oldestMs: this.oldest, full: this.full };
  }
}
