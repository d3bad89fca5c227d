import type { Sealer } from '../privacy/index.js';
import type { Pool, PoolClient } from '../storage/postgres/index.js';
import { touchPostgresContacts } from './contacts.js';
import { endOnce, type GroupStep, type InboxStore, type PendingInbound, type PruneCounts, type RecordedItems, type StepOutcome } from './inbox-store.js';
import type { InboundMessage, StatusUpdate } from './webhook.js';

/**
 * The first key of the inbox's transaction-level advisory locks (two-key form: its own key space, apart from the
 * one-key locks of migrations); the second is a body digest's hash, or STATUS_LOCK.
 */
const LOCK_CLASS = 0x1b0c5;
const STATUS_LOCK = 0;

interface MessageRow {
  seq: number;
  body_sealed: Buffer;
  attempts: number;
  message_tag: string;
  sender_tag: string;
}

/**
 * The inbox in PostgreSQL, shared by every instance on the database (the tables of migration 1, as on SQLite).
 *
 * - Recording: a group of deliveries in one transaction. It first takes an advisory lock per body digest (sorted,
 *   so two instances never wait for each other in a circle), so the same bytes posted to two instances at once are
 *   recorded by one; the other waits, then finds them recorded (a repeat). Messages and statuses go in with
 *   `INSERT … ON CONFLICT DO NOTHING RETURNING`: the unique message id (or id and status) decides who has one.
 * - Handling: `nextMessage` claims a row with `SELECT … FOR UPDATE SKIP LOCKED` in a transaction held open while
 *   the handlers run, and only the oldest waiting message of a sender, so a resident's messages are handled one
 *   after the other whichever instance takes them. The claim ends with the row's update and COMMIT; an instance
 *   that dies drops its connection, the server rolls back, and another instance takes the message at its next look.
 * - Statuses: applied under one advisory lock, in arrival order, marked done in the applying transaction.
 */
export class PostgresInboxStore implements InboxStore {
  readonly shared = true;

  constructor(
    private readonly pool: Pool,
    private readonly sealer: Sealer,
  ) {}

  bodyTag(rawBody: Buffer): string {
    return this.sealer.digest(rawBody);
  }

  async hasBody(bodyTag: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM whatsapp_webhook_deliveries WHERE body_tag = $1', [bodyTag]);
    return (rowCount ?? 0) > 0;
  }

