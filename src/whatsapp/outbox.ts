import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { retryDelay } from '../retry.js';
import type { Emitter } from '../events.js';
import type { Db } from '../storage/index.js';
import type { MessageEvents } from './message-events.js';
import { Contacts } from './contacts.js';
import { RE_ENGAGEMENT, toGraphError, type GraphError } from './graph-error.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import { PAIR_BURST, SendPacer } from './pacer.js';
import { redactErrors, redactText } from './redact.js';
import type { Sealer } from '../privacy/index.js';
import type { MessageTransport } from './transport.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';
import { openMessage, openRow, toItem, type Opened, type OutboxEntry, type OutboxItem, type Row, type SendResult, type StatusEvent } from './outbox-item.js';

export type { OutboxEntry, OutboxItem, OutboxStatus, SendResult, StatusEvent } from './outbox-item.js';

export interface OutboxOptions {
  db: Db;
  transport: MessageTransport;
  log: Logger;
  /** recipients, keys, refs, wamids and messages are stored as pseudonyms or sealed, never in clear */
  sealer: Sealer;
  /** the last inbound time per user, one for the program (the inbox writes it, the outbox reads it); a tool or test that builds this alone gets its own */
  contacts?: Contacts;
  metrics?: Pick<Metrics, 'whatsappSends' | 'whatsappStatuses'>;
  /** receives `whatsapp_message` points (line protocol) for each send outcome and each delivery status */
  /** told of every message sent, refused and delivered (the `whatsapp_message` counts) */
  events?: Emitter<MessageEvents>;
  /** messages per second for the phone number (Meta: 80) */
  mps?: number;
  /** one message per this long to one recipient on average (Meta: about 6 s) */
  pairIntervalMs?: number;
  /** messages to one recipient that may go at once before the average applies (Meta: 45) */
  pairBurst?: number;
  /** attempts of a retryable failure before the item is failed */
  maxAttempts?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** requests on the wire at once */
  maxInFlight?: number;
  clock?: Clock;
  random?: () => number;
}

const DELIVERY_RANK: Record<DeliveryStatus, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
// heads examined per pass; more waiting recipients are reached on the next pass
const HEAD_SCAN = 500;

/**
 * The persistent queue between "decided to send" and WhatsApp. Items are rows in SQLite from the moment
 * `enqueue` returns, so a crash loses nothing; per recipient they leave in order, paced by SendPacer,
 * with retries for transient failures and a template fallback outside the 24-hour window.
 *
 * Recipients are grouped, paced and logged by their pseudonym; the number, the caller's key and ref, the
 * wamid (which carries the number) and the messages are sealed, and opened only to send and to answer `list`/`get`.
 */
