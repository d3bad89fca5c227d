import type pg from 'pg';
import type { Sealer } from '../privacy/index.js';
import type { Queryable } from '../storage/postgres/index.js';
import { PostgresUnitOfWork } from '../storage/postgres/unit-of-work.js';
import type { OutboxEntry, OutboxItem } from './outbox-item.js';
import { ID_MASK, OutboxRows, type BoundOutboxRows, type ClaimLimit, type ClaimRequest, type Claimed, type OutboxHead, type OutboxRow, type OutboxStore, type SendOutcome, type SendSeen, type SentMessage } from './outbox-store.js';
import type { DeliveryStatus } from './webhook.js';

/**
 * The first key of the advisory locks a claim takes, one per recipient (the second key is the recipient's pseudonym
 * hashed): any constant, this one spells "outb". The two-key form never meets the one-key locks of the migrations.
 */
const RECIPIENT_LOCK = 0x6f757462;
/** The first key of the one lock every claim outside a window takes, to count Meta's messaging limit alone ("outl"). */
const LIMIT_LOCK = 0x6f75746c;

/**
 * The outbox in PostgreSQL (`whatsapp_outbox`, the same table as SQLite's), shared by every instance on the database.
 *
 * - `add` dedupes by the key's pseudonym (`ON CONFLICT DO NOTHING`): the same decision on two instances is one message.
 * - `claim` is one transaction: it first takes, without waiting, an advisory lock per recipient (another instance
 *   claiming for the same recipient holds it: skipped), then, on a snapshot that sees every claim committed before,
 *   moves the heads to `sending` with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, only those
 *   still at the attempt that was read, due, and of a recipient with nothing on the wire. So two instances never put
 *   the same message on the wire, and one recipient never has two.
 * - `record` lands only on the attempt it reports (the claim is the attempt number): a claim that was recovered as
 *   stale and claimed again elsewhere is no longer this instance's to record.
 * - `recoverInterrupted(claimedBefore)` frees only claims older than the outbox's stale bound, so it never takes a
 *   message from a live instance that is still sending it.
 *
 * `pool` is asked for at each call: the store's room connects after the rooms are built.
 */
export class PostgresOutboxStore implements OutboxStore {
  readonly shared = true;
  readonly local = null;
  private readonly rows: OutboxRows;

  constructor(
    private readonly pool: () => pg.Pool,
    sealer: Sealer,
  ) {
    this.rows = new OutboxRows(sealer);
  }

  private unit: { pool: pg.Pool; work: PostgresUnitOfWork<pg.PoolClient> } | null = null;

  /** The claims' transactions: the unit of work over the pool (its BEGIN/COMMIT/ROLLBACK and broken connections). */
  private work(): PostgresUnitOfWork<pg.PoolClient> {
    const pool = this.pool();
    if (this.unit?.pool !== pool) this.unit = { pool, work: new PostgresUnitOfWork(pool, (client) => client) };
    return this.unit.work;
  }

