import type { Sealer } from '../privacy/index.js';
import type { Db } from '../storage/index.js';
import type { Contacts } from './contacts.js';
import type { InboundMessage, ParsedWebhook, StatusUpdate } from './webhook.js';

/** What one recorded webhook delivery added. */
export interface AcceptResult {
  messages: number;
  statuses: number;
  /** messages and statuses already received before (Meta redelivers) */
  duplicates: number;
  /** the very same bytes were recorded before: nothing in them was stored or counted again */
  repeated: boolean;
}

/** A verified webhook body, parsed, with the digest that recognises the same bytes again (`InboxStore.bodyTag`). */
export interface InboundDelivery {
  rawBody: Buffer;
  bodyTag: string;
  parsed: ParsedWebhook;
}

/** The oldest message waiting for its handlers. */
export interface PendingInbound {
  seq: number;
  attempts: number;
  /** the message id's and the sender's pseudonyms: what logs may name */
  messageTag: string;
  senderTag: string;
  /** Throws when the message cannot be opened (sealed under another key, or damaged). */
  open(): InboundMessage;
}

/** What `prune` removed. */
export interface PruneCounts {
  bodies: number;
  deliveries: number;
  messages: number;
  statuses: number;
}

/**
 * The inbox's rows: webhook deliveries, inbound messages and delivery statuses, as the inbox loop (`Inbox`) needs
 * them. An implementation keeps senders, message ids and status recipients as pseudonyms and bodies sealed, and
 * records each delivery's messages and the senders' last-inbound times (`Contacts`) in the delivery's commit.
 */
export interface InboxStore {
  /** The digest under which a body's bytes are recognised again. */
  bodyTag(rawBody: Buffer): string;
  /** True when these bytes were recorded before. */
  hasBody(bodyTag: string): boolean;
  /**
   * Opens the record of a delivery: its sealed body (null: not kept), which its digest recognises only once `closeDelivery` says it
   * is whole (a body cut short by a crash is then recorded again when Meta redelivers it, its messages and statuses
   * deduplicated by id). Null when these bytes were recorded before. Runs inside `batch`.
   */
  openDelivery(rawBody: Buffer | null, bodyTag: string, now: number): number | null;
  /**
   * Records some of an open delivery's elements: each message not received before, the senders' last-inbound
   * times, each new status. Runs inside `batch`.
   */
  recordItems(deliveryId: number, items: Pick<ParsedWebhook, 'messages' | 'statuses'>, now: number): RecordedItems;
  /** Every element of the delivery is recorded: its digest now recognises its bytes. Runs inside `batch`. */
  closeDelivery(deliveryId: number, bodyTag: string): void;
  /** Runs `fn` in one commit (one disk flush for a group of deliveries). */
  batch<T>(fn: () => T): T;
  nextMessage(): PendingInbound | undefined;
  /**
   * Hands up to `limit` waiting statuses, in arrival order, to `apply` and marks them done in the same commit, so
   * a status is applied once even across a crash; `apply` gets an opener that throws when the status cannot be
   * opened, and must not throw itself. How many were taken (0: none waiting).
   */
  takeStatuses(limit: number, apply: (open: () => StatusUpdate) => void): number;
  /** The handlers succeeded. */
  processed(seq: number, now: number): void;
  /** The handlers failed; the message stays waiting. */
  attempted(seq: number, error: string): void;
  /** The message is set aside for good (failed). */
  setAside(seq: number, error: string, now: number): void;
  /** Finished rows lose their bodies before `bodiesBefore` and go before `rowsBefore`; waiting ones stay. */
  prune(bodiesBefore: number, rowsBefore: number): PruneCounts;
  /** Messages waiting for their handlers, and those set aside as failed. */
  backlog(): { pending: number; failed: number };
}

/** What `recordItems` added: the new messages, how many new statuses, how many of either were known before. */
export interface RecordedItems {
  fresh: InboundMessage[];
  statuses: number;
  duplicates: number;
}

