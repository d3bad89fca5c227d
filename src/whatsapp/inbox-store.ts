import type { Sealer } from '../privacy/index.js';
import type { Db } from '../storage/index.js';
import type { SqliteContacts } from './contacts.js';
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

/**
 * The oldest message waiting for its handlers, claimed: no other call of `nextMessage` (on any instance sharing the
 * store) hands it, or a later message of its sender, out until the claim ends with `processed`, `attempted` or
 * `setAside` (exactly one of them; they fail once the claim has ended).
 */
export interface PendingInbound {
  seq: number;
  attempts: number;
  /** the message id's and the sender's pseudonyms: what logs may name */
  messageTag: string;
  senderTag: string;
  /** Throws when the message cannot be opened (sealed under another key, or damaged). */
  open(): InboundMessage;
  /** The handlers succeeded. */
  processed(now: number): Promise<void>;
  /** The handlers failed; the message stays waiting. */
  attempted(error: string): Promise<void>;
  /** The message is set aside for good (failed). */
  setAside(error: string, now: number): Promise<void>;
}

/** What `prune` removed. */
export interface PruneCounts {
  bodies: number;
  deliveries: number;
  messages: number;
  statuses: number;
}

/**
 * One delivery's part of a group commit (`InboxStore.record`): the delivery is opened unless an earlier commit
 * opened it, a slice of its elements is recorded, and when that was its last slice it is closed.
 */
export interface GroupStep {
  /** set when an earlier commit opened the delivery (a long body goes over several) */
  deliveryId?: number | undefined;
  /** the bytes to keep, sealed, when the delivery is opened (null: not kept) */
  rawBody: Buffer | null;
  bodyTag: string;
  items: Pick<ParsedWebhook, 'messages' | 'statuses'>;
  /**
   * every element is in with this step: the digest now recognises the bytes (a body cut short by a crash is
   * recorded again when Meta redelivers it, its messages and statuses deduplicated by id)
   */
  close: boolean;
}

/** What a step recorded; `deliveryId` null: the same bytes were recorded before, and nothing of the step was. */
export interface StepOutcome {
  deliveryId: number | null;
  recorded: RecordedItems;
}

/**
 * The inbox's rows: webhook deliveries, inbound messages and delivery statuses, as the inbox loop (`Inbox`) needs
 * them. An implementation keeps senders, message ids and status recipients as pseudonyms and bodies sealed, and
 * records each delivery's messages and the senders' last-inbound times (`whatsapp_contacts`) in the delivery's
 * commit. Message ids and (message id, status) pairs are unique: whoever records one first has it, a redelivery
 * (to this or any other instance sharing the store) is a duplicate.
 */
export interface InboxStore {
  /**
   * Other instances record and claim these rows too: the inbox looks for waiting work now and then, not only when
   * it records some itself.
   */
  readonly shared: boolean;
  /** The digest under which a body's bytes are recognised again. */
  bodyTag(rawBody: Buffer): string;
  /** True when these bytes were recorded before. */
  hasBody(bodyTag: string): Promise<boolean>;
  /** Records a group of deliveries' steps, in order, in one commit (one disk flush for the group). */
  record(steps: readonly GroupStep[], now: number): Promise<StepOutcome[]>;
  /** Claims the oldest waiting message whose sender has no earlier one waiting or claimed; undefined: none. */
  nextMessage(): Promise<PendingInbound | undefined>;
  /**
   * Hands up to `limit` waiting statuses, in arrival order, to `apply` and marks them done in the same commit, so
   * a status is applied once even across a crash (and by one instance of those sharing the store); `apply` gets an
   * opener that throws when the status cannot be opened, and must not throw or reject itself (a promise it returns
   * is awaited before the commit). How many were taken
   * (0: none waiting).
   */
  takeStatuses(limit: number, apply: (open: () => StatusUpdate) => unknown): Promise<number>;
  /** Finished rows lose their bodies before `bodiesBefore` and go before `rowsBefore`; waiting ones stay. */
  prune(bodiesBefore: number, rowsBefore: number): Promise<PruneCounts>;
  /** Messages waiting for their handlers, and those set aside as failed. */
  backlog(): Promise<{ pending: number; failed: number }>;
}

/** What one step added: the new messages, how many new statuses, how many of either were known before. */
export interface RecordedItems {
  fresh: InboundMessage[];
  statuses: number;
  duplicates: number;
}

/** The answer to bytes recorded before (copy it: callers may change theirs). */
export const REPEATED: Readonly<AcceptResult> = { messages: 0, statuses: 0, duplicates: 0, repeated: true };