  private async query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.pool().query<R>(sql, values);
  }

  async add(item: OutboxEntry, to: string, now: number): Promise<{ id: number; created: boolean }> {
    return this.addOn(this.pool(), item, to, now);
  }

  /** The rows as a caller's transaction sees them: what it adds commits (or not) with its own writes. */
  bound(client: Queryable | null): BoundOutboxRows {
    if (!client) throw new Error('the PostgreSQL outbox is bound to a PostgreSQL transaction, not to SQLite');
    return { add: (item, to, now) => this.addOn(client, item, to, now), unfinished: (ids) => this.unfinishedOn(client, ids) };
  }

  private async addOn(q: Queryable, item: OutboxEntry, to: string, now: number): Promise<{ id: number; created: boolean }> {
    const values = this.rows.sealNew(item, to, now);
    const inserted = await q.query<{ id: number }>(
      `INSERT INTO whatsapp_outbox (key_tag, key_sealed, ref_sealed, recipient_tag, recipient_sealed, kind, message_sealed, fallback_sealed, created_ms, priority)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key_tag) DO NOTHING RETURNING id`,
      values,
    );
    if (inserted.rows.length > 0) return { id: inserted.rows[0]!.id, created: true };
    // another commit holds the key (READ COMMITTED: this statement sees it once the conflict was decided)
    const found = await q.query<{ id: number }>('SELECT id FROM whatsapp_outbox WHERE key_tag = $1', [values[0]]);
    return { id: found.rows[0]!.id, created: false };
  }

  async heads(limit: number): Promise<OutboxHead[]> {
    const { rows } = await this.query<OutboxRow>(
      `SELECT o.* FROM (
         SELECT min(CASE WHEN status = 'pending' THEN (priority::bigint << 40) | id END) AS k FROM whatsapp_outbox
         WHERE status IN ('pending', 'sending') GROUP BY recipient_tag HAVING NOT bool_or(status = 'sending')
       ) h JOIN whatsapp_outbox o ON o.id = (h.k & ${ID_MASK}) ORDER BY h.k LIMIT $1`,
      [limit],
    );
    return rows.map((r) => this.rows.head(r));
  }

  async claim(heads: readonly ClaimRequest[], now: number, limit?: ClaimLimit): Promise<Claimed> {
    if (heads.length === 0) return { claimed: [], limited: [] };
    return this.work().tx(async (client) => {
      const ids = heads.map((h) => h.id);
      // the recipients of these heads whose lock this transaction got; a recipient another instance is claiming
      // for right now is left to it (nobody waits for these locks, so two claims never wait on each other)
      const { rows: locked } = await client.query<{ tag: string }>(
        `SELECT tag FROM (SELECT DISTINCT recipient_tag AS tag FROM whatsapp_outbox WHERE id = ANY($1::bigint[])) r
          WHERE pg_try_advisory_xact_lock(${RECIPIENT_LOCK}, hashtext(tag))`,
        [ids],
      );
      const result: Claimed = { claimed: [], limited: [] };
      if (locked.length > 0) {
        let wanted = heads;
        if (limit && limit.users < Infinity && heads.some((h) => h.initiated)) {
          wanted = await this.withinLimit(client, heads, new Set(locked.map((l) => l.tag)), now, limit, result.limited);
        }
        // a new statement, a new snapshot: it sees every claim committed before the locks above were granted
        const { rows } = await client.query<{ id: number }>(
          `UPDATE whatsapp_outbox o SET status = 'sending', attempts = o.attempts + 1, last_attempt_ms = $4, waiting_for = NULL,
                  initiated = CASE WHEN w.initiated THEN 1 ELSE o.initiated END
             FROM unnest($1::bigint[], $2::int[], $5::boolean[]) AS w(id, attempts, initiated)
            WHERE o.id = w.id AND o.attempts = w.attempts AND o.status = 'pending' AND o.next_attempt_ms <= $4
              AND o.recipient_tag = ANY($3::text[])
              AND o.id IN (SELECT id FROM whatsapp_outbox WHERE id = ANY($1::bigint[]) FOR UPDATE SKIP LOCKED)
              AND NOT EXISTS (SELECT 1 FROM whatsapp_outbox s WHERE s.recipient_tag = o.recipient_tag AND s.status = 'sending')
            RETURNING o.id`,
          [wanted.map((h) => h.id), wanted.map((h) => h.attempts), locked.map((l) => l.tag), now, wanted.map((h) => !!h.initiated)],
        );
        result.claimed = rows.map((r) => r.id);
      }
      return result;
    });
  }

  /**
   * The heads that fit Meta's messaging limit across every instance: under one lock for all claims that go outside a
   * window (held to the commit), the users counted now are those reached outside their window within `windowMs` and
   * those with such a message on the wire (claimed `initiated`); an initiated head to a user not counted takes a free
   * slot, in the heads' order (most urgent first), or is `limited`.
   */
  private async withinLimit(client: pg.PoolClient, heads: readonly ClaimRequest[], locked: Set<string>, now: number, limit: ClaimLimit, limited: number[]): Promise<ClaimRequest[]> {
    await client.query(`SELECT pg_advisory_xact_lock(${LIMIT_LOCK}, 0)`);
    const { rows: tags } = await client.query<{ id: number; tag: string }>('SELECT id, recipient_tag AS tag FROM whatsapp_outbox WHERE id = ANY($1::bigint[])', [
      heads.map((h) => h.id),
    ]);
    const tagOf = new Map(tags.map((t) => [t.id, t.tag]));
    const counted = `initiated = 1 AND (status = 'sending' OR sent_ms > $1)`;
    const { rows: used } = await client.query<{ n: number }>(`SELECT count(DISTINCT recipient_tag)::int AS n FROM whatsapp_outbox WHERE ${counted}`, [now - limit.windowMs]);
    const { rows: known } = await client.query<{ tag: string }>(`SELECT DISTINCT recipient_tag AS tag FROM whatsapp_outbox WHERE ${counted} AND recipient_tag = ANY($2::text[])`, [
      now - limit.windowMs,
      [...locked],
    ]);
    const reached = new Set(known.map((k) => k.tag));
    let room = limit.users - used[0]!.n;
    return heads.filter((h) => {
      const tag = tagOf.get(h.id);
      if (!h.initiated || tag === undefined || !locked.has(tag) || reached.has(tag)) return true;
      if (room > 0) {
        room--;
        reached.add(tag);
        return true;
      }
      limited.push(h.id);
      return false;
    });
  }

  async record(id: number, attempts: number, o: SendOutcome, also?: () => void): Promise<boolean> {
    // the attempt it reports, not finished yet: `sending`, or `pending` when recovered as stale and not claimed again
    const mine = 'id = $1 AND attempts = $2 AND status IN (\'pending\', \'sending\')';
    // a refused attempt frees the slot its claim took under the messaging limit, unless an earlier send counts
    const unCounted = 'initiated = CASE WHEN sent_ms IS NULL THEN 0 ELSE initiated END';
    let result: pg.QueryResult;
    switch (o.status) {
      case 'sent':
        result = await this.query(
          `UPDATE whatsapp_outbox SET status = 'sent', wamid_tag = $3, wamid_sealed = $4, sent_ms = $5, initiated = $6, error_code = NULL, error_message = NULL,
             delivery_status = NULL, delivery_ms = NULL, delivery_errors = NULL WHERE ${mine}`,
          [id, attempts, this.rows.pseudonym(o.wamid), this.rows.seal(o.wamid), o.at, o.initiated ? 1 : 0],
        );
        break;
      case 'retry':
        result = await this.query(`UPDATE whatsapp_outbox SET status = 'pending', next_attempt_ms = $3, error_code = $4, error_message = $5, ${unCounted} WHERE ${mine}`, [
          id,
          attempts,
          o.at,
          o.code,
          o.message,
        ]);
        break;
      case 'fallback':
        result = await this.query(
          `UPDATE whatsapp_outbox SET status = 'pending', used_fallback = 1, next_attempt_ms = 0, error_code = $3, error_message = $4, ${unCounted} WHERE ${mine}`,
          [id, attempts, o.code, o.message],
        );
        break;
      case 'failed':
        result = await this.query(`UPDATE whatsapp_outbox SET status = 'failed', error_code = $3, error_message = $4, ${unCounted} WHERE ${mine}`, [
          id,
          attempts,
          o.code,
          o.message,
        ]);
        break;
    }
    if (result.rowCount !== 1) return false;
    also?.();
    return true;
  }

  async hold(id: number, reason: string): Promise<void> {
    await this.query(`UPDATE whatsapp_outbox SET waiting_for = $1 WHERE id = $2 AND status = 'pending'`, [reason, id]);
  }

  async useFallback(id: number, code: number, message: string): Promise<void> {
    await this.query(`UPDATE whatsapp_outbox SET status = 'pending', used_fallback = 1, next_attempt_ms = 0, error_code = $1, error_message = $2 WHERE id = $3`, [
      code,
      message,
      id,
    ]);
  }

  async recoverInterrupted(claimedBefore: number): Promise<number> {
    const { rowCount } = await this.query(`UPDATE whatsapp_outbox SET status = 'pending', initiated = CASE WHEN sent_ms IS NULL THEN 0 ELSE initiated END WHERE status = 'sending' AND last_attempt_ms < $1`, [claimedBefore]);
    return rowCount ?? 0;
  }

  async recentSends(since: number): Promise<{ recipient: string; at: number }[]> {
    const { rows } = await this.query<{ recipient: string; at: number }>(
      'SELECT recipient_tag AS recipient, max(last_attempt_ms) AS at FROM whatsapp_outbox WHERE last_attempt_ms > $1 GROUP BY recipient_tag',
      [since],
    );
    return rows;
  }

  async sendsSince(since: number): Promise<SendSeen[]> {
    const { rows } = await this.query<SendSeen>(
      'SELECT id, attempts, recipient_tag AS recipient, last_attempt_ms AS at FROM whatsapp_outbox WHERE last_attempt_ms > $1 ORDER BY last_attempt_ms',
      [since],
    );
    return rows;
  }

  async recentInitiated(since: number): Promise<{ recipient: string; at: number }[]> {
    const { rows } = await this.query<{ recipient: string; at: number }>(
      'SELECT recipient_tag AS recipient, max(sent_ms) AS at FROM whatsapp_outbox WHERE initiated = 1 AND sent_ms > $1 GROUP BY recipient_tag ORDER BY at',
      [since],
    );
    return rows;
  }

  async unfinished(ids: readonly number[]): Promise<number> {
    return this.unfinishedOn(this.pool(), ids);
  }

  private async unfinishedOn(q: Queryable, ids: readonly number[]): Promise<number> {
    const { rows } = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM whatsapp_outbox WHERE status IN ('pending', 'sending') AND id = ANY($1::bigint[])`, [
      [...ids],
    ]);
    return rows[0]!.n;
  }

  async backlog(): Promise<number> {
    const { rows } = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM whatsapp_outbox WHERE status IN ('pending', 'sending')`);
    return rows[0]!.n;
  }

  async byWamid(wamid: string): Promise<SentMessage | undefined> {
    const { rows } = await this.query<OutboxRow>('SELECT * FROM whatsapp_outbox WHERE wamid_tag = $1', [this.rows.pseudonym(wamid)]);
    return rows[0] ? this.rows.sent(rows[0]) : undefined;
  }

  async delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): Promise<void> {
    await this.query('UPDATE whatsapp_outbox SET delivery_status = $1, delivery_ms = $2, delivery_errors = $3 WHERE id = $4', [status, at, errors, id]);
  }

  async get(id: number): Promise<OutboxItem | null> {
    const { rows } = await this.query<OutboxRow>('SELECT * FROM whatsapp_outbox WHERE id = $1', [id]);
    return rows[0] ? this.rows.item(rows[0]) : null;
  }

  async list(opts: { limit: number; to?: string | undefined; before: number }): Promise<OutboxItem[]> {
    const { rows } =
      opts.to === undefined
        ? await this.query<OutboxRow>('SELECT * FROM whatsapp_outbox WHERE id < $1 ORDER BY id DESC LIMIT $2', [opts.before, opts.limit])
        : await this.query<OutboxRow>('SELECT * FROM whatsapp_outbox WHERE recipient_tag = $1 AND id < $2 ORDER BY id DESC LIMIT $3', [
            this.rows.pseudonym(opts.to),
            opts.before,
            opts.limit,
          ]);
    return rows.map((r) => this.rows.item(r));
  }
}
