import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Emitter } from '../events.js';
import type { MessageEvents } from './message-events.js';
import type { ContactWindow } from './contacts.js';
import { RE_ENGAGEMENT, toGraphError, type GraphError } from './graph-error.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import type { OpenedHead, OutboxHead, OutboxStore } from './outbox-store.js';
import { PAIR_BURST, SendPacer } from './pacer.js';
import { MessagingLimit, type MessagingLimitTier } from './messaging-limit.js';
import { SERVICE_WINDOW_MS } from './contacts.js';
import { redactErrors, redactText } from './redact.js';
import { afterSendFailure, type SendRetryPolicy } from './retry-policy.js';
import type { MessageTransport } from './transport.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';
import type { OutboxEntry, OutboxItem, SendResult, StatusEvent } from './outbox-item.js';

export type { OutboxEntry, OutboxItem, OutboxStatus, SendResult, StatusEvent } from './outbox-item.js';

export interface OutboxOptions {
  /** the rows; recipients, keys, refs, wamids and messages are kept as pseudonyms or sealed, never in clear */
  store: OutboxStore;
  transport: MessageTransport;
  log: Logger;
  /** the last inbound time per user, one for the program (the inbox writes it, the outbox reads it) */
  contacts: ContactWindow;
  metrics?: Pick<Metrics, 'whatsappSends' | 'whatsappStatuses'>;
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
  /** Meta's messaging limit: unique users messaged outside their 24-hour window in any moving 24 h; default unlimited */
  messagingLimit?: MessagingLimitTier | number;
  clock?: Clock;
  random?: () => number;
}

const DELIVERY_RANK: Record<DeliveryStatus, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
// heads examined per pass; more waiting recipients are reached on the next pass
const HEAD_SCAN = 500;

/**
 * The send loop between "decided to send" and WhatsApp, over a durable OutboxStore. Items are rows from the
 * moment `enqueue` returns, so a crash loses nothing; per recipient they leave in order, paced by SendPacer,
 * with retries for transient failures (the pure `afterSendFailure`) and a template fallback outside the 24-hour
 * window.
 *
 * Recipients are grouped, paced and logged by their pseudonym; the number, the caller's key and ref, the
 * wamid (which carries the number) and the messages are opened only to send and to answer `list`/`get`.
 */
