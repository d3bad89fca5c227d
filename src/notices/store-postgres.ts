import type { Sealer } from '../privacy/index.js';
import type { Queryable } from '../storage/postgres/index.js';
import {
  consentOf,
  inFlightOf,
  DAY_MS,
  WEEK_MS,
  figuresOf,
  toNotice,
  type Consent,
  type Figures,
  type NewSubscription,
  type Notice,
  type NoticeRow,
  type NoticeStatus,
  type NoticeStore,
  type RecipientCounts,
  type Subscriber,
} from './store.js';

/**
 * The notices in PostgreSQL (the tables of migration 2 and after, as on SQLite), shared by every instance, on the
 * connection it is given: a transaction's client (`Decisions.notices`) or the pool for single statements.
 *
 * - A subscription is one row per resident and zone while active (the partial unique index): two instances
 *   subscribing the same resident at once make one, `INSERT … ON CONFLICT` decides which.
 * - A pending pin is taken with `DELETE … RETURNING`: the pin a resident sends is taken by one instance only.
 * - A notice's row is the lock of its sending: `lock` (`SELECT … FOR UPDATE`) before recipients are queued, and the
 *   move to `sending` (an UPDATE, which locks it too) before its recipients go in; a cancel at another instance
 *   waits for the batch in progress and the next batch sees it.
 */
export class PostgresNoticeStore implements NoticeStore {
  constructor(
    private readonly q: Queryable,
    private readonly sealer: Sealer,
  ) {}

  private async rows<T>(sql: string, values: unknown[] = []): Promise<T[]> {
    return (await this.q.query(sql, values)).rows as T[];
  }

  async subscribe(s: NewSubscription): Promise<boolean> {
    // already subscribed: the number and language are refreshed, the consent stays the one first given
    const [row] = await this.rows<{ created: boolean }>(
      `INSERT INTO notice_subscriptions (pseudonym, contact_sealed, zone, lang, lat, lon, consent_version, consent_text, inbound_tag, inbound_sealed, created_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (pseudonym, zone) WHERE ended_ms IS NULL DO UPDATE SET contact_sealed = excluded.contact_sealed, lang = excluded.lang
       RETURNING (xmax = 0) AS created`,
      [s.pseudonym, this.sealer.seal(s.contact), s.zone, s.lang, s.lat, s.lon, s.consentVersion, s.consentText, this.sealer.pseudonym(s.inboundId), this.sealer.seal(s.inboundId), s.at],
    );
    return row!.created;
  }

  async unsubscribe(pseudonym: string, reason: 'unsubscribe' | 'stop', at: number): Promise<number[]> {
    await this.q.query('UPDATE notice_subscriptions SET ended_ms = $1, end_reason = $2 WHERE pseudonym = $3 AND ended_ms IS NULL', [at, reason, pseudonym]);
    await this.q.query('DELETE FROM notice_pending_pins WHERE pseudonym = $1', [pseudonym]);
    const rows = await this.rows<{ notice_id: number }>(
      'UPDATE notice_recipients SET unsubscribed_ms = $1 WHERE pseudonym = $2 AND unsubscribed_ms IS NULL AND sent_ms > $3 RETURNING notice_id',
      [at, pseudonym, at - DAY_MS],
    );
    return rows.map((r) => r.notice_id).sort((a, b) => a - b);
  }

  async active(): Promise<Subscriber[]> {
    const rows = await this.rows<{ pseudonym: string; contact_sealed: Buffer; zone: string; lang: string; lat: number | null; lon: number | null }>(
      'SELECT pseudonym, contact_sealed, zone, lang, lat, lon FROM notice_subscriptions WHERE ended_ms IS NULL ORDER BY id',
    );
    return rows.map((r) => ({ pseudonym: r.pseudonym, contactSealed: r.contact_sealed, zone: r.zone, lang: r.lang, lat: r.lat, lon: r.lon }));
  }

  counts(): Promise<{ zone: string; lang: string; subscribers: number }[]> {
    return this.rows('SELECT zone, lang, count(*)::int AS subscribers FROM notice_subscriptions WHERE ended_ms IS NULL GROUP BY zone, lang ORDER BY zone, lang');
  }

  async consents(): Promise<Consent[]> {
    return (await this.rows<Record<string, unknown>>('SELECT * FROM notice_subscriptions ORDER BY id')).map(consentOf);
  }

