import type pg from 'pg';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import { SpoolFullError, type Spool, type SpoolBatch, type SpoolQueue, type SpoolStats } from '../spool.js';

/** The pool once the store room started it (the rooms are built before they start). */
export type PoolSource = () => pg.Pool;

/** A batch claimed by this instance: its rows stay locked by the claim's transaction until ack, dead letter or release. */
interface Claim extends SpoolBatch {
  seqs: number[];
  client: pg.PoolClient;
}

export interface PostgresSpoolOptions {
  maxBytes: number;
  clock: Clock;
  log: Logger;
  /**
   * How long a claim may sit idle in its transaction before the server ends it (idle_in_transaction_session_timeout):
   * a writer that hangs with a claim (its process stopped, not dead) gives the points back after this. A writer that
   * dies gives them back at once, with its connection.
   */
  claimStaleMs?: number;
  /** the shared table is counted again at most this often (the writer asks before each batch) */
  countEveryMs?: number;
  /** counts the claims that found the oldest points held by another writer */
  metrics?: { spoolClaimConflicts: { inc(): void } };
}

/**
 * The spool in PostgreSQL's `spool` table, shared by every instance on the database. The journal inserts a group's
 * points in its commit (`insertIn`); any instance's writer claims the oldest points no other writer holds
 * (`SELECT … FOR UPDATE SKIP LOCKED` in a transaction kept open while InfluxDB is written) and deletes them in that
 * transaction once InfluxDB accepted them, so no two writers send the same points and no point is left behind: an
 * instance that dies mid-write drops its connection, the server rolls its claim back and the rows are free for the
 * others at once. A claim is held for one write attempt only, never through a retry's pause. A batch written whose
 * delete did not commit is written again later; InfluxDB stores one point per series, tags and time, so the second
 * write changes nothing. Depth and size are those of the whole table (all instances'), counted at most every
 * `countEveryMs` and kept up to date with this instance's own inserts and deletes in between; `spool.max_mb` refuses
 * readings against that total, as on SQLite.
 */
export class PostgresSpool implements Spool, SpoolQueue {
  private depth = 0;
  private bytes = 0;
  private oldest: number | null = null;
  private countedAt = -Infinity;
  private counting: Promise<void> | null = null;
  private readonly claims = new Set<Claim>();
  private soon: string[] = [];
  private afterSoon: (() => void) | undefined;
  private appending: Promise<void> = Promise.resolve();
  private readonly staleMs: number;
  private readonly countEveryMs: number;

  constructor(
    private readonly pool: PoolSource,
    private readonly opts: PostgresSpoolOptions,
  ) {
    this.staleMs = opts.claimStaleMs ?? 60_000;
    this.countEveryMs = opts.countEveryMs ?? 1_000;
  }

  get size(): number {
    return this.depth;
  }

  get full(): boolean {
    return this.bytes >= this.opts.maxBytes;
  }

  assertRoom(): void {
    if (this.full) throw new SpoolFullError(this.bytes);
  }

  stats(): SpoolStats {
    return { depth: this.depth, bytes: this.bytes, oldestMs: this.oldest, full: this.full };
  }

  /** Counts the shared table (every instance's points), unless it was counted less than `countEveryMs` ago. */
  refresh(force = false): Promise<void> {
    if (!force && this.opts.clock.now() - this.countedAt < this.countEveryMs) return Promise.resolve();
    this.counting ??= (async () => {
      try {
        const { rows } = await this.pool().query<{ n: number; b: number; oldest: number | null }>(
          'SELECT count(*)::bigint AS n, coalesce(sum(length(line)), 0)::bigint AS b, min(created_ms) AS oldest FROM spool',
        );
        this.depth = rows[0]!.n;
        this.bytes = rows[0]!.b;
        this.oldest = rows[0]!.oldest;
        this.countedAt = this.opts.clock.now();
      } finally {
        this.counting = null;
      }
    })();
    return this.counting;
  }

  /** Inserts points in the caller's transaction (the journal's group commit), in their order. */
  async insertIn(client: pg.ClientBase | pg.Pool, lines: readonly string[], nowMs: number): Promise<void> {
    if (lines.length === 0) return;
    await client.query('INSERT INTO spool (line, created_ms) SELECT line, $2 FROM unnest($1::text[]) WITH ORDINALITY AS u (line, i) ORDER BY i', [lines, nowMs]);
  }

  /** After the caller's transaction committed: its points count (until the next count of the table). */
  noteInserted(lines: readonly string[], nowMs: number): void {
    this.depth += lines.length;
    for (const line of lines) this.bytes += line.length;
    this.oldest ??= nowMs;
  }

  /** Appends points in a transaction of their own, after those appended before; a failure is logged (events, not readings). */
  append(lines: readonly string[], nowMs = this.opts.clock.now()): void {
    void this.appendNow(lines, nowMs);
  }

  private appendNow(lines: readonly string[], nowMs: number, then?: () => void): Promise<void> {
    const list = [...lines];
    this.appending = this.appending.then(async () => {
      try {
        await this.insertIn(this.pool(), list, nowMs);
        this.noteInserted(list, nowMs);
        then?.();
      } catch (err) {
        this.opts.log.error({ err, points: list.length }, 'could not spool telemetry points; they are lost');
      }
    });
    return this.appending;
  }