export class Outbox {
  private readonly store: OutboxStore;
  private readonly log: Logger;
  private readonly pacer: SendPacer;
  private readonly limit: MessagingLimit;
  /** items marked as held by the messaging limit (marked once, not on every pass) */
  private readonly held = new Set<number>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retry: SendRetryPolicy;
  private readonly resultListeners: ((r: SendResult) => void)[] = [];
  private readonly statusListeners: ((s: StatusEvent) => void)[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private timer: Timer | undefined;
  private timerAt = Infinity;

  constructor(private readonly opts: OutboxOptions) {
    this.store = opts.store;
    this.log = opts.log.child({ module: 'whatsapp.outbox' });
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.pacer = new SendPacer(opts.mps ?? 80, opts.pairIntervalMs ?? 6000, opts.pairBurst);
    this.limit = MessagingLimit.of(opts.messagingLimit ?? 'unlimited');
    this.retry = {
      maxAttempts: opts.maxAttempts ?? 8,
      backoff: { baseMs: opts.retryBaseMs ?? 1000, maxMs: opts.retryMaxMs ?? 300_000, jitter: 'full' },
      pairIntervalMs: opts.pairIntervalMs ?? 6000,
    };
  }

  /**
   * Adds a message, durably, and returns at once. Synchronous, so it can run inside the caller's
   * transaction (same database): the decision and the message commit together or not at all.
   */
  enqueue(item: OutboxEntry): { id: number; created: boolean } {
    const to = recipientOf(item.message);
    if (to !== item.to.replace(/^\+/, '')) throw new RangeError('enqueue: `to` differs from the message recipient');
    if (item.fallback && recipientOf(item.fallback) !== to) throw new RangeError('enqueue: the fallback goes to another recipient');
    const added = this.store.add(item, to, this.clock.now());
    // after the caller's transaction has committed (transactions in better-sqlite3 are synchronous)
    if (added.created) this.wake(0);
    return added;
  }

  onResult(listener: (r: SendResult) => void): void {
    this.resultListeners.push(listener);
  }

  onStatus(listener: (s: StatusEvent) => void): void {
    this.statusListeners.push(listener);
  }

  /** True when the user wrote within the last 24 hours (free-form messages allowed). */
  inWindow(waId: string, now = this.clock.now()): boolean {
    return this.opts.contacts.inWindow(waId, now);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // At-least-once, narrowly: an item still `sending` was handed to Graph when the process stopped, but whether
    // Graph accepted it is unknown (the answer was lost with the process). It is sent again; a duplicate needs a
    // crash inside one request's round trip, whereas skipping it could lose a crew dispatch for good.
    const recovered = this.store.recoverInterrupted();
    if (recovered > 0) this.log.warn({ event: 'outbox_recovered', items: recovered }, 'resending items interrupted mid-send');
    const now = this.clock.now();
    for (const r of this.store.recentSends(now - (this.opts.pairIntervalMs ?? 6000) * (this.opts.pairBurst ?? PAIR_BURST))) {
      this.pacer.seen(r.recipient, r.at);
    }
    for (const r of this.store.recentInitiated(now - SERVICE_WINDOW_MS)) this.limit.seen(r.recipient, r.at);
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
    return this.store.backlog();
  }

  /** How many of these items (ids `enqueue` returned) are not yet sent or failed for good. */
  unfinished(ids: readonly number[]): number {
    return ids.length === 0 ? 0 : this.store.unfinished(ids);
  }

  /** Meta's messaging limit now: unique users reached outside their window in the last 24 hours, of `limit` (Infinity: unlimited). */
  messagingLimitUsage(now = this.clock.now()): { used: number; limit: number } {
    return { used: this.limit.used(now), limit: this.limit.limit };
  }

  /** When `n` more users outside their window could all be reached, sending from `from` with nothing else competing (an estimate). */
  reachAllBy(n: number, from = this.clock.now()): number | null {
    return this.limit.reachAllBy(n, from, this.opts.mps ?? 80);
  }

  /** Records a delivery status from the webhook; called once per status by the inbox. */
  applyStatus(s: Pick<StatusUpdate, 'wamid' | 'status' | 'timestamp' | 'errors'>): void {
    const sent = this.store.byWamid(s.wamid);
    this.opts.metrics?.whatsappStatuses.inc({ status: s.status });
    this.point(sent ? sent.sentKind : 'unknown', s.status);
    if (!sent) {
      this.log.debug({ event: 'status_unknown_message', status: s.status }, 'status for a message not in the outbox');
      return;
    }
    const opened = sent.open();
    let fallbackQueued = false;
    const reEngagement = s.status === 'failed' && s.errors?.some((e) => e.code === RE_ENGAGEMENT);
    if (reEngagement && sent.hasFallback && !sent.usedFallback && sent.status === 'sent') {
      // Graph may accept a free-form message and refuse it later, in the status webhook
      this.store.useFallback(sent.id, RE_ENGAGEMENT, 'outside the 24 h window; sending the template');
      fallbackQueued = true;
      this.wake(0);
    } else if (!sent.delivery || DELIVERY_RANK[s.status] > DELIVERY_RANK[sent.delivery]) {
      // webhooks arrive out of order; a late `delivered` never overwrites `read`
      this.store.delivery(sent.id, s.status, s.timestamp, redactErrors(s.errors));
    }
    if (s.status === 'failed') {
      const e = s.errors?.[0];
      const title = e?.title === undefined ? undefined : redactText(e.title);
      this.log.warn({ event: 'delivery_failed', id: sent.id, code: e?.code, title, to: sent.recipient, fallbackQueued }, 'message not delivered');
    }
    const ev: StatusEvent = {
      id: sent.id,
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
    return this.store.get(id);
  }

  /** Newest first; `before`: only ids below it (the API's next page). */
  list(opts: { limit?: number; to?: string; before?: number } = {}): OutboxItem[] {
    return this.store.list({
      limit: Math.max(1, Math.min(opts.limit ?? 100, 5000)),
      before: opts.before ?? Number.MAX_SAFE_INTEGER,
      to: opts.to?.replace(/^\+/, ''),
    });
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
    let heads: OutboxHead[];
    try {
      heads = this.store.heads(HEAD_SCAN);
    } catch (err) {
      this.log.error({ event: 'outbox_read_failed', err }, 'could not read the outbox; trying again');
      this.wake(1000);
      return;
    }
    // the launches of one pass mark their rows in one commit (one disk flush, not one per message); heads come
    // most urgent first, so they take the send rate's tokens and the messaging limit's room before the others
    this.store.batch(() => {
      for (const head of heads) {
        if (this.inFlight.size >= maxInFlight) break; // a completion wakes the loop
        if (this.inFlight.has(head.recipient)) continue;
        const now = this.clock.now();
        const at = Math.max(head.nextAttemptMs, this.pacer.readyAt(head.recipient, now));
        if (at > now) {
          wakeAt = Math.min(wakeAt, at);
          continue;
        }
        const opened = this.open(head);
        if (!opened) continue;
        // outside the window (or refused as such, hence the fallback) the message starts a conversation Meta counts
        const initiated = head.usedFallback || !this.opts.contacts.inWindow(opened.to, now);
        if (initiated) {
          const room = this.limit.readyAt(head.recipient, now);
          if (room > now) {
            wakeAt = Math.min(wakeAt, room);
            this.hold(head);
            continue;
          }
        }
        this.pacer.take();
        this.launch(head, opened, now, initiated);
      }
    });
    if (wakeAt < Infinity) this.wake(wakeAt - this.clock.now());
  }

  /** The head's message and addressee, or null when it can never be opened (then failed). */
  private open(head: OutboxHead): OpenedHead | null {
    try {
      return head.open();
    } catch (err) {
      // sealed under another key (the pseudonym key changed) or damaged: it can never be sent
      this.store.failed(head.id, 0, `cannot be opened: ${(err as Error).message}`);
      this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: 'unreadable' });
      this.log.error({ event: 'message_unreadable', id: head.id, to: head.recipient }, 'outbox item cannot be opened (was the pseudonym key changed?); failed');
      return null;
    }
  }

