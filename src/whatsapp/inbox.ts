import { nextTurn, realClock, type Clock, type Timer } from '../clock.js';
import { retryDelay } from '../retry.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Emitter } from '../events.js';
import type { Db } from '../storage/index.js';
import type { MessageEvents } from './message-events.js';
import { Contacts } from './contacts.js';
import { redactText } from './redact.js';
import type { Sealer } from '../privacy/index.js';
import { parseWebhook, type InboundMessage, type ParsedWebhook, type StatusUpdate } from './webhook.js';

/** The body of a webhook POST is not JSON (answered 400; Meta does not redeliver a 4xx forever). */
export class InvalidWebhookBody extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWebhookBody';
  }
}

export interface StatusSink {
  /** `recipient` is the recipient's pseudonym (`Sealer.pseudonym`): the inbox keeps no number of a status */
  applyStatus(s: StatusUpdate): void;
}

export type MessageHandler = (m: InboundMessage) => Promise<void> | void;

export interface InboxOptions {
  db: Db;
  log: Logger;
  /** pseudonyms for senders and message ids, sealing for raw bodies and messages: nothing stored in clear */
  sealer: Sealer;
  /** the last inbound time per user, one for the program (the inbox writes it, the outbox reads it); a tool or test that builds this alone gets its own */
  contacts?: Contacts;
  /** receives delivery statuses in order (the outbox) */
  statuses?: StatusSink;
  metrics?: Pick<Metrics, 'whatsappInbound' | 'whatsappInboxFailures' | 'whatsappWebhookSkipped'>;
  /** receives `whatsapp_message` points (direction in) for each new inbound message */
  /** told of every new inbound message (the `whatsapp_message` counts) */
  events?: Emitter<MessageEvents>;
  /** handler runs per message before it is set aside as failed */
  maxAttempts?: number;
  retryDelayMs?: number;
  /** a handler that takes longer counts as failed */
  handlerTimeoutMs?: number;
  clock?: Clock;
}

export interface AcceptResult {
  messages: number;
  statuses: number;
  /** messages and statuses already received before (Meta redelivers) */
  duplicates: number;
  /** the very same bytes were recorded before: nothing in them was stored or counted again */
  repeated: boolean;
}

interface MessageRow {
  seq: number;
  body_sealed: Buffer;
  attempts: number;
}

interface StatusRow {
  seq: number;
  body_sealed: Buffer;
}

/** A verified body waiting for the next group commit. */
interface Delivery {
  rawBody: Buffer;
  bodyTag: string;
  parsed: ParsedWebhook;
  resolve: (r: AcceptResult) => void;
  reject: (err: unknown) => void;
}

/** The most body bytes one group commit of webhook deliveries seals and writes. */
const GROUP_BYTES = 1024 * 1024;

const REPEATED: AcceptResult = { messages: 0, statuses: 0, duplicates: 0, repeated: true };

const DAY = 86_400_000;
/** Sealed bodies of finished rows (they hold residents' numbers and words) are kept this long, for inspection. */
export const INBOX_BODY_KEEP_MS = 3 * DAY;
/** Message ids and body digests are kept this long: Meta redelivers for up to 7 days, and each must be known. */
export const INBOX_ID_KEEP_MS = 8 * DAY;

/**
 * The durable inbox behind the webhook: `accept` records a delivery and its messages in one transaction and
 * returns, so the HTTP answer is fast and nothing is lost; the processor then hands each message, once and in
 * arrival order, to the handlers. Message ids are unique: Meta's redeliveries (for up to 7 days) are ignored.
 *
 * Nothing is stored in clear that names a person: senders, message ids (a wamid carries the number) and status
 * recipients are kept as keyed pseudonyms, raw bodies and messages sealed (AES-256-GCM); the handlers get the
 * opened message, in memory only.
 */