  async askedForPin(pseudonym: string, lang: string, at: number): Promise<void> {
    await this.q.query(
      'INSERT INTO notice_pending_pins (pseudonym, lang, at_ms) VALUES ($1, $2, $3) ON CONFLICT (pseudonym) DO UPDATE SET lang = excluded.lang, at_ms = excluded.at_ms',
      [pseudonym, lang, at],
    );
  }

  async takePendingPin(pseudonym: string, since: number): Promise<string | null> {
    const [row] = await this.rows<{ lang: string; at_ms: number }>('DELETE FROM notice_pending_pins WHERE pseudonym = $1 RETURNING lang, at_ms', [pseudonym]);
    return row && row.at_ms >= since ? row.lang : null;
  }

  async createNotice(n: Omit<Notice, 'id' | 'startedAt' | 'finishedAt' | 'cancelledAt'>): Promise<number> {
    const [row] = await this.rows<{ id: number }>(
      'INSERT INTO notices (kind, title, text_json, target_json, send_at_ms, status, targeted, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id',
      [n.kind, n.title, JSON.stringify(n.text), JSON.stringify(n.target), n.sendAt, n.status, n.targeted, n.createdAt],
    );
    return row!.id;
  }

  async get(id: number): Promise<Notice | null> {
    const [r] = await this.rows<NoticeRow>('SELECT * FROM notices WHERE id = $1', [id]);
    return r ? toNotice(r) : null;
  }

  async lock(id: number): Promise<Notice | null> {
    const [r] = await this.rows<NoticeRow>('SELECT * FROM notices WHERE id = $1 FOR UPDATE', [id]);
    return r ? toNotice(r) : null;
  }

  async list(limit = 100, beforeId = Number.MAX_SAFE_INTEGER): Promise<Notice[]> {
    return (await this.rows<NoticeRow>('SELECT * FROM notices WHERE id < $1 ORDER BY id DESC LIMIT $2', [beforeId, limit])).map(toNotice);
  }

  async withStatus(status: NoticeStatus): Promise<Notice[]> {
    return (await this.rows<NoticeRow>('SELECT * FROM notices WHERE status = $1 ORDER BY send_at_ms, id', [status])).map(toNotice);
  }

  async startSending(id: number, recipients: readonly Subscriber[], at: number): Promise<void> {
    // the move first: it locks the row, and a second instance starting the same notice finds it moved and adds nobody
    const { rowCount } = await this.q.query(`UPDATE notices SET status = 'sending', started_ms = $1, targeted = $2 WHERE id = $3 AND status = 'scheduled'`, [at, recipients.length, id]);
    if (!rowCount || recipients.length === 0) return;
    await this.q.query(
      `INSERT INTO notice_recipients (notice_id, pseudonym, contact_sealed, lang)
       SELECT $1, r.pseudonym, r.contact, r.lang FROM unnest($2::text[], $3::bytea[], $4::text[]) AS r(pseudonym, contact, lang)
       ON CONFLICT DO NOTHING`,
      [id, recipients.map((r) => r.pseudonym), recipients.map((r) => r.contactSealed), recipients.map((r) => r.lang)],
    );
  }

  async unqueued(id: number, limit: number): Promise<{ pseudonym: string; contact: string; lang: string }[]> {
    const rows = await this.rows<{ pseudonym: string; contact_sealed: Buffer; lang: string }>(
      'SELECT pseudonym, contact_sealed, lang FROM notice_recipients WHERE notice_id = $1 AND queued = 0 LIMIT $2',
      [id, limit],
    );
    return rows.map((r) => ({ pseudonym: r.pseudonym, contact: this.sealer.openText(r.contact_sealed), lang: r.lang }));
  }

  async markQueued(id: number, pseudonym: string, at: number, outboxId: number): Promise<void> {
    await this.q.query('UPDATE notice_recipients SET queued = 1, queued_ms = coalesce(queued_ms, $1), outbox_id = $2 WHERE notice_id = $3 AND pseudonym = $4', [at, outboxId, id, pseudonym]);
  }

  async markSkipped(id: number, pseudonym: string, reason: 'capped' | 'unaddressable'): Promise<void> {
    await this.q.query('UPDATE notice_recipients SET queued = 1, skipped = $1 WHERE notice_id = $2 AND pseudonym = $3', [reason, id, pseudonym]);
  }

