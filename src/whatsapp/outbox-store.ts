import type { Sealer } from '../privacy/index.js';
import type { Db } from '../storage/index.js';
import type { Queryable } from '../storage/postgres/index.js';
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

/** How a send (or an attempt to open one) ended, as the outbox records it. */
export type SendOutcome =
  | { status: 'sent'; wamid: string; at: number; initiated: boolean }
  | { status: 'retry'; at: number; code: number; message: string }
  | { status: 'fallback'; code: number; message: string }
  | { status: 'failed'; code: number; message: string };

/** A head the send loop wants on the wire: the attempt it read it at, and whether it goes outside the 24 h window. */
export interface ClaimRequest {
  id: number;
  attempts: number;
  /** it starts a conversation Meta counts toward the messaging limit */
  initiated?: boolean;
}

/** What a claim got: the ids now on the wire for this instance, and those left waiting because the limit was full. */
export interface Claimed {
  claimed: number[];
  /** initiated heads refused because the messaging limit had no room across the instances (a shared store only) */
  limited: number[];
}

/** Meta's messaging limit as a shared store enforces it at claim: unique users outside their window in `windowMs`. */
export interface ClaimLimit {
  users: number;
  windowMs: number;
}

/** A send another instance made (or this one, before a restart), as a shared store shows it: the pacer's news. */
export interface SendSeen {
  id: number;
  /** the attempt it was: with `id`, names one request */
  attempts: number;
  recipient: string;
  at: number;
}

/**
 * The outbox's rows: what the send loop (`Outbox`) and the API need of them, and nothing of how they are kept.
 * Asynchronous, so that PostgreSQL can keep them for several instances at once; SQLite answers at once.
 * An implementation keeps recipients, keys, refs, wamids and messages as pseudonyms or sealed, never in clear.
 */
/** The outbox's rows in a caller's transaction: what is added commits, or not, with the caller's own writes. */
export interface BoundOutboxRows {
  /** Adds a message unless one with its key exists (then returns that one's id). */
  add(entry: OutboxEntry, to: string, now: number): Promise<{ id: number; created: boolean }>;
  /** How many of these items are not yet sent or failed for good. */
  unfinished(ids: readonly number[]): Promise<number>;
}

export interface OutboxStore {
  /**
   * True when other instances claim from the same rows (PostgreSQL): claims can then be lost to them, a claim left
   * by a dead instance is recovered once stale rather than at start, and others' sends are read back for pacing.
   */
  readonly shared: boolean;
  /**
   * The same rows, synchronously, where they live in the program's SQLite database: the SQLite inbox applies
   * delivery statuses through it inside its own synchronous transaction. Null on PostgreSQL.
   */
  readonly local: LocalOutboxRows | null;
  /** Adds a message unless one with its key exists (then returns that one's id). */
  add(entry: OutboxEntry, to: string, now: number): Promise<{ id: number; created: boolean }>;
  /**
   * The rows bound to a caller's transaction: on PostgreSQL its client (given), on SQLite the program's one
   * connection, inside whatever transaction is open on it (the client is not used).
   */
  bound(client: Queryable | null): BoundOutboxRows;
  /**
   * The next message of each recipient with nothing on the wire, at most `limit`: the most urgent one waiting (lowest
   * priority), the oldest among equals; most urgent first, then oldest first.
   */
  heads(limit: number): Promise<OutboxHead[]>;
  /**
   * Puts these heads on the wire (one more attempt each, no longer waiting for anything) in one commit, and says
   * which it got. A head it did not get was claimed or changed since `heads` read it (another instance took it, or
   * has a message to the same recipient on the wire): a claim conflict. Only a head still at `attempts`, waiting and
   * due at `now` is claimed, and never a second message to one recipient. A shared store also keeps `limit` across
   * the instances: an initiated head to a user not counted yet is claimed only while the users counted (reached in
   * the window, or on the wire outside it, by any instance) are fewer; the others come back as `limited`.
   */
  claim(heads: readonly ClaimRequest[], now: number, limit?: ClaimLimit): Promise<Claimed>;
  /**
   * Records how attempt `attempts` of a message ended, then runs `also` (the listeners' own records): in the same
   * commit where they share the database (SQLite), right after it otherwise. False, and `also` not run, when the
   * attempt is no longer the message's (a shared store recovered the claim as stale and another instance took it).
   */
  record(id: number, attempts: number, outcome: SendOutcome, also?: () => void): Promise<boolean>;
  /** A waiting item is held back, and why (`messaging_limit`); shown with the item until it goes. */
  hold(id: number, reason: string): Promise<void>;
  /** A sent message refused later (131047 in a status): its fallback template goes next, at once. */
  useFallback(id: number, code: number, message: string): Promise<void>;
  /** Items put on the wire before `claimedBefore` (ms) go back to waiting; how many. */
  recoverInterrupted(claimedBefore: number): Promise<number>;
  /** The latest attempt per recipient (pseudonym) since `since`: the pacer's memory across a restart. */
  recentSends(since: number): Promise<{ recipient: string; at: number }[]>;
  /** Every attempt made since `since` (ms, exclusive), oldest first: what a shared store's other instances sent. */
  sendsSince(since: number): Promise<SendSeen[]>;
  /** The latest send outside the window per recipient since `since`, oldest first: the messaging limit's memory across a restart. */
  recentInitiated(since: number): Promise<{ recipient: string; at: number }[]>;
  /** How many of these items are not yet sent or failed for good. */
  unfinished(ids: readonly number[]): Promise<number>;
  /** Messages not yet sent or failed for good. */
  backlog(): Promise<number>;
  /** The sent message a delivery status names, if it is ours. */
  byWamid(wamid: string): Promise<SentMessage | undefined>;
  delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): Promise<void>;
  get(id: number): Promise<OutboxItem | null>;
  /** Newest first; `before`: only ids below it; `to`: one recipient (a number, in clear). */
  list(opts: { limit: number; to?: string | undefined; before: number }): Promise<OutboxItem[]>;
}