export class Inbox {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly contacts: Contacts;
  private readonly sealer: Sealer;
  private readonly clock: Clock;
  private readonly handlers: MessageHandler[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private again = false;
  private timer: Timer | undefined;
  private readonly stmts;

  constructor(private readonly opts: InboxOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ module: 'whatsapp.inbox' });
    this.clock = opts.clock ?? realClock;
    this.sealer = opts.sealer;
    this.contacts = opts.contacts ?? new Contacts(this.db, this.sealer);
    this.stmts = {
      delivery: this.db.prepare('INSERT INTO whatsapp_webhook_deliveries (received_ms, body_sealed, body_tag) VALUES (?, ?, ?)'),
      deliveryByTag: this.db.prepare('SELECT id FROM whatsapp_webhook_deliveries WHERE body_tag = ?').pluck(true),
      message: this.db.prepare(
        `INSERT OR IGNORE INTO whatsapp_inbound (message_tag, delivery_id, sender_tag, type, timestamp_ms, body_sealed, received_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      status: this.db.prepare(
        `INSERT OR IGNORE INTO whatsapp_statuses (wamid_tag, status, timestamp_ms, recipient_tag, body_sealed, received_ms)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      nextMessage: this.db.prepare(`SELECT seq, body_sealed, attempts FROM whatsapp_inbound WHERE state = 'pending' ORDER BY seq LIMIT 1`),
      nextStatuses: this.db.prepare(`SELECT seq, body_sealed FROM whatsapp_statuses WHERE state = 'pending' ORDER BY seq LIMIT 100`),
      processed: this.db.prepare(`UPDATE whatsapp_inbound SET state = 'processed', attempts = attempts + 1, error = NULL, processed_ms = ? WHERE seq = ?`),
      attempt: this.db.prepare('UPDATE whatsapp_inbound SET attempts = attempts + 1, error = ? WHERE seq = ?'),
      failed: this.db.prepare(`UPDATE whatsapp_inbound SET state = 'failed', attempts = attempts + 1, error = ?, processed_ms = ? WHERE seq = ?`),
      statusDone: this.db.prepare(`UPDATE whatsapp_statuses SET state = 'processed' WHERE seq = ?`),
    };
  }

  /**
   * Records one verified webhook body: the raw bytes (sealed; bytes already recorded are not stored again), each new
   * message (a redelivered message id is ignored), the senders' last-inbound times, and the statuses. Resolves once
   * they are committed; rejects with InvalidWebhookBody when the body is not JSON. Bodies that arrive in the same
   * turn of the event loop share one commit (one fsync), as readings do in the journal: a burst of webhooks costs
   * one disk flush, not one each.
   */
  accept(rawBody: Buffer): Promise<AcceptResult> {
    // Meta redelivers the same bytes (up to 3 MB each) until it sees a 200, and sometimes after: one copy will do,
    // and everything in it was recorded with it
    const bodyTag = this.sealer.digest(rawBody);
    if (this.stmts.deliveryByTag.get(bodyTag) !== undefined) return Promise.resolve({ ...REPEATED });
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch (err) {
      return Promise.reject(new InvalidWebhookBody(`webhook body is not JSON: ${(err as Error).message}`));
    }
    const parsed = parseWebhook(json);
    return new Promise((resolve, reject) => {
      this.deliveries.push({ rawBody, bodyTag, parsed, resolve, reject });
      if (this.deliveries.length === 1) setImmediate(() => this.commitDeliveries());
    });
  }

  private deliveries: Delivery[] = [];

