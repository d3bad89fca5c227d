import type { Sealer } from '../privacy/index.js';
import type { Db } from '../storage/index.js';
import type { OutboundMessage } from './messages.js';
import type { DeliveryStatus } from './webhook.js';
import { DEFAULT_PRIORITY, type OutboxEntry, type OutboxItem, type OutboxStatus } from './outbox-item.js';

/**
 * A message waiting at the head of its recipient's queue, as the send loop sees it: who (a pseudonym: the
 * loop paces and logs by it), when it may go, and how it fared so far. What it says is opened on demand
 * (`open`), so that an item that cannot be opened is still seen, and failed.
 */
export interface OutboxHead {
  id: number;
  /** the recipient's pseudonym */
  recipient: string;
  kind: string;
  attempts: number;
  nextAttemptMs: number;
  hasFallback: boolean;
  usedFallback: boolean;
  /** Throws when the item cannot be opened (sealed under another key, or damaged). */
  open(): OpenedHead;
}

/** A head opened to be sent: the message that goes (the fallback template once it is in use) and the caller's key and ref. */
export interface OpenedHead {
  message: OutboundMessage;
  key: string;
  ref: string | null;
  to: string;
}

/** A sent message as a delivery status finds it (by its wamid). */
export interface SentMessage {
  id: number;
  recipient: string;
  /** the kind that went: `template` once the fallback is in use */
  sentKind: string;
  status: OutboxStatus;
  delivery: DeliveryStatus | null;
  hasFallback: boolean;
  usedFallback: boolean;
  /** The caller's key and ref and the recipient; throws when they cannot be opened. */
  open(): Omit<OpenedHead, 'message'>;
}

/**
 * The outbox's rows: what the send loop (`Outbox`) and the API need of them, and nothing of how they are kept.
 * Synchronous, so that `add` joins the caller's transaction (the decision and its message commit together).
 * An implementation keeps recipients, keys, refs, wamids and messages as pseudonyms or sealed, never in clear.
 */
export interface OutboxStore {
  /** Adds a message unless one with its key exists (then returns that one's id). */
  add(entry: OutboxEntry, to: string, now: number): { id: number; created: boolean };
  /**
   * The next message of each recipient with nothing on the wire, at most `limit`: the most urgent one waiting (lowest
   * priority), the oldest among equals; most urgent first, then oldest first.
   */
  heads(limit: number): OutboxHead[];
  /** Runs `fn` in one commit (the claims of one pass: one disk flush, not one per message). */
  batch<T>(fn: () => T): T;
  /** The item is on the wire: one more attempt (and no longer waiting for anything). */
  claim(id: number, now: number): void;
  /** `initiated`: it went outside the recipient's 24-hour window (it counts toward the messaging limit). */
  sent(id: number, wamid: string, now: number, initiated: boolean): void;
  /** A waiting item is held back, and why (`messaging_limit`); shown with the item until it goes. */
  hold(id: number, reason: string): void;
  retryAt(id: number, at: number, code: number, message: string): void;
  /** Sends the fallback template next, at once. */
  useFallback(id: number, code: number, message: string): void;
  failed(id: number, code: number, message: string): void;
  /** Items left on the wire by a stopped process go back to waiting; how many. */
  recoverInterrupted(): number;
  /** The latest attempt per recipient (pseudonym) since `since`: the pacer's memory across a restart. */
  recentSends(since: number): { recipient: string; at: number }[];
  /** The latest send outside the window per recipient since `since`, oldest first: the messaging limit's memory across a restart. */
  recentInitiated(since: number): { recipient: string; at: number }[];
  /** How many of these items are not yet sent or failed for good. */
  unfinished(ids: readonly number[]): number;
  /** Messages not yet sent or failed for good. */
  backlog(): number;
  /** The sent message a delivery status names, if it is ours. */
  byWamid(wamid: string): SentMessage | undefined;
  delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): void;
  get(id: number): OutboxItem | null;
  /** Newest first; `before`: only ids below it; `to`: one recipient (a number, in clear). */
  list(opts: { limit: number; to?: string | undefined; before: number }): OutboxItem[];
}

const ID_MASK = 2 ** 40 - 1;

/** A row of `whatsapp_outbox`: who and what are pseudonyms and sealed blobs (see Sealer). */
interface Row {
  id: number;
  key_sealed: Buffer;
  ref_sealed: Buffer | null;
  recipient_tag: string;
  recipient_sealed: Buffer;
  kind: string;
  message_sealed: Buffer;
  fallback_sealed: Buffer | null;
  used_fallback: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_ms: number;
  wamid_sealed: Buffer | null;
  error_code: number | null;
  error_message: string | null;
  delivery_status: DeliveryStatus | null;
  created_ms: number;
  sent_ms: number | null;
  priority: number;
  initiated: number;
  waiting_for: string | null;
}