  record(steps: readonly GroupStep[], now: number): Promise<StepOutcome[]> {
    return this.transaction(async (client) => {
      for (const tag of [...new Set(steps.map((s) => s.bodyTag))].sort()) {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, tag]);
      }
      const out: StepOutcome[] = [];
      for (const step of steps) out.push(await this.step(client, step, now));
      return out;
    });
  }

  private async step(client: PoolClient, step: GroupStep, now: number): Promise<StepOutcome> {
    let id = step.deliveryId;
    if (id === undefined) {
      const known = await client.query('SELECT 1 FROM whatsapp_webhook_deliveries WHERE body_tag = $1', [step.bodyTag]);
      if ((known.rowCount ?? 0) > 0) return { deliveryId: null, recorded: { fresh: [], statuses: 0, duplicates: 0 } };
      const body = step.rawBody === null ? Buffer.alloc(0) : this.sealer.seal(step.rawBody);
      const { rows } = await client.query<{ id: number }>('INSERT INTO whatsapp_webhook_deliveries (received_ms, body_sealed) VALUES ($1, $2) RETURNING id', [now, body]);
      id = rows[0]!.id;
    }
    const recorded = await this.recordItems(client, id, step, now);
    if (step.close) {
      // another instance may have recorded the same bytes whole meanwhile (a long body, posted to both): one digest is enough
      await client.query(
        `UPDATE whatsapp_webhook_deliveries SET body_tag = $1 WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM whatsapp_webhook_deliveries WHERE body_tag = $1)`,
        [step.bodyTag, id],
      );
    }
    return { deliveryId: id, recorded };
  }

  /** One statement per table for the whole slice (a round trip each, not one per element). */
  private async recordItems(client: PoolClient, deliveryId: number, step: GroupStep, now: number): Promise<RecordedItems> {
    const seal = this.sealer;
    const out: RecordedItems = { fresh: [], statuses: 0, duplicates: 0 };
    const { messages, statuses } = step.items;
    if (messages.length > 0) {
      const tags = messages.map((m) => seal.pseudonym(m.id));
      const { rows } = await client.query<{ message_tag: string }>(
        `INSERT INTO whatsapp_inbound (message_tag, delivery_id, sender_tag, type, timestamp_ms, body_sealed, received_ms)
         SELECT m.tag, $2, m.sender, m.type, m.ts, m.body, $3
           FROM unnest($1::text[], $4::text[], $5::text[], $6::bigint[], $7::bytea[]) WITH ORDINALITY AS m(tag, sender, type, ts, body, n)
          ORDER BY m.n
         ON CONFLICT (message_tag) DO NOTHING RETURNING message_tag`,
        [tags, deliveryId, now, messages.map((m) => seal.pseudonym(m.from)), messages.map((m) => m.type), messages.map((m) => m.timestamp), messages.map((m) => seal.seal(JSON.stringify(m)))],
      );
      // the same id twice in one slice: the first is new, the second a duplicate
      const inserted = new Set(rows.map((r) => r.message_tag));
      messages.forEach((m, i) => {
        if (inserted.delete(tags[i]!)) out.fresh.push(m);
        else out.duplicates++;
      });
      // the window counts from the user's message, but a clock skewed into the future must not stretch it
      const last = new Map<string, number>();
      for (const m of messages) {
        const tag = seal.pseudonym(m.from);
        last.set(tag, Math.max(last.get(tag) ?? 0, Math.round(Math.min(m.timestamp, now))));
      }
      await touchPostgresContacts(client, last);
    }
    if (statuses.length > 0) {
      const recipients = statuses.map((s) => seal.pseudonym(s.recipient));
      const { rowCount } = await client.query(
        `INSERT INTO whatsapp_statuses (wamid_tag, status, timestamp_ms, recipient_tag, body_sealed, received_ms)
         SELECT s.wamid, s.status, s.ts, s.recipient, s.body, $6
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[]) WITH ORDINALITY AS s(wamid, status, ts, recipient, body, n)
          ORDER BY s.n
         ON CONFLICT (wamid_tag, status) DO NOTHING`,
        [
          statuses.map((s) => seal.pseudonym(s.wamid)),
          statuses.map((s) => s.status),
          statuses.map((s) => s.timestamp),
          recipients,
          statuses.map((s, i) => seal.seal(JSON.stringify({ ...s, recipient: recipients[i]! } satisfies StatusUpdate))),
          now,
        ],
      );
      out.statuses = rowCount ?? 0;
      out.duplicates += statuses.length - out.statuses;
    }
    return out;
  }

  async nextMessage(): Promise<PendingInbound | undefined> {
    const claim = await this.begin();
    let row: MessageRow | undefined;
    try {
      // a later message of a sender whose earlier one is claimed elsewhere is not taken: that earlier one is still
      // pending, so the NOT EXISTS excludes it; the claimed one itself is skipped, not waited for
      const { rows } = await claim.client.query<MessageRow>(
        `SELECT seq, body_sealed, attempts, message_tag, sender_tag FROM whatsapp_inbound i
          WHERE state = 'pending'
            AND NOT EXISTS (SELECT 1 FROM whatsapp_inbound e WHERE e.sender_tag = i.sender_tag AND e.state = 'pending' AND e.seq < i.seq)
          ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      row = rows[0];
    } catch (err) {
      await claim.end(err);
      throw err;
    }
    if (!row) {
      await claim.end(null);
      return undefined;
    }
    const { seq, body_sealed: body } = row;
    const ends = endOnce(async (how, error, now) => {
      try {
        if (how === 'processed') {
          await claim.client.query(`UPDATE whatsapp_inbound SET state = 'processed', attempts = attempts + 1, error = NULL, processed_ms = $1 WHERE seq = $2`, [now, seq]);
        } else if (how === 'attempted') {
          await claim.client.query('UPDATE whatsapp_inbound SET attempts = attempts + 1, error = $1 WHERE seq = $2', [error, seq]);
        } else {
          await claim.client.query(`UPDATE whatsapp_inbound SET state = 'failed', attempts = attempts + 1, error = $1, processed_ms = $2 WHERE seq = $3`, [error, now, seq]);
        }
      } catch (err) {
        await claim.end(err);
        throw err;
      }
      await claim.end(null);
    });
    return {
      seq,
      attempts: row.attempts,
      messageTag: row.message_tag,
      senderTag: row.sender_tag,
      open: () => JSON.parse(this.sealer.openText(body)) as InboundMessage,
      ...ends,
    };
  }

  takeStatuses(limit: number, apply: (open: () => StatusUpdate) => unknown): Promise<number> {
    return this.transaction(async (client) => {
      // one instance at a time, so statuses are applied in arrival order; the other waits for this batch, then
      // finds what is left
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, STATUS_LOCK]);
      const { rows } = await client.query<{ seq: number; body_sealed: Buffer }>(
        `SELECT seq, body_sealed FROM whatsapp_statuses WHERE state = 'pending' ORDER BY seq LIMIT $1`,
        [limit],
      );
      for (const r of rows) await apply(() => JSON.parse(this.sealer.openText(r.body_sealed)) as StatusUpdate);
      if (rows.length > 0) await client.query(`UPDATE whatsapp_statuses SET state = 'processed' WHERE seq = ANY($1::bigint[])`, [rows.map((r) => r.seq)]);
      return rows.length;
    });
  }

  prune(bodiesBefore: number, rowsBefore: number): Promise<PruneCounts> {
    const pendingIn = `id IN (SELECT delivery_id FROM whatsapp_inbound WHERE state = 'pending')`;
    return this.transaction(async (client) => {
      const run = async (sql: string, ...args: number[]) => (await client.query(sql, args)).rowCount ?? 0;
      const bodies =
        (await run(`UPDATE whatsapp_inbound SET body_sealed = '\\x' WHERE state != 'pending' AND processed_ms < $1 AND octet_length(body_sealed) > 0`, bodiesBefore)) +
        (await run(`UPDATE whatsapp_statuses SET body_sealed = '\\x' WHERE state != 'pending' AND received_ms < $1 AND octet_length(body_sealed) > 0`, bodiesBefore)) +
        (await run(`UPDATE whatsapp_webhook_deliveries SET body_sealed = '\\x' WHERE received_ms < $1 AND octet_length(body_sealed) > 0 AND NOT ${pendingIn}`, bodiesBefore));
      return {
        bodies,
        messages: await run(`DELETE FROM whatsapp_inbound WHERE state != 'pending' AND received_ms < $1 AND processed_ms < $2`, rowsBefore, bodiesBefore),
        statuses: await run(`DELETE FROM whatsapp_statuses WHERE state != 'pending' AND received_ms < $1`, rowsBefore),
        deliveries: await run(`DELETE FROM whatsapp_webhook_deliveries WHERE received_ms < $1 AND NOT ${pendingIn}`, rowsBefore),
      };
    });
  }

  async backlog(): Promise<{ pending: number; failed: number }> {
    const { rows } = await this.pool.query<{ pending: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE state = 'pending')::int AS pending, count(*) FILTER (WHERE state = 'failed')::int AS failed FROM whatsapp_inbound`,
    );
    return rows[0]!;
  }

  private async transaction<R>(work: (client: PoolClient) => Promise<R>): Promise<R> {
    const t = await this.begin();
    let result: R;
    try {
      result = await work(t.client);
    } catch (err) {
      await t.end(err);
      throw err;
    }
    await t.end(null);
    return result;
  }

  /**
   * A pool connection in a transaction of its own (not the unit of work's: a claim stays open while the handlers
   * run, and they may use the unit of work). `end(null)` commits, `end(err)` rolls back; a connection that broke
   * is destroyed rather than handed back.
   */
  private async begin(): Promise<{ client: PoolClient; end(err: unknown): Promise<void> }> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error): void => void (broken ??= err);
    client.on('error', onError);
    const release = (): void => {
      client.off('error', onError);
      client.release(broken);
    };
    try {
      await client.query('BEGIN');
    } catch (err) {
      broken ??= err as Error;
      release();
      throw err;
    }
    return {
      client,
      async end(err: unknown) {
        try {
          if (err === null) await client.query('COMMIT');
          else await client.query('ROLLBACK').catch((e: Error) => (broken ??= e));
        } catch (e) {
          broken ??= e as Error;
          throw e;
        } finally {
          release();
        }
      },
    };
  }
}