/** The answer to bytes recorded before (copy it: callers may change theirs). */
export const REPEATED: Readonly<AcceptResult> = { messages: 0, statuses: 0, duplicates: 0, repeated: true };

interface MessageRow {
  seq: number;
  body_sealed: Buffer;
  attempts: number;
  message_tag: string;
  sender_tag: string;
}

interface StatusRow {
  seq: number;
  body_sealed: Buffer;
}

/** The inbox in the program's SQLite database, sealed with the program's Sealer. */
export class SqliteInboxStore implements InboxStore {
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    /** written in the same commit as the messages */
    private readonly contacts: Contacts,
  ) {
    this.stmts = {
      delivery: db.prepare('INSERT INTO whatsapp_webhook_deliveries (received_ms, body_sealed) VALUES (?, ?)'),
      closeDelivery: db.prepare('UPDATE whatsapp_webhook_deliveries SET body_tag = ? WHERE id = ?'),
      deliveryByTag: db.prepare('SELECT id FROM whatsapp_webhook_deliveries WHERE body_tag = ?').pluck(true),
      message: db.prepare(
        `INSERT OR IGNORE INTO whatsapp_inbound (message_tag, delivery_id, sender_tag, type, timestamp_ms, body_sealed, received_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      status: db.prepare(
        `INSERT OR IGNORE INTO whatsapp_statuses (wamid_tag, status, timestamp_ms, recipient_tag, body_sealed, received_ms)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      nextMessage: db.prepare(
        `SELECT seq, body_sealed, attempts, message_tag, sender_tag FROM whatsapp_inbound WHERE state = 'pending' ORDER BY seq LIMIT 1`,
      ),
      nextStatuses: db.prepare(`SELECT seq, body_sealed FROM whatsapp_statuses WHERE state = 'pending' ORDER BY seq LIMIT ?`),
      processed: db.prepare(`UPDATE whatsapp_inbound SET state = 'processed', attempts = attempts + 1, error = NULL, processed_ms = ? WHERE seq = ?`),
      attempt: db.prepare('UPDATE whatsapp_inbound SET attempts = attempts + 1, error = ? WHERE seq = ?'),
      failed: db.prepare(`UPDATE whatsapp_inbound SET state = 'failed', attempts = attempts + 1, error = ?, processed_ms = ? WHERE seq = ?`),
      statusDone: db.prepare(`UPDATE whatsapp_statuses SET state = 'processed' WHERE seq = ?`),
    };
  }

  bodyTag(rawBody: Buffer): string {
    return this.sealer.digest(rawBody);
  }

  hasBody(bodyTag: string): boolean {
    return this.stmts.deliveryByTag.get(bodyTag) !== undefined;
  }

  openDelivery(rawBody: Buffer | null, bodyTag: string, now: number): number | null {
    if (this.hasBody(bodyTag)) return null;
    return Number(this.stmts.delivery.run(now, rawBody === null ? Buffer.alloc(0) : this.sealer.seal(rawBody)).lastInsertRowid);
  }

  recordItems(deliveryId: number, items: Pick<ParsedWebhook, 'messages' | 'statuses'>, now: number): RecordedItems {
    const seal = this.sealer;
    const out: RecordedItems = { fresh: [], statuses: 0, duplicates: 0 };
    for (const m of items.messages) {
      const { changes } = this.stmts.message.run(seal.pseudonym(m.id), deliveryId, seal.pseudonym(m.from), m.type, m.timestamp, seal.seal(JSON.stringify(m)), now);
      // the window counts from the user's message, but a clock skewed into the future must not stretch it
      this.contacts.touch(m.from, Math.min(m.timestamp, now));
      if (changes) out.fresh.push(m);
      else out.duplicates++;
    }
    for (const s of items.statuses) {
      const recipient = seal.pseudonym(s.recipient);
      const body = seal.seal(JSON.stringify({ ...s, recipient } satisfies StatusUpdate));
      const { changes } = this.stmts.status.run(seal.pseudonym(s.wamid), s.status, s.timestamp, recipient, body, now);
      if (changes) out.statuses++;
      else out.duplicates++;
    }
    return out;
  }

  closeDelivery(deliveryId: number, bodyTag: string): void {
    this.stmts.closeDelivery.run(bodyTag, deliveryId);
  }

  batch<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  nextMessage(): PendingInbound | undefined {
    const row = this.stmts.nextMessage.get() as MessageRow | undefined;
    if (!row) return undefined;
    return {
      seq: row.seq,
      attempts: row.attempts,
      messageTag: row.message_tag,
      senderTag: row.sender_tag,
      open: () => JSON.parse(this.sealer.openText(row.body_sealed)) as InboundMessage,
    };
  }

  takeStatuses(limit: number, apply: (open: () => StatusUpdate) => void): number {
    const rows = this.stmts.nextStatuses.all(limit) as StatusRow[];
    if (rows.length === 0) return 0;
    this.db.transaction(() => {
      for (const r of rows) {
        apply(() => JSON.parse(this.sealer.openText(r.body_sealed)) as StatusUpdate);
        this.stmts.statusDone.run(r.seq);
      }
    }).immediate();
    return rows.length;
  }

  processed(seq: number, now: number): void {
    this.stmts.processed.run(now, seq);
  }

  attempted(seq: number, error: string): void {
    this.stmts.attempt.run(error, seq);
  }

  setAside(seq: number, error: string, now: number): void {
    this.stmts.failed.run(error, now, seq);
  }

  prune(bodiesBefore: number, rowsBefore: number): PruneCounts {
    // uncorrelated, so SQLite builds the (small) set once instead of scanning the inbound rows per delivery
    const pendingIn = `id IN (SELECT delivery_id FROM whatsapp_inbound WHERE state = 'pending')`;
    return this.db.transaction(() => {
      const run = (sql: string, ...args: number[]) => this.db.prepare(sql).run(...args).changes;
      const bodies =
        run(`UPDATE whatsapp_inbound SET body_sealed = x'' WHERE state != 'pending' AND processed_ms < ? AND length(body_sealed) > 0`, bodiesBefore) +
        run(`UPDATE whatsapp_statuses SET body_sealed = x'' WHERE state != 'pending' AND received_ms < ? AND length(body_sealed) > 0`, bodiesBefore) +
        run(`UPDATE whatsapp_webhook_deliveries SET body_sealed = x'' WHERE received_ms < ? AND length(body_sealed) > 0 AND NOT ${pendingIn}`, bodiesBefore);
      return {
        bodies,
        messages: run(`DELETE FROM whatsapp_inbound WHERE state != 'pending' AND received_ms < ? AND processed_ms < ?`, rowsBefore, bodiesBefore),
        statuses: run(`DELETE FROM whatsapp_statuses WHERE state != 'pending' AND received_ms < ?`, rowsBefore),
        deliveries: run(`DELETE FROM whatsapp_webhook_deliveries WHERE received_ms < ? AND NOT ${pendingIn}`, rowsBefore),
      };
    }).immediate();
  }

  backlog(): { pending: number; failed: number } {
    const r = this.db
      .prepare(`SELECT sum(state = 'pending') AS pending, sum(state = 'failed') AS failed FROM whatsapp_inbound`)
      .get() as { pending: number | null; failed: number | null };
    return { pending: r.pending ?? 0, failed: r.failed ?? 0 };
  }
}

/**
 * Records whole deliveries in one commit (each body unless its bytes were recorded before, also earlier in the
 * group; each new message and status): per delivery, what it added and its new messages.
 */
export function recordDeliveries(store: InboxStore, deliveries: readonly InboundDelivery[], now: number): { result: AcceptResult; fresh: InboundMessage[] }[] {
  return store.batch(() =>
    deliveries.map((d) => {
      const id = store.openDelivery(d.rawBody, d.bodyTag, now);
      if (id === null) return { result: { ...REPEATED }, fresh: [] };
      const { fresh, statuses, duplicates } = store.recordItems(id, d.parsed, now);
      store.closeDelivery(id, d.bodyTag);
      return { result: { messages: fresh.length, statuses, duplicates, repeated: false }, fresh };
    }),
  );
}
