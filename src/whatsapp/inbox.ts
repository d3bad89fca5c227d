import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { toLine, type Db } from '../storage/index.js';
import { Contacts } from './contacts.js';
import { contactTag } from './redact.js';
import { parseWebhook, type InboundMessage, type StatusUpdate } from './webhook.js';

/** The body of a webhook POST is not JSON (answered 400; Meta does not redeliver a 4xx forever). */
export class InvalidWebhookBody extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWebhookBody';
  }
}

export interface StatusSink {
  applyStatus(s: StatusUpdate): void;
}

export type MessageHandler = (m: InboundMessage) => Promise<void> | void;

export interface InboxOptions {
  db: Db;
  log: Logger;
  /** receives delivery statuses in order (the outbox) */
  statuses?: StatusSink;
  metrics?: Pick<Metrics, 'whatsappInbound' | 'whatsappInboxFailures'>;
  /** receives `whatsapp_message` points (direction in) for each new inbound message */
  recordPoints?: (lines: string[]) => void;
  /** handler runs per message before it is set aside as failed */
  maxAttempts?: number;
  retryDelayMs?: number;
  /** a handler that takes longer counts as failed */
  handlerTimeoutMs?: number;
  logKey?: string;
  now?: () => number;
}

export interface AcceptResult {
  messages: number;
  statuses: number;
  /** messages and statuses already received before (Meta redelivers) */
  duplicates: number;
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  attempts: number;
}

interface StatusRow {
  seq: number;
  body: string;
}

/**
 * The durable inbox behind the webhook: `accept` records a delivery and its messages in one transaction and
 * returns, so the HTTP answer is fast and nothing is lost; the processor then hands each message, once and in
 * arrival order, to the handlers. Message ids are unique: Meta's redeliveries (for up to 7 days) are ignored.
 */
export class Inbox {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly contacts: Contacts;
  private readonly now: () => number;
  private readonly handlers: MessageHandler[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPointTs = 0;
  private readonly stmts;

  constructor(private readonly opts: InboxOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ module: 'whatsapp.inbox' });
    this.now = opts.now ?? Date.now;
    this.contacts = new Contacts(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS whatsapp_webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, body BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS whatsapp_inbound (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        delivery_id INTEGER NOT NULL,
        sender TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        received_ms INTEGER NOT NULL,
        processed_ms INTEGER
      );
      CREATE INDEX IF NOT EXISTS whatsapp_inbound_state ON whatsapp_inbound (state, seq);
      CREATE TABLE IF NOT EXISTS whatsapp_statuses (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        wamid TEXT NOT NULL,
        status TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        received_ms INTEGER NOT NULL,
        UNIQUE (wamid, status)
      );
      CREATE INDEX IF NOT EXISTS whatsapp_statuses_state ON whatsapp_statuses (state, seq);
    `);
    this.stmts = {
      delivery: this.db.prepare('INSERT INTO whatsapp_webhook_deliveries (received_ms, body) VALUES (?, ?)'),
      message: this.db.prepare(
        `INSERT OR IGNORE INTO whatsapp_inbound (message_id, delivery_id, sender, type, timestamp_ms, body, received_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      status: this.db.prepare(
        'INSERT OR IGNORE INTO whatsapp_statuses (wamid, status, timestamp_ms, body, received_ms) VALUES (?, ?, ?, ?, ?)',
      ),
      nextMessage: this.db.prepare(`SELECT seq, message_id, body, attempts FROM whatsapp_inbound WHERE state = 'pending' ORDER BY seq LIMIT 1`),
      nextStatuses: this.db.prepare(`SELECT seq, body FROM whatsapp_statuses WHERE state = 'pending' ORDER BY seq LIMIT 100`),
      processed: this.db.prepare(`UPDATE whatsapp_inbound SET state = 'processed', attempts = attempts + 1, error = NULL, processed_ms = ? WHERE seq = ?`),
      attempt: this.db.prepare('UPDATE whatsapp_inbound SET attempts = attempts + 1, error = ? WHERE seq = ?'),
      failed: this.db.prepare(`UPDATE whatsapp_inbound SET state = 'failed', attempts = attempts + 1, error = ?, processed_ms = ? WHERE seq = ?`),
      statusDone: this.db.prepare(`UPDATE whatsapp_statuses SET state = 'processed' WHERE seq = ?`),
    };
  }