/** The outbox in the program's SQLite database (`whatsapp_outbox`), sealed with the program's Sealer. */
export class SqliteOutboxStore implements OutboxStore {
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO whatsapp_outbox (key_tag, key_sealed, ref_sealed, recipient_tag, recipient_sealed, kind, message_sealed, fallback_sealed, created_ms, priority)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_tag) DO NOTHING`,
      ),
      idByKey: db.prepare('SELECT id FROM whatsapp_outbox WHERE key_tag = ?').pluck(true),
      heads: db.prepare(
        // a recipient's next message: the most urgent waiting one, the oldest among equals (priority and id in one
        // key, ids below 2^40); none for a recipient with a message on the wire
        `SELECT o.* FROM (
           SELECT min(CASE WHEN status = 'pending' THEN (priority << 40) | id END) AS k FROM whatsapp_outbox
           WHERE status IN ('pending', 'sending') GROUP BY recipient_tag HAVING max(status = 'sending') = 0
         ) h JOIN whatsapp_outbox o ON o.id = (h.k & ${ID_MASK}) ORDER BY h.k LIMIT ?`,
      ),
      markSending: db.prepare(`UPDATE whatsapp_outbox SET status = 'sending', attempts = attempts + 1, last_attempt_ms = ?, waiting_for = NULL WHERE id = ?`),
      markSent: db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sent', wamid_tag = ?, wamid_sealed = ?, sent_ms = ?, initiated = ?, error_code = NULL, error_message = NULL,
         delivery_status = NULL, delivery_ms = NULL, delivery_errors = NULL WHERE id = ?`,
      ),
      hold: db.prepare(`UPDATE whatsapp_outbox SET waiting_for = ? WHERE id = ? AND status = 'pending'`),
      recentInitiated: db.prepare(
        'SELECT recipient_tag, max(sent_ms) AS at FROM whatsapp_outbox WHERE initiated = 1 AND sent_ms > ? GROUP BY recipient_tag ORDER BY at',
      ),
      markRetry: db.prepare(`UPDATE whatsapp_outbox SET status = 'pending', next_attempt_ms = ?, error_code = ?, error_message = ? WHERE id = ?`),
      markFallback: db.prepare(
        `UPDATE whatsapp_outbox SET status = 'pending', used_fallback = 1, next_attempt_ms = 0, error_code = ?, error_message = ?
         WHERE id = ?`,
      ),
      markFailed: db.prepare(`UPDATE whatsapp_outbox SET status = 'failed', error_code = ?, error_message = ? WHERE id = ?`),
      recover: db.prepare(`UPDATE whatsapp_outbox SET status = 'pending' WHERE status = 'sending'`),
      backlog: db.prepare(`SELECT count(*) FROM whatsapp_outbox WHERE status IN ('pending', 'sending')`).pluck(),
      recentSends: db.prepare('SELECT recipient_tag, max(last_attempt_ms) AS at FROM whatsapp_outbox WHERE last_attempt_ms > ? GROUP BY recipient_tag'),
      byWamid: db.prepare('SELECT * FROM whatsapp_outbox WHERE wamid_tag = ?'),
      byId: db.prepare('SELECT * FROM whatsapp_outbox WHERE id = ?'),
      delivery: db.prepare('UPDATE whatsapp_outbox SET delivery_status = ?, delivery_ms = ?, delivery_errors = ? WHERE id = ?'),
    };
  }

  add(item: OutboxEntry, to: string, now: number): { id: number; created: boolean } {
    const seal = this.sealer;
    const priority = item.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority) || priority < 0 || priority > 99) throw new RangeError(`priority ${priority}: an integer from 0 to 99`);
    const keyTag = seal.pseudonym(item.key);
    const info = this.stmts.insert.run(
      keyTag,
      seal.seal(item.key),
      item.ref === undefined ? null : seal.seal(item.ref),
      seal.pseudonym(to),
      seal.seal(to),
      item.message.type,
      seal.seal(JSON.stringify(item.message)),
      item.fallback ? seal.seal(JSON.stringify(item.fallback)) : null,
      now,
      priority,
    );
    if (info.changes === 0) return { id: this.stmts.idByKey.get(keyTag) as number, created: false };
    return { id: Number(info.lastInsertRowid), created: true };
  }

  heads(limit: number): OutboxHead[] {
    return (this.stmts.heads.all(limit) as Row[]).map((r) => ({
      id: r.id,
      recipient: r.recipient_tag,
      kind: r.kind,
      attempts: r.attempts,
      nextAttemptMs: r.next_attempt_ms,
      hasFallback: r.fallback_sealed !== null,
      usedFallback: !!r.used_fallback,
      open: () => ({ message: this.openMessage(r), ...this.openRow(r) }),
    }));
  }

  batch<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  claim(id: number, now: number): void {
    this.stmts.markSending.run(now, id);
  }

  sent(id: number, wamid: string, now: number, initiated: boolean): void {
    this.stmts.markSent.run(this.sealer.pseudonym(wamid), this.sealer.seal(wamid), now, initiated ? 1 : 0, id);
  }

  hold(id: number, reason: string): void {
    this.stmts.hold.run(reason, id);
  }

  retryAt(id: number, at: number, code: number, message: string): void {
    this.stmts.markRetry.run(at, code, message, id);
  }

  useFallback(id: number, code: number, message: string): void {
    this.stmts.markFallback.run(code, message, id);
  }

  failed(id: number, code: number, message: string): void {
    this.stmts.markFailed.run(code, message, id);
  }

  recoverInterrupted(): number {
    return this.stmts.recover.run().changes;
  }

  recentSends(since: number): { recipient: string; at: number }[] {
    return (this.stmts.recentSends.all(since) as { recipient_tag: string; at: number }[]).map((r) => ({ recipient: r.recipient_tag, at: r.at }));
  }

  recentInitiated(since: number): { recipient: string; at: number }[] {
    return (this.stmts.recentInitiated.all(since) as { recipient_tag: string; at: number }[]).map((r) => ({ recipient: r.recipient_tag, at: r.at }));
  }

  unfinished(ids: readonly number[]): number {
    let n = 0;
    // in chunks: SQLite binds at most 32,766 parameters
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      n += this.db
        .prepare(`SELECT count(*) FROM whatsapp_outbox WHERE status IN ('pending', 'sending') AND id IN (${chunk.map(() => '?').join(', ')})`)
        .pluck()
        .get(...chunk) as number;
    }
    return n;
  }

  backlog(): number {
    return this.stmts.backlog.get() as number;
  }

  byWamid(wamid: string): SentMessage | undefined {
    const row = this.stmts.byWamid.get(this.sealer.pseudonym(wamid)) as Row | undefined;
    if (!row) return undefined;
    return {
      id: row.id,
      recipient: row.recipient_tag,
      sentKind: row.used_fallback && row.fallback_sealed ? 'template' : row.kind,
      status: row.status,
      delivery: row.delivery_status,
      hasFallback: row.fallback_sealed !== null,
      usedFallback: !!row.used_fallback,
      open: () => this.openRow(row),
    };
  }

  delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): void {
    this.stmts.delivery.run(status, at, errors, id);
  }

  get(id: number): OutboxItem | null {
    const row = this.stmts.byId.get(id) as Row | undefined;
    return row ? this.toItem(row) : null;
  }

  list(opts: { limit: number; to?: string | undefined; before: number }): OutboxItem[] {
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_outbox WHERE id < ? ORDER BY id DESC LIMIT ?').all(opts.before, opts.limit)
        : this.db
            .prepare('SELECT * FROM whatsapp_outbox WHERE recipient_tag = ? AND id < ? ORDER BY id DESC LIMIT ?')
            .all(this.sealer.pseudonym(opts.to), opts.before, opts.limit)
    ) as Row[];
    return rows.map((r) => this.toItem(r));
  }

  private openRow(r: Row): { key: string; ref: string | null; to: string } {
    const s = this.sealer;
    return { key: s.openText(r.key_sealed), ref: r.ref_sealed ? s.openText(r.ref_sealed) : null, to: s.openText(r.recipient_sealed) };
  }

  /** The message that goes (or went) out: the fallback template once it is in use. */
  private openMessage(r: Row): OutboundMessage {
    return JSON.parse(this.sealer.openText(r.used_fallback && r.fallback_sealed ? r.fallback_sealed : r.message_sealed)) as OutboundMessage;
  }

  private toItem(r: Row): OutboxItem {
    const { key, ref, to } = this.openRow(r);
    return {
      id: r.id,
      key,
      ref,
      to,
      kind: r.kind,
      status: r.status,
      attempts: r.attempts,
      usedFallback: !!r.used_fallback,
      wamid: r.wamid_sealed ? this.sealer.openText(r.wamid_sealed) : null,
      error: r.error_code === null && r.error_message === null ? null : { code: r.error_code ?? 0, message: r.error_message ?? '' },
      delivery: r.delivery_status,
      createdAt: r.created_ms,
      sentAt: r.sent_ms,
      message: this.openMessage(r),
      priority: r.priority,
      waitingFor: r.waiting_for,
      initiated: !!r.initiated,
    };
  }
}
