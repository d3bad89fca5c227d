import type { Db } from '../storage/index.js';
import type { Sealer } from '../whatsapp/index.js';

export type NoticeKind = 'service' | 'emergency';
export type NoticeStatus = 'scheduled' | 'sending' | 'sent' | 'cancelled';
export type Target = { zones: string[] } | { near: { lat: number; lon: number; radius_m: number } } | { all: true };

export interface Notice {
  id: number;
  kind: NoticeKind;
  title: string;
  text: Record<string, string>;
  target: Target;
  sendAt: number;
  status: NoticeStatus;
  targeted: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  cancelledAt: number | null;
}

/** One active subscription, opened: its number is in memory only while a notice is being addressed. */
export interface Subscriber {
  pseudonym: string;
  contactSealed: Buffer;
  zone: string;
  lang: string;
  lat: number | null;
  lon: number | null;
}

export interface Consent {
  pseudonym: string;
  zone: string;
  lang: string;
  consentVersion: string;
  consentText: string;
  /** keyed pseudonym of the inbound message id (a wamid carries the number) */
  inbound: string;
  createdAt: number;
  endedAt: number | null;
  endReason: string | null;
}

export interface Figures {
  targeted: number;
  queued: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  failed_by_code: Record<string, number>;
  /** replied within 24 h of the message */
  replied: number;
  /** unsubscribed within 24 h of the message */
  unsubscribed: number;
  /** replied within 24 h per message delivered (0 when none was) */
  response_rate: number;
  /** skipped: the resident had had `notices.max_per_resident_per_week` service notices in the last 7 days */
  capped: number;
}

export interface NoticeRow {
  id: number;
  kind: NoticeKind;
  title: string;
  text_json: string;
  target_json: string;
  send_at_ms: number;
  status: NoticeStatus;
  targeted: number;
  created_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
  cancelled_ms: number | null;
}

/** A row of notice_subscriptions as the consent record it keeps (either store). */
export const consentOf = (r: Record<string, unknown>): Consent => ({
  pseudonym: r.pseudonym as string,
  zone: r.zone as string,
  lang: r.lang as string,
  consentVersion: r.consent_version as string,
  consentText: r.consent_text as string,
  inbound: r.inbound_tag as string,
  createdAt: r.created_ms as number,
  endedAt: r.ended_ms as number | null,
  endReason: r.end_reason as string | null,
});

/** A notice's queued recipients without an outcome: the outbox ids to ask about, and those queued after `since` with none. */
export function inFlightOf(rows: readonly { outbox_id: number | null; queued_ms: number | null }[], since: number): { outboxIds: number[]; untracked: number } {
  const outboxIds: number[] = [];
  let untracked = 0;
  for (const r of rows) {
    if (r.outbox_id !== null) outboxIds.push(r.outbox_id);
    else if ((r.queued_ms ?? 0) > since) untracked++;
  }
  return { outboxIds, untracked };
}

export const toNotice = (r: NoticeRow): Notice => ({
  id: r.id,
  kind: r.kind,
  title: r.title,
  text: JSON.parse(r.text_json) as Record<string, string>,
  target: JSON.parse(r.target_json) as Target,
  sendAt: r.send_at_ms,
  status: r.status,
  targeted: r.targeted,
  createdAt: r.created_ms,
  startedAt: r.started_ms,
  finishedAt: r.finished_ms,
  cancelledAt: r.cancelled_ms,
});

export const DAY_MS = 24 * 3600 * 1000;
export const WEEK_MS = 7 * DAY_MS;

/** The counts `figures` reads of a notice's recipients, by the same names in both stores. */
export interface RecipientCounts {
  queued: number;
  capped: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  replied: number;
  unsubscribed: number;
}

/** A notice's figures from its recipients' counts and its failures by error code. */
export function figuresOf(targeted: number, r: RecipientCounts, failures: readonly { code: number; n: number }[]): Figures {
  const byCode: Record<string, number> = {};
  for (const c of failures) byCode[String(c.code)] = c.n;
  return {
    targeted,
    queued: r.queued,
    sent: r.sent,
    delivered: r.delivered,
    read: r.read,
    failed: r.failed,
    failed_by_code: byCode,
    replied: r.replied,
    unsubscribed: r.unsubscribed,
    response_rate: r.delivered > 0 ? Math.round((r.replied / r.delivered) * 1000) / 1000 : 0,
    capped: r.capped,
  };
}