  async serviceWeek(pseudonym: string, at: number, except: number): Promise<number> {
    const [row] = await this.rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM notice_recipients r JOIN notices n ON n.id = r.notice_id
       WHERE r.pseudonym = $1 AND r.queued_ms > $2 AND r.skipped IS NULL AND n.kind = 'service' AND r.notice_id != $3`,
      [pseudonym, at - WEEK_MS, except],
    );
    return row!.n;
  }

  async inFlight(id: number, since: number): Promise<{ outboxIds: number[]; untracked: number }> {
    const rows = await this.rows<{ outbox_id: number | null; queued_ms: number | null }>(
      'SELECT outbox_id, queued_ms FROM notice_recipients WHERE notice_id = $1 AND queued = 1 AND skipped IS NULL AND sent_ms IS NULL AND delivery IS NULL',
      [id],
    );
    return inFlightOf(rows, since);
  }

  async waiting(id: number): Promise<number> {
    const [row] = await this.rows<{ n: number }>('SELECT count(*)::int AS n FROM notice_recipients WHERE notice_id = $1 AND skipped IS NULL AND sent_ms IS NULL AND delivery IS NULL', [id]);
    return row!.n;
  }

  async setStatus(id: number, status: NoticeStatus, at: number, from: readonly NoticeStatus[]): Promise<boolean> {
    const col = status === 'cancelled' ? 'cancelled_ms' : status === 'sent' ? 'finished_ms' : 'started_ms';
    const { rowCount } = await this.q.query(`UPDATE notices SET status = $1, ${col} = $2 WHERE id = $3 AND status = ANY($4::text[])`, [status, at, id, [...from]]);
    return (rowCount ?? 0) > 0;
  }

  async recordSent(id: number, pseudonym: string, at: number): Promise<void> {
    await this.q.query('UPDATE notice_recipients SET sent_ms = coalesce(sent_ms, $1) WHERE notice_id = $2 AND pseudonym = $3', [at, id, pseudonym]);
  }

  async recordDelivery(id: number, pseudonym: string, status: 'delivered' | 'read' | 'failed', code: number | null): Promise<void> {
    // statuses come out of order: `read` is never taken back by a late `delivered`, nor a failure by anything
    await this.q.query(
      `UPDATE notice_recipients SET delivery = $1, error_code = coalesce($2, error_code) WHERE notice_id = $3 AND pseudonym = $4
       AND (delivery IS NULL OR (delivery = 'delivered' AND $1 IN ('read', 'failed')))`,
      [status, code, id, pseudonym],
    );
  }

  async recordReply(pseudonym: string, at: number): Promise<number[]> {
    // one statement: a reply counted at two instances at once is counted once (the second finds replied_ms set)
    const rows = await this.rows<{ notice_id: number }>(
      'UPDATE notice_recipients SET replied_ms = $1 WHERE pseudonym = $2 AND replied_ms IS NULL AND sent_ms IS NOT NULL AND sent_ms > $3 RETURNING notice_id',
      [at, pseudonym, at - DAY_MS],
    );
    return rows.map((r) => r.notice_id).sort((a, b) => a - b);
  }

  async figures(id: number, targeted: number): Promise<Figures> {
    const [r] = await this.rows<RecipientCounts>(
      `SELECT count(*) FILTER (WHERE queued = 1 AND skipped IS NULL)::int AS queued, count(sent_ms)::int AS sent,
         count(*) FILTER (WHERE skipped = 'capped')::int AS capped,
         count(*) FILTER (WHERE delivery IN ('delivered', 'read'))::int AS delivered, count(*) FILTER (WHERE delivery = 'read')::int AS read,
         count(*) FILTER (WHERE delivery = 'failed')::int AS failed,
         count(*) FILTER (WHERE replied_ms IS NOT NULL AND replied_ms - sent_ms <= ${DAY_MS})::int AS replied,
         count(*) FILTER (WHERE unsubscribed_ms IS NOT NULL AND unsubscribed_ms - sent_ms <= ${DAY_MS})::int AS unsubscribed
       FROM notice_recipients WHERE notice_id = $1`,
      [id],
    );
    const failures = await this.rows<{ code: number; n: number }>(
      `SELECT coalesce(error_code, 0) AS code, count(*)::int AS n FROM notice_recipients WHERE notice_id = $1 AND delivery = 'failed' GROUP BY 1`,
      [id],
    );
    return figuresOf(targeted, r!, failures);
  }
}