  /**
   * Records one verified webhook body: the raw bytes, each new message (a redelivered message id is ignored),
   * the senders' last-inbound times, and the statuses. Throws InvalidWebhookBody when the body is not JSON.
   */
  accept(rawBody: Buffer): AcceptResult {
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch (err) {
      throw new InvalidWebhookBody(`webhook body is not JSON: ${(err as Error).message}`);
    }
    const parsed = parseWebhook(json);
    const now = this.now();
    const result: AcceptResult = { messages: 0, statuses: 0, duplicates: 0 };
    const fresh: InboundMessage[] = [];
    this.db.transaction(() => {
      const deliveryId = Number(this.stmts.delivery.run(now, rawBody).lastInsertRowid);
      for (const m of parsed.messages) {
        const { changes } = this.stmts.message.run(m.id, deliveryId, m.from, m.type, m.timestamp, JSON.stringify(m), now);
        // the window counts from the user's message, but a clock skewed into the future must not stretch it
        this.contacts.touch(m.from, Math.min(m.timestamp, now));
        if (changes) fresh.push(m);
        else result.duplicates++;
      }
      for (const s of parsed.statuses) {
        const { changes } = this.stmts.status.run(s.wamid, s.status, s.timestamp, JSON.stringify(s), now);
        if (changes) result.statuses++;
        else result.duplicates++;
      }
      result.messages = fresh.length;
    })();
    this.points(fresh);
    for (const m of fresh) this.opts.metrics?.whatsappInbound.inc({ type: m.type });
    if (parsed.skipped) this.log.warn({ event: 'webhook_elements_skipped', count: parsed.skipped }, 'webhook elements not understood');
    if (fresh.length || result.statuses) this.kick();
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.loop;
  }

  /** Drops raw bodies and finished rows older than `beforeMs` (they hold residents' numbers and words). */
  prune(beforeMs: number): { deliveries: number; messages: number; statuses: number } {
    return this.db.transaction(() => ({
      messages: this.db.prepare(`DELETE FROM whatsapp_inbound WHERE state != 'pending' AND received_ms < ?`).run(beforeMs).changes,
      statuses: this.db.prepare(`DELETE FROM whatsapp_statuses WHERE state != 'pending' AND received_ms < ?`).run(beforeMs).changes,
      deliveries: this.db
        .prepare('DELETE FROM whatsapp_webhook_deliveries WHERE received_ms < ? AND id NOT IN (SELECT delivery_id FROM whatsapp_inbound)')
        .run(beforeMs).changes,
    }))();
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
        this.timer = setTimeout(() => this.kick(), 1000);
      })
      .finally(() => {
        this.loop = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    while (this.running) {
      this.again = false;
      this.drainStatuses();
      const row = this.stmts.nextMessage.get() as MessageRow | undefined;
      if (!row) return;
      await this.handle(row);
    }
  }

  private drainStatuses(): void {
    for (;;) {
      const rows = this.stmts.nextStatuses.all() as StatusRow[];
      if (rows.length === 0) return;
      for (const r of rows) {
        // applying and marking commit together, so a status is applied once even across a crash
        this.db.transaction(() => {
          try {
            this.opts.statuses?.applyStatus(JSON.parse(r.body) as StatusUpdate);
          } catch (err) {
            this.log.error({ event: 'status_apply_failed', err }, 'a delivery status could not be applied; skipped');
          }
          this.stmts.statusDone.run(r.seq);
        })();
      }
    }
  }

  private async handle(row: MessageRow): Promise<void> {
    const m = JSON.parse(row.body) as InboundMessage;
    const maxAttempts = this.opts.maxAttempts ?? 3;
    try {
      for (const h of this.handlers) await this.withTimeout(Promise.resolve().then(() => h(m)));
      this.stmts.processed.run(this.now(), row.seq);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const attempts = row.attempts + 1;
      const log = { event: 'inbound_handler_failed', messageId: m.id, type: m.type, from: contactTag(m.from, this.opts.logKey), attempts, err: error };
      if (attempts >= maxAttempts) {
        // set aside so one poisonous message never blocks the ones behind it
        this.stmts.failed.run(error.slice(0, 2000), this.now(), row.seq);
        this.opts.metrics?.whatsappInboxFailures.inc();
        this.log.error(log, 'inbound message set aside after repeated handler failures');
      } else {
        this.stmts.attempt.run(error.slice(0, 2000), row.seq);
        this.log.warn(log, 'inbound message handler failed; will retry');
        await new Promise((r) => setTimeout(r, (this.opts.retryDelayMs ?? 500) * 2 ** (attempts - 1)));
      }
    }
  }

  private withTimeout(p: Promise<void>): Promise<void> {
    const ms = this.opts.handlerTimeoutMs ?? 30_000;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`handler took longer than ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(t));
  }

  private points(fresh: InboundMessage[]): void {
    if (!this.opts.recordPoints || fresh.length === 0) return;
    const lines = fresh.map((m) => {
      // one point per message even within one millisecond (same series and timestamp would overwrite)
      this.lastPointTs = Math.max(this.now(), this.lastPointTs + 1);
      return toLine('whatsapp_message', { direction: 'in', kind: m.type, status: 'received' }, { count: 1 }, this.lastPointTs);
    });
    // a count is not worth refusing a webhook over (a refused delivery is redelivered, maybe for days)
    try {
      this.opts.recordPoints(lines);
    } catch (err) {
      this.log.error({ event: 'points_failed', err }, 'could not record whatsapp_message points');
    }
  }
}