/** A resident's subscription request, as the conversation gathered it. */
export interface NewSubscription {
  pseudonym: string;
  contact: string;
  zone: string;
  lang: string;
  lat: number | null;
  lon: number | null;
  consentVersion: string;
  consentText: string;
  inboundId: string;
  at: number;
}

/**
 * Subscriptions, notices and their recipients. An implementation keeps numbers sealed and residents by pseudonym.
 * Bound to the caller's transaction (`Decisions.notices`): the steps that must go together (a notice's recipients
 * with its move to `sending`, a recipient marked queued with its message) commit together.
 */
export interface NoticeStore {
  /** Subscribes a resident to a zone; false when already subscribed (the number and language are refreshed). */
  subscribe(s: NewSubscription): Promise<boolean>;
  /**
   * Ends every subscription of a resident; marks the notices they had in the last 24 h as followed by an
   * unsubscribe. Returns those notices' ids.
   */
  unsubscribe(pseudonym: string, reason: 'unsubscribe' | 'stop', at: number): Promise<number[]>;
  active(): Promise<Subscriber[]>;
  counts(): Promise<{ zone: string; lang: string; subscribers: number }[]>;
  consents(): Promise<Consent[]>;
  askedForPin(pseudonym: string, lang: string, at: number): Promise<void>;
  /** The language of a pending "subscribe" that waits for a pin, taken (once) when asked since `since`. */
  takePendingPin(pseudonym: string, since: number): Promise<string | null>;
  createNotice(n: Omit<Notice, 'id' | 'startedAt' | 'finishedAt' | 'cancelledAt'>): Promise<number>;
  get(id: number): Promise<Notice | null>;
  /**
   * The notice, its row locked until the transaction ends (PostgreSQL: another instance's sending, cancelling or
   * finishing of it waits; SQLite: the transaction holds the write lock anyway).
   */
  lock(id: number): Promise<Notice | null>;
  /** Newest first; `beforeId` continues a page. */
  list(limit?: number, beforeId?: number): Promise<Notice[]>;
  withStatus(status: NoticeStatus): Promise<Notice[]>;
  /** The recipients, snapshotted and committed with the notice's move to `sending` (nothing when it had moved already). */
  startSending(id: number, recipients: readonly Subscriber[], at: number): Promise<void>;
  /** Recipients not yet handed to the outbox, numbers opened. */
  unqueued(id: number, limit: number): Promise<{ pseudonym: string; contact: string; lang: string }[]>;
  /** `outboxId`: the id of its message in the outbox, which says whether it is still there. */
  markQueued(id: number, pseudonym: string, at: number, outboxId: number): Promise<void>;
  /** Done with a recipient without a message: `capped` (over the weekly cap) or `unaddressable`. */
  markSkipped(id: number, pseudonym: string, reason: 'capped' | 'unaddressable'): Promise<void>;
  /** Service notices queued to a resident in the 7 days before `at`, other than notice `except`. */
  serviceWeek(pseudonym: string, at: number, except: number): Promise<number>;
  /**
   * A notice's queued messages with no outcome yet: the outbox ids of those that have one, and how many from before
   * outbox ids were kept that were queued after `since` (older ones count as lost).
   */
  inFlight(id: number, since: number): Promise<{ outboxIds: number[]; untracked: number }>;
  /** Recipients still to reach: neither sent, failed nor skipped (in the outbox or not yet handed to it). */
  waiting(id: number): Promise<number>;
  /** Moves a notice to `status` when it is in one of `from`; false when it was not. */
  setStatus(id: number, status: NoticeStatus, at: number, from: readonly NoticeStatus[]): Promise<boolean>;
  recordSent(id: number, pseudonym: string, at: number): Promise<void>;
  recordDelivery(id: number, pseudonym: string, status: 'delivered' | 'read' | 'failed', code: number | null): Promise<void>;
  /** A resident wrote: every notice sent to them within the last 24 h counts a reply (once). Returns their ids. */
  recordReply(pseudonym: string, at: number): Promise<number[]>;
  figures(id: number, targeted: number): Promise<Figures>;
}

