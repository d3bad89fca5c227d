import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { toLine, type Db } from '../storage/index.js';
import { Contacts } from './contacts.js';
import { RE_ENGAGEMENT, toGraphError, type GraphError } from './graph-error.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import { SendPacer } from './pacer.js';
import { contactTag } from './redact.js';
import type { MessageTransport } from './transport.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';
import { toItem, type OutboxEntry, type OutboxItem, type Row, type SendResult, type StatusEvent } from './outbox-item.js';

export type { OutboxEntry, OutboxItem, OutboxStatus, SendResult, StatusEvent } from './outbox-item.js';

export interface OutboxOptions {
  db: Db;
  transport: MessageTransport;
  log: Logger;
  metrics?: Pick<Metrics, 'whatsappSends' | 'whatsappStatuses'>;
  /** receives `whatsapp_message` points (line protocol) for each send outcome and each delivery status */
  recordPoints?: (lines: string[]) => void;
  /** messages per second for the phone number (Meta: 80) */
  mps?: number;
  /** at least this long between two messages to one recipient (Meta: about 6 s) */
  pairIntervalMs?: number;
  /** attempts of a retryable failure before the item is failed */
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** requests on the wire at once */
  maxInFlight?: number;
  /** key for the contact tags in log lines */
  logKey?: string;
  now?: () => number;
  random?: () => number;
}

const DELIVERY_RANK: Record<DeliveryStatus, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
// heads examined per pass; more waiting recipients are reached on the next pass
const HEAD_SCAN = 500;

/**
 * The persistent queue between "decided to send" and WhatsApp. Items are rows in SQLite from the moment
 * `enqueue` returns, so a crash loses nothing; per recipient they leave in order, paced by SendPacer,
 * with retries for transient failures and a template fallback outside the 24-hour window.
 */