  private commitDeliveries(): void {
    // sealing and writing a body costs tens of milliseconds a megabyte: a group holds at most GROUP_BYTES (and at
    // least one body), the rest waits for the next turn
    let n = 0;
    for (let bytes = 0; n < this.deliveries.length && (n === 0 || bytes + this.deliveries[n]!.rawBody.length <= GROUP_BYTES); n++) {
      bytes += this.deliveries[n]!.rawBody.length;
    }
    const batch = this.deliveries.splice(0, n);
    if (this.deliveries.length > 0) setImmediate(() => this.commitDeliveries());
    const now = this.clock.now();
    const fresh: InboundMessage[][] = batch.map(() => []);
    let results: AcceptResult[];
    try {
      results = this.db.transaction(() => batch.map((d, i) => this.record(d, now, fresh[i]!)))();
    } catch (err) {
      for (const d of batch) d.reject(err);
      return;
    }
    batch.forEach((d, i) => {
      this.count(fresh[i]!);
      for (const m of fresh[i]!) this.opts.metrics?.whatsappInbound.inc({ type: m.type });
      if (d.parsed.skipped) {
        // counted, never quoted: a skipped element may hold a number or a resident's words
        this.opts.metrics?.whatsappWebhookSkipped.inc(d.parsed.skipped);
        this.log.warn({ event: 'webhook_elements_skipped', count: d.parsed.skipped }, 'webhook elements not understood');
      }
      d.resolve(results[i]!);
    });
    if (results.some((r) => r.messages > 0 || r.statuses > 0)) this.kick();
  }

  /** One delivery's rows, inside the group's transaction; `fresh` receives its new messages. */
  private record(d: Delivery, now: number, fresh: InboundMessage[]): AcceptResult {
    // the same bytes twice in one group: the second is a repeat of the first
    if (this.stmts.deliveryByTag.get(d.bodyTag) !== undefined) return { ...REPEATED };
    const seal = this.sealer;
    const result: AcceptResult = { messages: 0, statuses: 0, duplicates: 0, repeated: false };
    const deliveryId = Number(this.stmts.delivery.run(now, seal.seal(d.rawBody), d.bodyTag).lastInsertRowid);
    for (const m of d.parsed.messages) {
      const { changes } = this.stmts.message.run(seal.pseudonym(m.id), deliveryId, seal.pseudonym(m.from), m.type, m.timestamp, seal.seal(JSON.stringify(m)), now);
      // the window counts from the user's message, but a clock skewed into the future must not stretch it
      this.contacts.touch(m.from, Math.min(m.timestamp, now));
      if (changes) fresh.push(m);
      else result.duplicates++;
    }
    for (const s of d.parsed.statuses) {
      const recipient = seal.pseudonym(s.recipient);
      const body = seal.seal(JSON.stringify({ ...s, recipient } satisfies StatusUpdate));
      const { changes } = this.stmts.status.run(seal.pseudonym(s.wamid), s.status, s.timestamp, recipient, body, now);
      if (changes) result.statuses++;
      else result.duplicates++;
    }
    result.messages = fresh.length;
    return result;
  }