  /** No room under the messaging limit: the item waits, marked so (once) for whoever looks at it. */
  private hold(head: OutboxHead): void {
    if (this.held.has(head.id)) return;
    this.held.add(head.id);
    this.store.hold(head.id, 'messaging_limit');
    this.log.info({ event: 'message_held', id: head.id, to: head.recipient, ...this.messagingLimitUsage() }, 'messaging limit reached; the message waits for room');
  }

  private launch(head: OutboxHead, opened: OpenedHead, now: number, initiated: boolean): void {
    this.store.claim(head.id, now);
    this.held.delete(head.id);
    if (initiated) this.limit.reserve(head.recipient);
    const attempts = head.attempts + 1;
    let accepted = false;
    const p = (async () => {
      let wamid: string;
      try {
        ({ wamid } = await this.opts.transport.send(opened.message));
      } catch (err) {
        this.store.batch(() => this.failed(head, opened, attempts, toGraphError(err)));
        return;
      }
      accepted = true;
      // the outcome and what listeners record of it (a notice's recipient) commit together: one disk flush a message.
      // A failure to record it is not a failed send (that would send it again): it is logged below.
      this.store.batch(() => this.sent(head, opened, wamid, initiated));
    })()
      .catch((err: unknown) => this.log.error({ event: 'outbox_record_failed', id: head.id, err }, 'could not record a send outcome'))
      .finally(() => {
        if (initiated) this.limit.settle(head.recipient, accepted, this.clock.now());
        this.pacer.sent(head.recipient, this.clock.now());
        this.inFlight.delete(head.recipient);
        this.wake(0);
      });
    this.inFlight.set(head.recipient, p);
  }

  private sent(head: OutboxHead, opened: OpenedHead, wamid: string, initiated: boolean): void {
    const msg = opened.message;
    this.store.sent(head.id, wamid, this.clock.now(), initiated);
    this.opts.metrics?.whatsappSends.inc({ result: 'sent', code: '' });
    this.point(msg.type, 'accepted');
    this.log.info({ event: 'message_sent', id: head.id, kind: msg.type, to: head.recipient, fallback: head.usedFallback }, 'sent');
    this.emit(this.resultListeners, {
      id: head.id,
      key: opened.key,
      to: opened.to,
      status: 'sent',
      wamid,
      usedFallback: head.usedFallback,
      ...(opened.ref === null ? {} : { ref: opened.ref }),
    });
  }

  private failed(head: OutboxHead, opened: OpenedHead, attempts: number, err: GraphError): void {
    const msg: OutboundMessage = opened.message;
    // Graph's words may quote the recipient: masked before they are stored, logged or handed on
    const message = redactText(err.message);
    const base = { id: head.id, kind: msg.type, to: head.recipient, code: err.label, attempts };
    const verdict = afterSendFailure(err, { attempts, hasFallback: head.hasFallback, usedFallback: head.usedFallback }, this.retry, this.random);
    if (verdict.action === 'fallback') {
      this.store.useFallback(head.id, err.code, message);
      this.opts.metrics?.whatsappSends.inc({ result: 'fallback', code: err.label });
      this.log.info({ event: 'message_fallback', ...base }, 'outside the 24 h window; sending the template instead');
      return;
    }
    if (verdict.action === 'retry') {
      this.store.retryAt(head.id, this.clock.now() + verdict.delayMs, err.code, message);
      this.opts.metrics?.whatsappSends.inc({ result: 'retry', code: err.label });
      this.log.warn({ event: 'message_retry', ...base, delayMs: verdict.delayMs, err: message }, 'send failed; will retry');
      return;
    }
    this.store.failed(head.id, err.code, message);
    this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: err.label });
    this.point(msg.type, 'rejected');
    const details = err.details === undefined ? undefined : redactText(err.details);
    this.log.error({ event: 'message_failed', ...base, err: message, details, fbtrace: err.fbtraceId }, 'send failed for good');
    this.emit(this.resultListeners, {
      id: head.id,
      key: opened.key,
      to: opened.to,
      status: 'failed',
      error: { code: err.code, message },
      usedFallback: head.usedFallback,
      ...(opened.ref === null ? {} : { ref: opened.ref }),
    });
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