/** The notices in SQLite (`notice_subscriptions`, `notices`, `notice_recipients`, `notice_pending_pins`). */
export class SqliteNoticeStore implements NoticeStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  async subscribe(s: NewSubscription): Promise<boolean> {
    const existing = this.db.prepare('SELECT id FROM notice_subscriptions WHERE pseudonym = ? AND zone = ? AND ended_ms IS NULL').pluck().get(s.pseudonym, s.zone) as number | undefined;
    if (existing !== undefined) {
      // already subscribed: the number and language are refreshed, the consent stays the one first given
      this.db.prepare('UPDATE notice_subscriptions SET contact_sealed = ?, lang = ? WHERE id = ?').run(this.sealer.seal(s.contact), s.lang, existing);
      return false;
    }
    this.db
      .prepare(
        `INSERT INTO notice_subscriptions (pseudonym, contact_sealed, zone, lang, lat, lon, consent_version, consent_text, inbound_tag, inbound_sealed, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.pseudonym, this.sealer.seal(s.contact), s.zone, s.lang, s.lat, s.lon, s.consentVersion, s.consentText, this.sealer.pseudonym(s.inboundId), this.sealer.seal(s.inboundId), s.at);
    return true;
  }

  /**
   * Ends every subscription of a resident; marks the notices they had in the last 24 h as followed by an
   * unsubscribe. Returns those notices' ids.
   */
  async unsubscribe(pseudonym: string, reason: 'unsubscribe' | 'stop', at: number): Promise<number[]> {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE notice_subscriptions SET ended_ms = ?, end_reason = ? WHERE pseudonym = ? AND ended_ms IS NULL').run(at, reason, pseudonym);
      this.db.prepare('DELETE FROM notice_pending_pins WHERE pseudonym = ?').run(pseudonym);
      const where = 'pseudonym = ? AND unsubscribed_ms IS NULL AND sent_ms > ?';
      const ids = this.db.prepare(`SELECT notice_id FROM notice_recipients WHERE ${where}`).pluck().all(pseudonym, at - DAY_MS) as number[];
      this.db.prepare(`UPDATE notice_recipients SET unsubscribed_ms = ? WHERE ${where}`).run(at, pseudonym, at - DAY_MS);
      return ids;
    }).immediate();
  }

  async active(): Promise<Subscriber[]> {
    return (
      this.db.prepare('SELECT pseudonym, contact_sealed, zone, lang, lat, lon FROM notice_subscriptions WHERE ended_ms IS NULL ORDER BY id').all() as {
        pseudonym: string;
        contact_sealed: Buffer;
        zone: string;
        lang: string;
        lat: number | null;
        lon: number | null;
      }[]
    ).map((r) => ({ pseudonym: r.pseudonym, contactSealed: r.contact_sealed, zone: r.zone, lang: r.lang, lat: r.lat, lon: r.lon }));
  }

  async counts(): Promise<{ zone: string; lang: string; subscribers: number }[]> {
    return this.db
      .prepare('SELECT zone, lang, count(*) AS subscribers FROM notice_subscriptions WHERE ended_ms IS NULL GROUP BY zone, lang ORDER BY zone, lang')
      .all() as { zone: string; lang: string; subscribers: number }[];
  }

  async consents(): Promise<Consent[]> {
    return (this.db.prepare('SELECT * FROM notice_subscriptions ORDER BY id').all() as Record<string, unknown>[]).map(consentOf);
  }

  async askedForPin(pseudonym: string, lang: string, at: number): Promise<void> {
    this.db.prepare('INSERT INTO notice_pending_pins (pseudonym, lang, at_ms) VALUES (?, ?, ?) ON CONFLICT (pseudonym) DO UPDATE SET lang = excluded.lang, at_ms = excluded.at_ms').run(pseudonym, lang, at);
  }

  /** The language of a pending "subscribe" that waits for a pin, taken (once) when asked since `since`. */
  async takePendingPin(pseudonym: string, since: number): Promise<string | null> {
    const row = this.db.prepare('SELECT lang, at_ms FROM notice_pending_pins WHERE pseudonym = ?').get(pseudonym) as { lang: string; at_ms: number } | undefined;
    if (!row) return null;
    this.db.prepare('DELETE FROM notice_pending_pins WHERE pseudonym = ?').run(pseudonym);
    return row.at_ms >= since ? row.lang : null;
  }

  async createNotice(n: Omit<Notice, 'id' | 'startedAt' | 'finishedAt' | 'cancelledAt'>): Promise<number> {
    const info = this.db
      .prepare('INSERT INTO notices (kind, title, text_json, target_json, send_at_ms, status, targeted, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(n.kind, n.title, JSON.stringify(n.text), JSON.stringify(n.target), n.sendAt, n.status, n.targeted, n.createdAt);
    return Number(info.lastInsertRowid);
  }

  async get(id: number): Promise<Notice | null> {
    const r = this.db.prepare('SELECT * FROM notices WHERE id = ?').get(id) as NoticeRow | undefined;
    return r ? toNotice(r) : null;
  }

  async lock(id: number): Promise<Notice | null> {
    return this.get(id);
  }

  /** Newest first; `beforeId` continues a page. */
  async list(limit = 100, beforeId = Number.MAX_SAFE_INTEGER): Promise<Notice[]> {
    return (this.db.prepare('SELECT * FROM notices WHERE id < ? ORDER BY id DESC LIMIT ?').all(beforeId, limit) as NoticeRow[]).map(toNotice);
  }

  async withStatus(status: NoticeStatus): Promise<Notice[]> {
    return (this.db.prepare('SELECT * FROM notices WHERE status = ? ORDER BY send_at_ms, id').all(status) as NoticeRow[]).map(toNotice);
  }

  /** The recipients, snapshotted and committed with the notice's move to `sending`. */
  async startSending(id: number, recipients: readonly Subscriber[], at: number): Promise<void> {
    this.db.transaction(() => {
      const insert = this.db.prepare('INSERT INTO notice_recipients (notice_id, pseudonym, contact_sealed, lang) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
      for (const r of recipients) insert.run(id, r.pseudonym, r.contactSealed, r.lang);
      this.db.prepare(`UPDATE notices SET status = 'sending', started_ms = ?, targeted = ? WHERE id = ? AND status = 'scheduled'`).run(at, recipients.length, id);
    }).immediate();
  }

  async unqueued(id: number, limit: number): Promise<{ pseudonym: string; contact: string; lang: string }[]> {
    return (this.db.prepare('SELECT pseudonym, contact_sealed, lang FROM notice_recipients WHERE notice_id = ? AND queued = 0 LIMIT ?').all(id, limit) as { pseudonym: string; contact_sealed: Buffer; lang: string }[]).map(
      (r) => ({ pseudonym: r.pseudonym, contact: this.sealer.openText(r.contact_sealed), lang: r.lang }),
    );
  }

  async markQueued(id: number, pseudonym: string, at: number, outboxId: number): Promise<void> {
    this.db.prepare('UPDATE notice_recipients SET queued = 1, queued_ms = coalesce(queued_ms, ?), outbox_id = ? WHERE notice_id = ? AND pseudonym = ?').run(at, outboxId, id, pseudonym);
  }

  /** Done with a recipient without a message: `capped` (over the weekly cap) or `unaddressable`. */
  async markSkipped(id: number, pseudonym: string, reason: 'capped' | 'unaddressable'): Promise<void> {
    this.db.prepare('UPDATE notice_recipients SET queued = 1, skipped = ? WHERE notice_id = ? AND pseudonym = ?').run(reason, id, pseudonym);
  }

  /** Service notices queued to a resident in the 7 days before `at`, other than notice `except`. */
  async serviceWeek(pseudonym: string, at: number, except: number): Promise<number> {
    return this.db
      .prepare(
        `SELECT count(*) FROM notice_recipients r JOIN notices n ON n.id = r.notice_id
         WHERE r.pseudonym = ? AND r.queued_ms > ? AND r.skipped IS NULL AND n.kind = 'service' AND r.notice_id != ?`,
      )
      .pluck()
      .get(pseudonym, at - WEEK_MS, except) as number;
  }

  /** A notice's messages in the outbox with no outcome yet, queued after `since` (older ones count as lost). */
  async inFlight(id: number, since: number): Promise<{ outboxIds: number[]; untracked: number }> {
    const rows = this.db
      .prepare('SELECT outbox_id, queued_ms FROM notice_recipients WHERE notice_id = ? AND queued = 1 AND skipped IS NULL AND sent_ms IS NULL AND delivery IS NULL')
      .all(id) as { outbox_id: number | null; queued_ms: number | null }[];
    return inFlightOf(rows, since);
  }

  async waiting(id: number): Promise<number> {
    return this.db.prepare('SELECT count(*) FROM notice_recipients WHERE notice_id = ? AND skipped IS NULL AND sent_ms IS NULL AND delivery IS NULL').pluck().get(id) as number;
  }

  async setStatus(id: number, status: NoticeStatus, at: number, from: readonly NoticeStatus[]): Promise<boolean> {
    const col = status === 'cancelled' ? 'cancelled_ms' : status === 'sent' ? 'finished_ms' : 'started_ms';
    return this.db.prepare(`UPDATE notices SET status = ?, ${col} = ? WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})`).run(status, at, id, ...from).changes > 0;
  }

  async recordSent(id: number, pseudonym: string, at: number): Promise<void> {
    this.db.prepare('UPDATE notice_recipients SET sent_ms = coalesce(sent_ms, ?) WHERE notice_id = ? AND pseudonym = ?').run(at, id, pseudonym);
  }

  async recordDelivery(id: number, pseudonym: string, status: 'delivered' | 'read' | 'failed', code: number | null): Promise<void> {
    // statuses come out of order: `read` is never taken back by a late `delivered`, nor a failure by anything
    this.db
      .prepare(
        `UPDATE notice_recipients SET delivery = ?, error_code = coalesce(?, error_code) WHERE notice_id = ? AND pseudonym = ?
         AND (delivery IS NULL OR (delivery = 'delivered' AND ? IN ('read', 'failed')))`,
      )
      .run(status, code, id, pseudonym, status);
  }

  /** A resident wrote: every notice sent to them within the last 24 h counts a reply (once). Returns their ids. */
  async recordReply(pseudonym: string, at: number): Promise<number[]> {
    const where = 'pseudonym = ? AND replied_ms IS NULL AND sent_ms IS NOT NULL AND sent_ms > ?';
    return this.db.transaction(() => {
      const ids = this.db.prepare(`SELECT notice_id FROM notice_recipients WHERE ${where}`).pluck().all(pseudonym, at - DAY_MS) as number[];
      if (ids.length) this.db.prepare(`UPDATE notice_recipients SET replied_ms = ? WHERE ${where}`).run(at, pseudonym, at - DAY_MS);
      return ids;
    }).immediate();
  }

  async figures(id: number, targeted: number): Promise<Figures> {
    const r = this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE queued = 1 AND skipped IS NULL) AS queued, count(sent_ms) AS sent,
           count(*) FILTER (WHERE skipped = 'capped') AS capped,
           count(*) FILTER (WHERE delivery IN ('delivered', 'read')) AS delivered, count(*) FILTER (WHERE delivery = 'read') AS read,
           count(*) FILTER (WHERE delivery = 'failed') AS failed,
           count(*) FILTER (WHERE replied_ms IS NOT NULL AND replied_ms - sent_ms <= ${DAY_MS}) AS replied,
           count(*) FILTER (WHERE unsubscribed_ms IS NOT NULL AND unsubscribed_ms - sent_ms <= ${DAY_MS}) AS unsubscribed
         FROM notice_recipients WHERE notice_id = ?`,
      )
      .get(id) as RecipientCounts;
    const byCode = this.db.prepare(`SELECT coalesce(error_code, 0) AS code, count(*) AS n FROM notice_recipients WHERE notice_id = ? AND delivery = 'failed' GROUP BY 1`).all(id) as { code: number; n: number }[];
    return figuresOf(targeted, r, byCode);
  }
}