  /** Registers a handler; handlers run in registration order, each message once they all succeeded. */
  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.kick();
  }

  /** Stops after the message being handled, if any. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    await this.loop;
  }

  /**
   * The retention schedule's part of the inbox (run daily). Finished rows lose their sealed bodies (residents'
   * numbers and words) INBOX_BODY_KEEP_MS after they were handled; the rows themselves, which keep only the
   * pseudonymous message id or body digest that dedupes Meta's redeliveries (up to 7 days), go after
   * INBOX_ID_KEEP_MS. Pending messages, and the deliveries they came in, stay whatever their age.
   */
  prune(now = this.clock.now()): { bodies: number; deliveries: number; messages: number; statuses: number } {
    const bodiesBefore = now - INBOX_BODY_KEEP_MS;
    const rowsBefore = now - INBOX_ID_KEEP_MS;
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
    })();
  }

  /** Messages waiting for their handlers, and those set aside as failed. */
  backlog(): { pending: number; failed: number } {
    const r = this.db
      .prepare(`SELECT sum(state = 'pending') AS pending, sum(state = 'failed') AS failed FROM whatsapp_inbound`)
      .get() as { pending: number | null; failed: number | null };
    return { pending: r.pending ?? 0, failed: r.failed ?? 0 };
  }

  private kick(): void {
    if (!this.running) return;
    if (this.loop) {
      this.again = true;
      return;
    }
    this.loop = this.drain()
      .catch((err: unknown) => {
        this.log.error({ event: 'inbox_loop_failed', err }, 'inbox processing stopped on an error; retrying');
        this.timer = this.clock.setTimeout(() => this.kick(), 1000);
      })
      .finally(() => {
        this.loop = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  // Handlers mostly finish without real I/O (their awaits resolve at once), so a backlog would run in one turn of
  // the event loop, each message a few synchronous commits: the loop waits for the next turn before each message
  // and each batch of statuses, and readings and requests are served in between.
  private async drain(): Promise<void> {
    while (this.running) {
      this.again = false;
      await this.drainStatuses();
      const row = this.stmts.nextMessage.get() as MessageRow | undefined;
      if (!row) return;
      await this.handle(row);
      await nextTurn();
    }
  }

  private async drainStatuses(): Promise<void> {
    while (this.running) {
      const rows = this.stmts.nextStatuses.all() as StatusRow[];
      if (rows.length === 0) return;
      // applying and marking commit together (one commit for the batch), so a status is applied once even across a crash
      this.db.transaction(() => {
        for (const r of rows) {
          try {
            this.opts.statuses?.applyStatus(JSON.parse(this.sealer.openText(r.body_sealed)) as StatusUpdate);
          } catch (err) {
            this.log.error({ event: 'status_apply_failed', err }, 'a delivery status could not be applied; skipped');
          }
          this.stmts.statusDone.run(r.seq);
        }
      })();
      await nextTurn();
    }
  }

  private async handle(row: MessageRow): Promise<void> {
    let m: InboundMessage;
    try {
      m = JSON.parse(this.sealer.openText(row.body_sealed)) as InboundMessage;
    } catch (err) {
      // sealed under another key (the pseudonym key changed) or damaged: it can never be handled
      this.stmts.failed.run(`cannot be opened: ${(err as Error).message}`, this.clock.now(), row.seq);
      this.opts.metrics?.whatsappInboxFailures.inc();
      this.log.error({ event: 'inbound_unreadable', seq: row.seq }, 'inbound message cannot be opened (was the pseudonym key changed?); set aside');
      return;
    }
    const maxAttempts = this.opts.maxAttempts ?? 3;
    try {
      for (const h of this.handlers) await this.withTimeout(Promise.resolve().then(() => h(m)));
      this.stmts.processed.run(this.clock.now(), row.seq);
    } catch (err) {
      // a handler's message may quote the sender or the text: masked before it is stored or logged
      const error = redactText(err instanceof Error ? err.message : String(err));
      const attempts = row.attempts + 1;
      const log = {
        event: 'inbound_handler_failed',
        message: this.sealer.pseudonym(m.id),
        type: m.type,
        from: this.sealer.pseudonym(m.from),
        attempts,
        err: error,
      };
      if (attempts >= maxAttempts) {
        // set aside so one poisonous message never blocks the ones behind it
        this.stmts.failed.run(error.slice(0, 2000), this.clock.now(), row.seq);
        this.opts.metrics?.whatsappInboxFailures.inc();
        this.log.error(log, 'inbound message set aside after repeated handler failures');
      } else {
        this.stmts.attempt.run(error.slice(0, 2000), row.seq);
        this.log.warn(log, 'inbound message handler failed; will retry');
        await this.clock.sleep(retryDelay(attempts, { baseMs: this.opts.retryDelayMs ?? 500, maxMs: 30_000, jitter: 'none' }));
      }
    }
  }

  private withTimeout(p: Promise<void>): Promise<void> {
    const ms = this.opts.handlerTimeoutMs ?? 30_000;
    let t: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = this.clock.setTimeout(() => reject(new Error(`handler took longer than ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => t?.clear());
  }

  private count(fresh: InboundMessage[]): void {
    // the bus isolates its listeners: a count is never worth refusing a webhook over (Meta would redeliver for days)
    const at = this.clock.now();
    for (const m of fresh) this.opts.events?.emit('message.counted', { direction: 'in', kind: m.type, status: 'received', at });
  }
}