  /** The points of one turn share one insert; `then` runs after it committed. */
  appendSoon(lines: readonly string[], then?: () => void): void {
    if (this.soon.length === 0) setImmediate(() => void this.flushSoon());
    for (const l of lines) this.soon.push(l);
    this.afterSoon = then ?? this.afterSoon;
  }

  /** Inserts what appendSoon holds now; resolves once every append so far committed (or failed). */
  flushSoon(): Promise<void> {
    if (this.soon.length > 0) {
      const lines = this.soon;
      this.soon = [];
      void this.appendNow(lines, this.opts.clock.now(), this.afterSoon);
    }
    return this.appending;
  }

  /**
   * Claims the oldest points no other writer holds, in order, and keeps them locked until ack, deadLetter or
   * release. null when there are none to claim (the table is empty, or the other writers hold all of it).
   */
  async peek(limit: number): Promise<SpoolBatch | null> {
    const client = await this.pool().connect();
    let broken: Error | undefined;
    // from here on: a connection that breaks while checked out (the server went away) fails the statement in flight
    // or the claim's next one, instead of ending the process with an uncaught 'error' event
    client.on('error', noop);
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.round(this.staleMs))}`);
      // `first`, the oldest point whether claimed or not, in the same statement: a claim that starts after it passed
      // points another writer holds (a conflict; both writers still make progress, on different points)
      const { rows: found } = await client.query<{ seq: number | null; line: string | null; first: number | null }>(
        `SELECT c.seq, c.line, f.first FROM (SELECT min(seq) AS first FROM spool) f
           LEFT JOIN LATERAL (SELECT seq, line FROM spool ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) c ON true ORDER BY c.seq`,
        [limit],
      );
      const first = found[0]?.first ?? null;
      const rows = found.filter((r): r is { seq: number; line: string; first: number | null } => r.seq !== null);
      // this instance's own claims aside (the writer holds one at a time; a second would pass its own points)
      if (first !== null && this.claims.size === 0 && (rows.length === 0 || rows[0]!.seq > first)) this.opts.metrics?.spoolClaimConflicts.inc();
      if (rows.length === 0) {
        await client.query('COMMIT');
        // nothing this writer can take (none left, or other writers hold it all): counted again at the next refresh
        this.countedAt = -Infinity;
        client.off('error', noop);
        client.release();
        return null;
      }
      let bytes = 0;
      const lines = rows.map((r) => {
        bytes += r.line.length;
        return r.line;
      });
      const claim: Claim = { lastSeq: rows[rows.length - 1]!.seq, lines, bytes, seqs: rows.map((r) => r.seq), client };
      this.claims.add(claim);
      return claim;
    } catch (err) {
      broken = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', noop);
      client.release(broken);
      throw err;
    }
  }

  /** InfluxDB accepted the batch: its rows are deleted and the claim commits. */
  async ack(batch: SpoolBatch): Promise<void> {
    await this.finish(batch, async (c) => {
      await c.client.query('DELETE FROM spool WHERE seq = ANY($1::bigint[])', [c.seqs]);
    });
  }

  /** InfluxDB refused the batch as invalid: its rows move to spool_dead_letter in the claim's transaction. */
  async deadLetter(batch: SpoolBatch, reason: string): Promise<void> {
    await this.finish(batch, async (c) => {
      await c.client.query('INSERT INTO spool_dead_letter (seq, line, reason, at_ms) SELECT seq, line, $2, $3 FROM spool WHERE seq = ANY($1::bigint[]) ON CONFLICT (seq) DO UPDATE SET line = excluded.line, reason = excluded.reason, at_ms = excluded.at_ms', [
        c.seqs,
        reason.slice(0, 2000),
        this.opts.clock.now(),
      ]);
      await c.client.query('DELETE FROM spool WHERE seq = ANY($1::bigint[])', [c.seqs]);
    });
  }

  /** Gives the batch back unwritten: the claim rolls back and another writer may take its points. */
  async release(batch: SpoolBatch): Promise<void> {
    const c = this.claimOf(batch);
    if (!c) return;
    this.claims.delete(c);
    let broken: Error | undefined;
    try {
      await c.client.query('ROLLBACK');
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      c.client.off('error', noop);
      c.client.release(broken);
    }
  }

  /** Rolls back the claims still open (at shutdown, after the writer stopped), so the pool can end. */
  async close(): Promise<void> {
    await this.flushSoon();
    await Promise.all([...this.claims].map((c) => this.release(c).catch(() => undefined)));
  }

  private claimOf(batch: SpoolBatch): Claim | undefined {
    return this.claims.has(batch as Claim) ? (batch as Claim) : undefined;
  }

  private async finish(batch: SpoolBatch, work: (c: Claim) => Promise<void>): Promise<void> {
    const c = this.claimOf(batch);
    if (!c) throw new Error('spool batch is not claimed (its claim was released or ended)');
    this.claims.delete(c);
    let broken: Error | undefined;
    try {
      await work(c);
      await c.client.query('COMMIT');
    } catch (err) {
      broken = err as Error;
      await c.client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.client.off('error', noop);
      c.client.release(broken);
    }
    this.depth = Math.max(0, this.depth - c.lines.length);
    this.bytes = Math.max(0, this.bytes - c.bytes);
  }
}

// a claim's connection that breaks (the server ended an idle claim, or went away) fails its next statement instead
const noop = (): void => undefined;