/** A claim's three endings, once: the second call fails instead of writing over what the first one wrote. */
export function endOnce(end: (sql: 'processed' | 'attempted' | 'setAside', error: string | null, now: number | null) => Promise<void>): Pick<PendingInbound, 'processed' | 'attempted' | 'setAside'> {
  let ended = false;
  const once = (how: 'processed' | 'attempted' | 'setAside', error: string | null, now: number | null): Promise<void> => {
    if (ended) return Promise.reject(new Error('this inbound message\'s claim has ended already'));
    ended = true;
    return end(how, error, now);
  };
  return {
    processed: (now) => once('processed', null, now),
    attempted: (error) => once('attempted', error, null),
    setAside: (error, now) => once('setAside', error, now),
  };
}

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
  readonly shared = false;
  /** claimed messages' senders, by seq: one process owns the file, so its claims live in memory */
  private readonly claimed = new Map<number, string>();

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    /** written in the same commit as the messages */
    private readonly contacts: SqliteContacts,
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
      pendingMessages: db.prepare(
        `SELECT seq, body_sealed, attempts, message_tag, sender_tag FROM whatsapp_inbound WHERE state = 'pending' ORDER BY seq`,
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

  hasBody(bodyTag: string): Promise<boolean> {
    return Promise.resolve(this.knows(bodyTag));
  }

  private knows(bodyTag: string): boolean {
    return this.stmts.deliveryByTag.get(bodyTag) !== undefined;
  }

  record(steps: readonly GroupStep[], now: number): Promise<StepOutcome[]> {
    // one synchronous better-sqlite3 transaction: nothing else on the connection can slip into it
    return Promise.resolve(this.db.transaction(() => steps.map((step) => this.step(step, now))).immediate());
  }

  private step(step: GroupStep, now: number): StepOutcome {
    let id = step.deliveryId;
    if (id === undefined) {
      if (this.knows(step.bodyTag)) return { deliveryId: null, recorded: { fresh: [], statuses: 0, duplicates: 0 } };
      id = Number(this.stmts.delivery.run(now, step.rawBody === null ? Buffer.alloc(0) : this.sealer.seal(step.rawBody)).lastInsertRowid);
    }
    const recorded = this.recordItems(id, step.items, now);
    if (step.close) this.stmts.closeDelivery.run(step.bodyTag, id);
    return { deliveryId: id, recorded };
  }

  private recordItems(deliveryId: number, items: Pick<ParsedWebhook, 'messages' | 'statuses'>, now: number): RecordedItems {
    const seal = this.sealer;
    const out: RecordedItems = { fresh: [], statuses: 0, duplicates: 0 };
    for (const m of items.messages) {
      const { changes } = this.stmts.message.run(seal.pseudonym(m.id), deliveryId, seal.pseudonym(m.from), m.type, m.timestamp, seal.seal(JSON.stringify(m)), now);
      // the window counts from the user's message, but a clock skewed into the future must not stretch it
      this.contacts.touchNow(m.from, Math.min(m.timestamp, now));
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

  nextMessage(): Promise<PendingInbound | undefined> {
    // the inbox's loop ends each claim before it asks again: the one-row query is the path it takes
    let row: MessageRow | undefined;
    if (this.claimed.size === 0) row = this.stmts.nextMessage.get() as MessageRow | undefined;
    else {
      const busy = new Set(this.claimed.values());
      for (const r of this.stmts.pendingMessages.iterate() as IterableIterator<MessageRow>) {
        if (busy.has(r.sender_tag)) continue;
        row = r;
        break;
      }
    }
    if (!row) return Promise.resolve(undefined);
    const { seq } = row;
    const body = row.body_sealed;
    this.claimed.set(seq, row.sender_tag);
    const ends = endOnce(async (how, error, now) => {
      this.claimed.delete(seq);
      if (how === 'processed') this.stmts.processed.run(now, seq);
      else if (how === 'attempted') this.stmts.attempt.run(error, seq);
      else this.stmts.failed.run(error, now, seq);
    });
    return Promise.resolve({
      seq,
      attempts: row.attempts,
      messageTag: row.message_tag,
      senderTag: row.sender_tag,
      open: () => JSON.parse(this.sealer.openText(body)) as InboundMessage,
      ...ends,
    });
  }

  async takeStatuses(limit: number, apply: (open: () => StatusUpdate) => unknown): Promise<number> {
    const rows = this.stmts.nextStatuses.all(limit) as StatusRow[];
    if (rows.length === 0) return 0;
    const applying: unknown[] = [];
    this.db.transaction(() => {
      for (const r of rows) {
        const p = apply(() => JSON.parse(this.sealer.openText(r.body_sealed)) as StatusUpdate);
        if (p instanceof Promise) applying.push(p);
        this.stmts.statusDone.run(r.seq);
      }
    }).immediate();
    // a sink on this same database has written synchronously, inside the commit; one elsewhere finishes here
    await Promise.all(applying);
    return rows.length;
  }

  prune(bodiesBefore: number, rowsBefore: number): Promise<PruneCounts> {
    // uncorrelated, so SQLite builds the (small) set once instead of scanning the inbound rows per delivery
    const pendingIn = `id IN (SELECT delivery_id FROM whatsapp_inbound WHERE state = 'pending')`;
    return Promise.resolve(
      this.db.transaction(() => {
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
      }).immediate(),
    );
  }

  backlog(): Promise<{ pending: number; failed: number }> {
    const r = this.db
      .prepare(`SELECT sum(state = 'pending') AS pending, sum(state = 'failed') AS failed FROM whatsapp_inbound`)
      .get() as { pending: number | null; failed: number | null };
    return Promise.resolve({ pending: r.pending ?? 0, failed: r.failed ?? 0 });
  }
}

/**
 * Records whole deliveries in one commit (each body unless its bytes were recorded before, also earlier in the
 * group; each new message and status): per delivery, what it added and its new messages.
 */
export async function recordDeliveries(store: InboxStore, deliveries: readonly InboundDelivery[], now: number): Promise<{ result: AcceptResult; fresh: InboundMessage[] }[]> {
  const outcomes = await store.record(
    deliveries.map((d) => ({ rawBody: d.rawBody, bodyTag: d.bodyTag, items: d.parsed, close: true })),
    now,
  );
  return outcomes.map(({ deliveryId, recorded: { fresh, statuses, duplicates } }) =>
    deliveryId === null ? { result: { ...REPEATED }, fresh: [] } : { result: { messages: fresh.length, statuses, duplicates, repeated: false }, fresh },
  );
}