/** The outbox's rows in SQLite, synchronously: what joins a caller's own SQLite transaction (see OutboxStore.local). */
export interface LocalOutboxRows {
  add(entry: OutboxEntry, to: string, now: number): { id: number; created: boolean };
  unfinished(ids: readonly number[]): number;
  byWamid(wamid: string): SentMessage | undefined;
  useFallback(id: number, code: number, message: string): void;
  delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): void;
}

export const ID_MASK = 2 ** 40 - 1;

/** A row of `whatsapp_outbox`: who and what are pseudonyms and sealed blobs (see Sealer). */
export interface OutboxRow {
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

/** What both stores seal before a row is written, and how they open the rows they read: one place for the privacy rules. */
export class OutboxRows {
  constructor(private readonly sealer: Sealer) {}

  /** The columns of a new row, in the order both stores' INSERTs name them. */
  sealNew(item: OutboxEntry, to: string, now: number): [string, Buffer, Buffer | null, string, Buffer, string, Buffer, Buffer | null, number, number] {
    const seal = this.sealer;
    const priority = item.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority) || priority < 0 || priority > 99) throw new RangeError(`priority ${priority}: an integer from 0 to 99`);
    return [
      seal.pseudonym(item.key),
      seal.seal(item.key),
      item.ref === undefined ? null : seal.seal(item.ref),
      seal.pseudonym(to),
      seal.seal(to),
      item.message.type,
      seal.seal(JSON.stringify(item.message)),
      item.fallback ? seal.seal(JSON.stringify(item.fallback)) : null,
      now,
      priority,
    ];
  }

  pseudonym(clear: string): string {
    return this.sealer.pseudonym(clear);
  }

  seal(clear: string): Buffer {
    return this.sealer.seal(clear);
  }

  head(r: OutboxRow): OutboxHead {
    return {
      id: r.id,
      recipient: r.recipient_tag,
      kind: r.kind,
      attempts: r.attempts,
      nextAttemptMs: r.next_attempt_ms,
      hasFallback: r.fallback_sealed !== null,
      usedFallback: !!r.used_fallback,
      open: () => ({ message: this.openMessage(r), ...this.openRow(r) }),
    };
  }

  sent(row: OutboxRow): SentMessage {
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

  item(r: OutboxRow): OutboxItem {
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

  private openRow(r: OutboxRow): { key: string; ref: string | null; to: string } {
    const s = this.sealer;
    return { key: s.openText(r.key_sealed), ref: r.ref_sealed ? s.openText(r.ref_sealed) : null, to: s.openText(r.recipient_sealed) };
  }

  /** The message that goes (or went) out: the fallback template once it is in use. */
  private openMessage(r: OutboxRow): OutboundMessage {
    return JSON.parse(this.sealer.openText(r.used_fallback && r.fallback_sealed ? r.fallback_sealed : r.message_sealed)) as OutboundMessage;
  }
}

/** The outbox in the program's SQLite database (`whatsapp_outbox`), synchronously; SqliteOutboxStore is its OutboxStore. */
export class SqliteOutboxRows implements LocalOutboxRows {
  private readonly stmts;
  private readonly rows: OutboxRows;

  constructor(
    private readonly db: Db,
    sealer: Sealer,
  ) {
    this.rows = new OutboxRows(sealer);
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
      markSending: db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sending', attempts = attempts + 1, last_attempt_ms = ?, waiting_for = NULL
         WHERE id = ? AND attempts = ? AND status = 'pending' AND next_attempt_ms <= ?
           AND NOT EXISTS (SELECT 1 FROM whatsapp_outbox s WHERE s.recipient_tag = whatsapp_outbox.recipient_tag AND s.status = 'sending')`,
      ),
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
      recover: db.prepare(`UPDATE whatsapp_outbox SET status = 'pending' WHERE status = 'sending' AND (last_attempt_ms IS NULL OR last_attempt_ms < ?)`),
      backlog: db.prepare(`SELECT count(*) FROM whatsapp_outbox WHERE status IN ('pending', 'sending')`).pluck(),
      recentSends: db.prepare('SELECT recipient_tag, max(last_attempt_ms) AS at FROM whatsapp_outbox WHERE last_attempt_ms > ? GROUP BY recipient_tag'),
      sendsSince: db.prepare('SELECT id, attempts, recipient_tag AS recipient, last_attempt_ms AS at FROM whatsapp_outbox WHERE last_attempt_ms > ? ORDER BY last_attempt_ms'),
      byWamid: db.prepare('SELECT * FROM whatsapp_outbox WHERE wamid_tag = ?'),
      byId: db.prepare('SELECT * FROM whatsapp_outbox WHERE id = ?'),
      delivery: db.prepare('UPDATE whatsapp_outbox SET delivery_status = ?, delivery_ms = ?, delivery_errors = ? WHERE id = ?'),
    };
  }

  add(item: OutboxEntry, to: string, now: number): { id: number; created: boolean } {
    const values = this.rows.sealNew(item, to, now);
    const info = this.stmts.insert.run(...values);
    if (info.changes === 0) return { id: this.stmts.idByKey.get(values[0]) as number, created: false };
    return { id: Number(info.lastInsertRowid), created: true };
  }

  heads(limit: number): OutboxHead[] {
    return (this.stmts.heads.all(limit) as OutboxRow[]).map((r) => this.rows.head(r));
  }

  /** The claims of one pass in one commit (one disk flush, not one per message). */
  claim(heads: readonly ClaimRequest[], now: number): number[] {
    return this.db.transaction(() => heads.filter((h) => this.stmts.markSending.run(now, h.id, h.attempts, now).changes === 1).map((h) => h.id)).immediate();
  }

  /** The outcome and what `also` records of it commit together: one disk flush a message. */
  record(id: number, outcome: SendOutcome, also?: () => void): boolean {
    this.db.transaction(() => {
      this.apply(id, outcome);
      also?.();
    }).immediate();
    return true;
  }

  private apply(id: number, o: SendOutcome): void {
    switch (o.status) {
      case 'sent':
        this.stmts.markSent.run(this.rows.pseudonym(o.wamid), this.rows.seal(o.wamid), o.at, o.initiated ? 1 : 0, id);
        return;
      case 'retry':
        this.stmts.markRetry.run(o.at, o.code, o.message, id);
        return;
      case 'fallback':
        this.useFallback(id, o.code, o.message);
        return;
      case 'failed':
        this.stmts.markFailed.run(o.code, o.message, id);
        return;
    }
  }

  hold(id: number, reason: string): void {
    this.stmts.hold.run(reason, id);
  }

  useFallback(id: number, code: number, message: string): void {
    this.stmts.markFallback.run(code, message, id);
  }

  recoverInterrupted(claimedBefore: number): number {
    return this.stmts.recover.run(claimedBefore).changes;
  }

  recentSends(since: number): { recipient: string; at: number }[] {
    return (this.stmts.recentSends.all(since) as { recipient_tag: string; at: number }[]).map((r) => ({ recipient: r.recipient_tag, at: r.at }));
  }

  sendsSince(since: number): SendSeen[] {
    return this.stmts.sendsSince.all(since) as SendSeen[];
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
    const row = this.stmts.byWamid.get(this.rows.pseudonym(wamid)) as OutboxRow | undefined;
    return row ? this.rows.sent(row) : undefined;
  }

  delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): void {
    this.stmts.delivery.run(status, at, errors, id);
  }

  get(id: number): OutboxItem | null {
    const row = this.stmts.byId.get(id) as OutboxRow | undefined;
    return row ? this.rows.item(row) : null;
  }

  list(opts: { limit: number; to?: string | undefined; before: number }): OutboxItem[] {
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_outbox WHERE id < ? ORDER BY id DESC LIMIT ?').all(opts.before, opts.limit)
        : this.db
            .prepare('SELECT * FROM whatsapp_outbox WHERE recipient_tag = ? AND id < ? ORDER BY id DESC LIMIT ?')
            .all(this.rows.pseudonym(opts.to), opts.before, opts.limit)
    ) as OutboxRow[];
    return rows.map((r) => this.rows.item(r));
  }
}

/**
 * The outbox in the program's SQLite database (`whatsapp_outbox`), sealed with the program's Sealer. One process owns
 * the file, so nothing it reads changes behind its back, and a claim left at start is from a process that stopped.
 */
export class SqliteOutboxStore implements OutboxStore {
  readonly shared = false;
  readonly local: SqliteOutboxRows;

  constructor(db: Db, sealer: Sealer) {
    this.local = new SqliteOutboxRows(db, sealer);
  }

  async add(entry: OutboxEntry, to: string, now: number): Promise<{ id: number; created: boolean }> {
    return this.local.add(entry, to, now);
  }
  bound(): BoundOutboxRows {
    return this.boundRows;
  }
  private readonly boundRows: BoundOutboxRows = {
    add: async (entry, to, now) => this.local.add(entry, to, now),
    unfinished: async (ids) => this.local.unfinished(ids),
  };
  async heads(limit: number): Promise<OutboxHead[]> {
    return this.local.heads(limit);
  }
  /** One process sends from the file: its own MessagingLimit is exact, so `limit` is not checked here again. */
  async claim(heads: readonly ClaimRequest[], now: number): Promise<Claimed> {
    return { claimed: this.local.claim(heads, now), limited: [] };
  }
  async record(id: number, _attempts: number, outcome: SendOutcome, also?: () => void): Promise<boolean> {
    return this.local.record(id, outcome, also);
  }
  async hold(id: number, reason: string): Promise<void> {
    this.local.hold(id, reason);
  }
  async useFallback(id: number, code: number, message: string): Promise<void> {
    this.local.useFallback(id, code, message);
  }
  async recoverInterrupted(claimedBefore: number): Promise<number> {
    return this.local.recoverInterrupted(claimedBefore);
  }
  async recentSends(since: number): Promise<{ recipient: string; at: number }[]> {
    return this.local.recentSends(since);
  }
  async sendsSince(since: number): Promise<SendSeen[]> {
    return this.local.sendsSince(since);
  }
  async recentInitiated(since: number): Promise<{ recipient: string; at: number }[]> {
    return this.local.recentInitiated(since);
  }
  async unfinished(ids: readonly number[]): Promise<number> {
    return this.local.unfinished(ids);
  }
  async backlog(): Promise<number> {
    return this.local.backlog();
  }
  async byWamid(wamid: string): Promise<SentMessage | undefined> {
    return this.local.byWamid(wamid);
  }
  async delivery(id: number, status: DeliveryStatus, at: number, errors: string | null): Promise<void> {
    this.local.delivery(id, status, at, errors);
  }
  async get(id: number): Promise<OutboxItem | null> {
    return this.local.get(id);
  }
  async list(opts: { limit: number; to?: string | undefined; before: number }): Promise<OutboxItem[]> {
    return this.local.list(opts);
  }
}