export class Outbox {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly contacts: Contacts;
  private readonly sealer: Sealer;
  private readonly pacer: SendPacer;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly resultListeners: ((r: SendResult) => void)[] = [];
  private readonly statusListeners: ((s: StatusEvent) => void)[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private timer: Timer | undefined;
  private timerAt = Infinity;
  private readonly stmts;

  constructor(private readonly opts: OutboxOptions) {
    this.db = opts.db;
    this.log = opts.log.child({ module: 'whatsapp.outbox' });
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.pacer = new SendPacer(opts.mps ?? 80, opts.pairIntervalMs ?? 6000, opts.pairBurst);
    this.sealer = opts.sealer;
    this.contacts = opts.contacts ?? new Contacts(this.db, this.sealer);
    this.stmts = {
      insert: this.db.prepare(
        `INSERT INTO whatsapp_outbox (key_tag, key_sealed, ref_sealed, recipient_tag, recipient_sealed, kind, message_sealed, fallback_sealed, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_tag) DO NOTHING`,
      ),
      idByKey: this.db.prepare('SELECT id FROM whatsapp_outbox WHERE key_tag = ?').pluck(true),
      heads: this.db.prepare(
        `SELECT o.* FROM whatsapp_outbox o
         JOIN (SELECT min(id) AS id FROM whatsapp_outbox WHERE status IN ('pending', 'sending') GROUP BY recipient_tag) h ON h.id = o.id
         WHERE o.status = 'pending' ORDER BY o.id LIMIT ?`,
      ),
      markSending: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sending', attempts = attempts + 1, last_attempt_ms = ? WHERE id = ?`,
      ),
      markSent: this.db.prepare(
        `UPDATE whatsapp_outbox SET status = 'sent', wamid_tag = ?, wamid_sealed = ?, sent_ms = ?, error_code = NULL, error_message = NULL,
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
      backlog: this.db.prepare(`SELECT count(*) FROM whatsapp_outbox WHERE status IN ('pending', 'sending')`).pluck(),
      recentSends: this.db.prepare(
        'SELECT recipient_tag, max(last_attempt_ms) AS at FROM whatsapp_outbox WHERE last_attempt_ms > ? GROUP BY recipient_tag',
      ),
      byWamid: this.db.prepare('SELECT * FROM whatsapp_outbox WHERE wamid_tag = ?'),
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
    const seal = this.sealer;
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
      this.clock.now(),
    );
    if (info.changes === 0) return { id: this.stmts.idByKey.get(keyTag) as number, created: false };
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
  inWindow(waId: string, now = this.clock.now()): boolean {
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
    const now = this.clock.now();
    for (const r of this.stmts.recentSends.all(now - (this.opts.pairIntervalMs ?? 6000) * (this.opts.pairBurst ?? PAIR_BURST)) as { recipient_tag: string; at: number }[]) {
      this.pacer.seen(r.recipient_tag, r.at);
    }
    this.wake(0);
  }

  /** Stops taking items and waits for the requests on the wire, whose outcomes are recorded. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    this.timerAt = Infinity;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Messages not yet sent or failed for good (waiting, retrying or on the wire). */
  backlog(): number {
    return this.stmts.backlog.get() as number;
  }

  /** Records a delivery status from the webhook; called once per status by the inbox. */
  applyStatus(s: Pick<StatusUpdate, 'wamid' | 'status' | 'timestamp' | 'errors'>): void {
    const row = this.stmts.byWamid.get(this.sealer.pseudonym(s.wamid)) as Row | undefined;
    this.opts.metrics?.whatsappStatuses.inc({ status: s.status });
    this.point(row ? this.sentKind(row) : 'unknown', s.status);
    if (!row) {
      this.log.debug({ event: 'status_unknown_message', status: s.status }, 'status for a message not in the outbox');
      return;
    }
    const opened = openRow(row, this.sealer);
    let fallbackQueued = false;
    const reEngagement = s.status === 'failed' && s.errors?.some((e) => e.code === RE_ENGAGEMENT);
    if (reEngagement && row.fallback_sealed && !row.used_fallback && row.status === 'sent') {
      // Graph may accept a free-form message and refuse it later, in the status webhook
      this.stmts.markFallback.run(RE_ENGAGEMENT, 'outside the 24 h window; sending the template', row.id);
      fallbackQueued = true;
      this.wake(0);
    } else if (!row.delivery_status || DELIVERY_RANK[s.status] > DELIVERY_RANK[row.delivery_status]) {
      // webhooks arrive out of order; a late `delivered` never overwrites `read`
      this.stmts.delivery.run(s.status, s.timestamp, redactErrors(s.errors), row.id);
    }
    if (s.status === 'failed') {
      const e = s.errors?.[0];
      const title = e?.title === undefined ? undefined : redactText(e.title);
      this.log.warn({ event: 'delivery_failed', id: row.id, code: e?.code, title, to: row.recipient_tag, fallbackQueued }, 'message not delivered');
    }
    const ev: StatusEvent = {
      id: row.id,
      key: opened.key,
      to: opened.to,
      wamid: s.wamid,
      status: s.status,
      timestamp: s.timestamp,
      fallbackQueued,
      ...(opened.ref === null ? {} : { ref: opened.ref }),
      ...(s.errors ? { errors: s.errors } : {}),
    };
    this.emit(this.statusListeners, ev);
  }

  get(id: number): OutboxItem | null {
    const row = this.stmts.byId.get(id) as Row | undefined;
    return row ? toItem(row, this.sealer) : null;
  }

  /** Newest first; `before`: only ids below it (the API's next page). */
  list(opts: { limit?: number; to?: string; before?: number } = {}): OutboxItem[] {
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 5000));
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const rows = (
      opts.to === undefined
        ? this.db.prepare('SELECT * FROM whatsapp_outbox WHERE id < ? ORDER BY id DESC LIMIT ?').all(before, limit)
        : this.db
            .prepare('SELECT * FROM whatsapp_outbox WHERE recipient_tag = ? AND id < ? ORDER BY id DESC LIMIT ?')
            .all(this.sealer.pseudonym(opts.to.replace(/^\+/, '')), before, limit)
    ) as Row[];
    return rows.map((r) => toItem(r, this.sealer));
  }

  private wake(delayMs: number): void {
    if (!this.running) return;
    const at = this.clock.now() + Math.max(0, delayMs);
    if (this.timer && this.timerAt <= at) return;
    this.timer?.clear();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
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
    // the launches of one pass mark their rows in one commit (one disk flush, not one per message)
    this.db.transaction(() => {
      for (const row of rows) {
        if (this.inFlight.size >= maxInFlight) break; // a completion wakes the loop
        if (this.inFlight.has(row.recipient_tag)) continue;
        const now = this.clock.now();
        const at = Math.max(row.next_attempt_ms, this.pacer.readyAt(row.recipient_tag, now));
        if (at > now) {
          wakeAt = Math.min(wakeAt, at);
          continue;
        }
        this.pacer.take(now);
        this.launch(row, now);
      }
    })();
    if (wakeAt < Infinity) this.wake(wakeAt - this.clock.now());
  }

  private launch(row: Row, now: number): void {
    let msg: OutboundMessage;
    let opened: Opened;
    try {
      msg = openMessage(row, this.sealer);
      opened = openRow(row, this.sealer);
    } catch (err) {
      // sealed under another key (the pseudonym key changed) or damaged: it can never be sent
      this.stmts.markFailed.run(0, `cannot be opened: ${(err as Error).message}`, row.id);
      this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: 'unreadable' });
      this.log.error({ event: 'message_unreadable', id: row.id, to: row.recipient_tag }, 'outbox item cannot be opened (was the pseudonym key changed?); failed');
      return;
    }
    this.stmts.markSending.run(now, row.id);
    const attempts = row.attempts + 1;
    const p = (async () => {
      try {
        const { wamid } = await this.opts.transport.send(msg);
        this.sent(row, opened, msg, wamid);
      } catch (err) {
        this.failed(row, opened, msg, attempts, toGraphError(err));
      }
    })()
      .catch((err: unknown) => this.log.error({ event: 'outbox_record_failed', id: row.id, err }, 'could not record a send outcome'))
      .finally(() => {
        this.pacer.sent(row.recipient_tag, this.clock.now());
        this.inFlight.delete(row.recipient_tag);
        this.wake(0);
      });
    this.inFlight.set(row.recipient_tag, p);
  }

  private sent(row: Row, opened: Opened, msg: OutboundMessage, wamid: string): void {
    this.stmts.markSent.run(this.sealer.pseudonym(wamid), this.sealer.seal(wamid), this.clock.now(), row.id);
    this.opts.metrics?.whatsappSends.inc({ result: 'sent', code: '' });
    this.point(msg.type, 'accepted');
    this.log.info({ event: 'message_sent', id: row.id, kind: msg.type, to: row.recipient_tag, fallback: !!row.used_fallback }, 'sent');
    this.emit(this.resultListeners, {
      id: row.id,
      key: opened.key,
      to: opened.to,
      status: 'sent',
      wamid,
      usedFallback: !!row.used_fallback,
      ...(opened.ref === null ? {} : { ref: opened.ref }),
    });
  }

  private failed(row: Row, opened: Opened, msg: OutboundMessage, attempts: number, err: GraphError): void {
    const now = this.clock.now();
    // Graph's words may quote the recipient: masked before they are stored, logged or handed on
    const message = redactText(err.message);
    const base = { id: row.id, kind: msg.type, to: row.recipient_tag, code: err.label, attempts };
    if (err.needsTemplate && row.fallback_sealed && !row.used_fallback) {
      this.stmts.markFallback.run(err.code, message, row.id);
      this.opts.metrics?.whatsappSends.inc({ result: 'fallback', code: err.label });
      this.log.info({ event: 'message_fallback', ...base }, 'outside the 24 h window; sending the template instead');
      return;
    }
    if (err.retryable && attempts < (this.opts.maxAttempts ?? 8)) {
      const delay = this.retryDelay(attempts, err);
      this.stmts.markRetry.run(now + delay, err.code, message, row.id);
      this.opts.metrics?.whatsappSends.inc({ result: 'retry', code: err.label });
      this.log.warn({ event: 'message_retry', ...base, delayMs: delay, err: message }, 'send failed; will retry');
      return;
    }
    this.stmts.markFailed.run(err.code, message, row.id);
    this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: err.label });
    this.point(msg.type, 'rejected');
    const details = err.details === undefined ? undefined : redactText(err.details);
    this.log.error({ event: 'message_failed', ...base, err: message, details, fbtrace: err.fbtraceId }, 'send failed for good');
    this.emit(this.resultListeners, {
      id: row.id,
      key: opened.key,
      to: opened.to,
      status: 'failed',
      error: { code: err.code, message },
      usedFallback: !!row.used_fallback,
      ...(opened.ref === null ? {} : { ref: opened.ref }),
    });
  }

  /** Exponential backoff with full jitter, never sooner than Graph's Retry-After or the pair interval after 131056. */
  private retryDelay(attempts: number, err: GraphError): number {
    const backoff = retryDelay(attempts, { baseMs: this.opts.retryBaseMs ?? 1000, maxMs: this.opts.retryMaxMs ?? 300_000, jitter: 'full' }, this.random);
    const floor = Math.max(err.retryAfterMs ?? 0, err.code === 131056 ? (this.opts.pairIntervalMs ?? 6000) : 0);
    return Math.max(floor, backoff);
  }

  private sentKind(row: Row): string {
    return row.used_fallback && row.fallback_sealed ? 'template' : row.kind;
  }

  private point(kind: string, status: string): void {
    this.opts.events?.emit('message.counted', { direction: 'out', kind, status, at: this.clock.now() });
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
}