export class Outbox {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly contacts: Contacts;
  private readonly pacer: SendPacer;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly resultListeners: ((r: SendResult) => void)[] = [];
  private readonly statusListeners: ((s: StatusEvent) => void)[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private lastPointTs = 0;
  private readonly stmts;

  constructor(private readonly opts: OutboxOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ module: 'whatsapp.outbox' });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.pacer = new SendPacer(opts.mps ?? 80, opts.pairIntervalMs ?? 6000);
    this.contacts = new Contacts(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS whatsapp_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        ref TEXT,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        fallback TEXT,
        used_fallback INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_attempt_ms INTEGER,
        wamid TEXT,
        error_code INTEGER,
        error_message TEXT,
        delivery_status TEXT,
        delivery_ms INTEGER,
        delivery_errors TEXT,
        created_ms INTEGER NOT NULL,
        sent_ms INTEGER
      );
      CREATE INDEX IF NOT EXISTS whatsapp_outbox_queue ON whatsapp_outbox (status, recipient, id);
      CREATE INDEX IF NOT EXISTS whatsapp_outbox_wamid ON whatsapp_outbox (wamid);
      CREATE INDEX IF NOT EXISTS whatsapp_outbox_recipient ON whatsapp_outbox (recipient, id);
    `);
    this.stmts = {
      insert: this.db.prepare(
        `INSERT INTO whatsapp_outbox (key, ref, recipient, kind, message, fallback, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
      ),
      idByKey: this.db.prepare('SELECT id FROM whatsapp_outbox WHERE key = ?').pluck(true),
      heads: this.db.prepare(
        `SELECT o.* FROM whatsapp_outbox o
         JOIN (SELECT min(id) AS id FROM whatsapp_outbox WHERE status IN ('pending', 'sending') GROUP BY recipient) h ON h.id = o.id
         WHERE o.status = 'pending' ORDER BY o.id LIMIT ?`,
      ),
      markSending: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sending', attempts = attempts + 1, last_attempt_ms = ? WHERE id = ?`,
      ),
      markSent: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sent', wamid = ?, sent_ms = ?, error_code = NULL, error_message = NULL,
         delivery_status = NULL, delivery_ms = NULL, delivery_errors = NULL WHERE id = ?`,
      ),
      markRetry: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'pending', next_attempt_ms = ?, error_code = ?, error_message = ? WHERE id = ?`,
      ),
      markFallback: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'pending', used_fallback = 1, next_attempt_ms = 0, error_code = ?, error_message = ?
         WHERE id = ?`,
      ),
      markFailed: this.db.prepare(`UPDATE whatsapp_outbox SET status = 'failed', error_code = ?, error_message = ? WHERE id = ?`),
      recover: this.db.prepare(`UPDATE whatsapp_outbox SET status = 'pending' WHERE status = 'sending'`),
      recentSends: this.db.prepare(
        'SELECT recipient, max(last_attempt_ms) AS at FROM whatsapp_outbox WHERE last_attempt_ms > ? GROUP BY recipient',
      ),
      byWamid: this.db.prepare('SELECT * FROM whatsapp_outbox WHERE wamid = ?'),
      byId: this.db.prepare('SELECT * FROM whatsapp_outbox WHERE id = ?'),
      delivery: this.db.prepare(
        'UPDATE whatsapp_outbox SET delivery_status = ?, delivery_ms = ?, delivery_errors = ? WHERE id = ?',
      ),
    };
  }

  /**
   * Adds a message, durably, and returns at once. Synchronous, so it can run inside the caller's
   * `db.transaction` (same Db): the decision and the message commit together or not at all.
   */
  enqueue(item: OutboxEntry): { id: number; created: boolean } {
    const to = recipientOf(item.message);
    if (to !== item.to.replace(/^\+/, '')) throw new RangeError('enqueue: `to` differs from the message recipient');
    if (item.fallback && recipientOf(item.fallback) !== to) throw new RangeError('enqueue: the fallback goes to another recipient');
    const info = this.stmts.insert.run(
      item.key,
      item.ref ?? null,
      to,
      item.message.type,
      JSON.stringify(item.message),
      item.fallback ? JSON.stringify(item.fallback) : null,
      this.now(),
    );
    if (info.changes === 0) return { id: this.stmts.idByKey.get(item.key) as number, created: false };
    // after the caller's transaction has committed (transactions in better-sqlite3 are synchronous)
    this.wake(0);
    return { id: Number(info.lastInsertRowid), created: true };
  }

  onResult(listener: (r: SendResult) => void): void {
    this.resultListeners.push(listener);
  }

  onStatus(listener: (s: StatusEvent) => void): void {
    this.statusListeners.push(listener);
  }

  /** True when the user wrote within the last 24 hours (free-form messages allowed). */
  inWindow(waId: string, now = this.now()): boolean {
    return this.contacts.inWindow(waId, now);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // At-least-once, narrowly: an item still `sending` was handed to Graph when the process stopped, but whether
    // Graph accepted it is unknown (the answer was lost with the process). It is sent again; a duplicate needs a
    // crash inside one request's round trip, whereas skipping it could lose a crew dispatch for good.
    const recovered = this.stmts.recover.run().changes;
    if (recovered > 0) this.log.warn({ event: 'outbox_recovered', items: recovered }, 'resending items interrupted mid-send');
    const now = this.now();
    for (const r of this.stmts.recentSends.all(now - (this.opts.pairIntervalMs ?? 6000)) as { recipient: string; at: number }[]) {
      this.pacer.seen(r.recipient, r.at);
    }
    this.wake(0);
  }

  /** Stops taking items and waits for the requests on the wire, whose outcomes are recorded. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Records a delivery status from the webhook; called once per status by the inbox. */
  applyStatus(s: Pick<StatusUpdate, 'wamid' | 'status' | 'timestamp' | 'errors'>): void {
    const row = this.stmts.byWamid.get(s.wamid) as Row | undefined;
    this.opts.metrics?.whatsappStatuses.inc({ status: s.status });
    this.point(row ? this.sentKind(row) : 'unknown', s.status);
    if (!row) {
      this.log.debug({ event: 'status_unknown_message', status: s.status }, 'status for a message not in the outbox');
      return;
    }
    let fallbackQueued = false;
    const reEngagement = s.status === 'failed' && s.errors?.some((e) => e.code === RE_ENGAGEMENT);
    if (reEngagement && row.fallback && !row.used_fallback && row.status === 'sent') {
      // Graph may accept a free-form message and refuse it later, in the status webhook
      this.stmts.markFallback.run(RE_ENGAGEMENT, 'outside the 24 h window; sending the template', row.id);
      fallbackQueued = true;
      this.wake(0);
    } else if (!row.delivery_status || DELIVERY_RANK[s.status] > DELIVERY_RANK[row.delivery_status]) {
      // webhooks arrive out of order; a late `delivered` never overwrites `read`
      this.stmts.delivery.run(s.status, s.timestamp, s.errors ? JSON.stringify(s.errors) : null, row.id);
    }
    if (s.status === 'failed') {
      const e = s.errors?.[0];
      this.log.warn({ event: 'delivery_failed', id: row.id, code: e?.code, title: e?.title, to: this.tag(row.recipient), fallbackQueued }, 'message not delivered');
    }
    const ev: StatusEvent = {
      id: row.id,
      key: row.key,
      to: row.recipient,
      wamid: s.wamid,
      status: s.status,
      timestamp: s.timestamp,
      fallbackQueued,
      ...(row.ref === null ? {} : { ref: row.ref }),
      ...(s.errors ? { errors: s.errors } : {}),
    };
    this.emit(this.statusListeners, ev);
  }

  get(id: number): OutboxItem | null {
    const row = this.stmts.byId.get(id) as Row | undefined;
    return row ? toItem(row) : null;
  }

  /** Newest first. */
  list(opts: { limit?: number; to?: string } = {}): OutboxItem[] {
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 1000));
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_outbox ORDER BY id DESC LIMIT ?').all(limit)
        : this.db.prepare('SELECT * FROM whatsapp_outbox WHERE recipient = ? ORDER BY id DESC LIMIT ?').all(opts.to.replace(/^\+/, ''), limit)
    ) as Row[];
    return rows.map(toItem);
  }

  private wake(delayMs: number): void {
    if (!this.running) return;
    const at = this.now() + Math.max(0, delayMs);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pass();
    }, Math.max(0, delayMs));
  }

  /** One look at the queue: sends what may go now, sleeps until the earliest item that may go later. */
  private pass(): void {
    if (!this.running) return;
    const maxInFlight = this.opts.maxInFlight ?? 16;
    let wakeAt = Infinity;
    let rows: Row[];
    try {
      rows = this.stmts.heads.all(HEAD_SCAN) as Row[];
    } catch (err) {
      this.log.error({ event: 'outbox_read_failed', err }, 'could not read the outbox; trying again');
      this.wake(1000);
      return;
    }
    for (const row of rows) {
      if (this.inFlight.size >= maxInFlight) break; // a completion wakes the loop
      if (this.inFlight.has(row.recipient)) continue;
      const now = this.now();
      const at = Math.max(row.next_attempt_ms, this.pacer.readyAt(row.recipient, now));
      if (at > now) {
        wakeAt = Math.min(wakeAt, at);
        continue;
      }
      this.pacer.take(row.recipient, now);
      this.launch(row, now);
    }
    if (wakeAt < Infinity) this.wake(wakeAt - this.now());
  }

  private launch(row: Row, now: number): void {
    const msg = JSON.parse(row.used_fallback && row.fallback ? row.fallback : row.message) as OutboundMessage;
    this.stmts.markSending.run(now, row.id);
    const attempts = row.attempts + 1;
    const p = (async () => {
      try {
        const { wamid } = await this.opts.transport.send(msg);
        this.sent(row, msg, wamid);
      } catch (err) {
        this.failed(row, msg, attempts, toGraphError(err));
      }
    })()
      .catch((err: unknown) => this.log.error({ event: 'outbox_record_failed', id: row.id, err }, 'could not record a send outcome'))
      .finally(() => {
        // Meta measures the pair interval on arrival; counting from the answer too keeps a slow request
        // (connection set-up, a retry) from bringing the next message closer than the interval at Meta's end
        this.pacer.seen(row.recipient, this.now());
        this.inFlight.delete(row.recipient);
        this.wake(0);
      });
    this.inFlight.set(row.recipient, p);
  }

  private sent(row: Row, msg: OutboundMessage, wamid: string): void {
    this.stmts.markSent.run(wamid, this.now(), row.id);
    this.opts.metrics?.whatsappSends.inc({ result: 'sent', code: '' });
    this.point(msg.type, 'accepted');
    this.log.info({ event: 'message_sent', id: row.id, kind: msg.type, to: this.tag(row.recipient), fallback: !!row.used_fallback }, 'sent');
    this.emit(this.resultListeners, {
      id: row.id,
      key: row.key,
      to: row.recipient,
      status: 'sent',
      wamid,
      usedFallback: !!row.used_fallback,
      ...(row.ref === null ? {} : { ref: row.ref }),
    });
  }

  private failed(row: Row, msg: OutboundMessage, attempts: number, err: GraphError): void {
    const now = this.now();
    const base = { id: row.id, kind: msg.type, to: this.tag(row.recipient), code: err.label, attempts };
    if (err.needsTemplate && row.fallback && !row.used_fallback) {
      this.stmts.markFallback.run(err.code, err.message, row.id);
      this.opts.metrics?.whatsappSends.inc({ result: 'fallback', code: err.label });
      this.log.info({ event: 'message_fallback', ...base }, 'outside the 24 h window; sending the template instead');
      return;
    }
    if (err.retryable && attempts < (this.opts.maxAttempts ?? 8)) {
      const delay = this.retryDelay(attempts, err);
      this.stmts.markRetry.run(now + delay, err.code, err.message, row.id);
      this.opts.metrics?.whatsappSends.inc({ result: 'retry', code: err.label });
      this.log.warn({ event: 'message_retry', ...base, delayMs: delay, err: err.message }, 'send failed; will retry');
      return;
    }
    this.stmts.markFailed.run(err.code, err.message, row.id);
    this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: err.label });
    this.point(msg.type, 'rejected');
    this.log.error({ event: 'message_failed', ...base, err: err.message, details: err.details, fbtrace: err.fbtraceId }, 'send failed for good');
    this.emit(this.resultListeners, {
      id: row.id,
      key: row.key,
      to: row.recipient,
      status: 'failed',
      error: { code: err.code, message: err.message },
      usedFallback: !!row.used_fallback,
      ...(row.ref === null ? {} : { ref: row.ref }),
    });
  }

  /** Exponential backoff with full jitter, never sooner than Graph's Retry-After or the pair interval after 131056. */
  private retryDelay(attempts: number, err: GraphError): number {
    const cap = Math.min(this.opts.retryMaxMs ?? 300_000, (this.opts.retryBaseMs ?? 1000) * 2 ** (attempts - 1));
    const floor = Math.max(err.retryAfterMs ?? 0, err.code === 131056 ? (this.opts.pairIntervalMs ?? 6000) : 0);
    return Math.max(floor, Math.round(this.random() * cap));
  }

  private sentKind(row: Row): string {
    return row.used_fallback && row.fallback ? 'template' : row.kind;
  }

  private point(kind: string, status: string): void {
    if (!this.opts.recordPoints) return;
    // InfluxDB keeps one point per series and timestamp: two counts in one millisecond must not overwrite each other
    const ts = Math.max(this.now(), this.lastPointTs + 1);
    this.lastPointTs = ts;
    try {
      this.opts.recordPoints([toLine('whatsapp_message', { direction: 'out', kind, status }, { count: 1 }, ts)]);
    } catch (err) {
      this.log.error({ event: 'points_failed', err }, 'could not record whatsapp_message points');
    }
  }

  private emit<T>(listeners: ((v: T) => void)[], value: T): void {
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        this.log.error({ event: 'outbox_listener_failed', err }, 'an outbox listener threw');
      }
    }
  }

  private tag(id: string): string {
    return contactTag(id, this.opts.logKey);
  }
}
