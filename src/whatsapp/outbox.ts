import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Emitter } from '../events.js';
import type { MessageEvents } from './message-events.js';
import type { ContactWindow } from './contacts.js';
import { RE_ENGAGEMENT, toGraphError, type GraphError } from './graph-error.js';
import { recipientOf, type OutboundMessage } from './messages.js';
import type { OpenedHead, OutboxHead, OutboxStore, SendOutcome, SentMessage } from './outbox-store.js';
import { PAIR_BURST, SendPacer } from './pacer.js';
import { MessagingLimit, type MessagingLimitTier } from './messaging-limit.js';
import { SERVICE_WINDOW_MS } from './contacts.js';
import { redactErrors, redactText } from './redact.js';
import { afterSendFailure, type SendRetryPolicy } from './retry-policy.js';
import type { MessageTransport } from './transport.js';
import type { DeliveryStatus, StatusUpdate } from './webhook.js';
import type { OutboxEntry, OutboxItem, SendResult, StatusEvent } from './outbox-item.js';
import type { Queryable } from '../storage/postgres/index.js';

export type { OutboxEntry, OutboxItem, OutboxStatus, SendResult, StatusEvent } from './outbox-item.js';

export interface OutboxOptions {
  /** the rows; recipients, keys, refs, wamids and messages are kept as pseudonyms or sealed, never in clear */
  store: OutboxStore;
  transport: MessageTransport;
  log: Logger;
  /** the last inbound time per user, where the inbox keeps it (the inbox writes it, the outbox reads it) */
  contacts: ContactWindow;
  metrics?: Pick<Metrics, 'whatsappSends' | 'whatsappStatuses' | 'outboxClaimConflicts'>;
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
  /** a shared store (PostgreSQL): a claim older than this is from a dead instance and is sent again (STALE_CLAIM_MS) */
  staleClaimMs?: number;
  /** a shared store: how often the loop looks at the rows when nothing here wakes it (others add and finish messages too) */
  pollMs?: number;
  clock?: Clock;
  random?: () => number;
}

const DELIVERY_RANK: Record<DeliveryStatus, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
// heads examined per pass; more waiting recipients are reached on the next pass
const HEAD_SCAN = 500;
/**
 * A claim older than this is from an instance that died with the message on the wire (a shared store frees it for the
 * others). A live instance's request ends within the Graph client's timeout (10 s) and is recorded at once, so this
 * is six times that: failover of a message takes up to this long, and a shorter bound would risk a live send twice.
 */
export const STALE_CLAIM_MS = 60_000;
// how far back a look at a shared store's sends reaches behind the last look: a claim committed a moment after
// another look began, with an earlier time, is still seen
const SHARED_LOOKBACK_MS = 5_000;
const FALLBACK_AFTER_STATUS = 'outside the 24 h window; sending the template';

/** The outbox in a caller's transaction: see `Outbox.within`. */
export interface TxOutbox {
  /** Adds a message (the same key again names the first message); committed with the caller's transaction. */
  add(item: OutboxEntry): Promise<{ id: number; created: boolean }>;
  /** How many of these items (ids `add` returned) are not yet sent or failed for good. */
  unfinished(ids: readonly number[]): Promise<number>;
}

/**
 * The send loop between "decided to send" and WhatsApp, over a durable OutboxStore. Items are rows from the
 * moment `add` returns (or the caller's transaction commits, `within`), so a crash loses nothing; per recipient they
 * leave in order, paced by SendPacer, with retries for transient failures (the pure `afterSendFailure`) and a template fallback outside the 24-hour
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
  private readonly staleClaimMs: number;
  private readonly pollMs: number;
  /** the pass running now (a pass awaits the store), and whether another was asked for meanwhile */
  private passing: Promise<void> | null = null;
  private passAgain = false;
  /** a shared store: the attempts (id:attempts) already counted by the pacer, this instance's own or others', and when */
  private readonly counted = new Map<string, number>();
  private sharedSeenTo = 0;
  private recoveredAt = -Infinity;
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
    this.staleClaimMs = opts.staleClaimMs ?? STALE_CLAIM_MS;
    this.pollMs = opts.pollMs ?? 1000;
  }

  /** Checks a message before it is stored; the recipient as stored. */
  private recipient(item: OutboxEntry): string {
    const to = recipientOf(item.message);
    if (to !== item.to.replace(/^\+/, '')) throw new RangeError('add: `to` differs from the message recipient');
    if (item.fallback && recipientOf(item.fallback) !== to) throw new RangeError('add: the fallback goes to another recipient');
    return to;
  }

  /** Adds a message, durably (committed when this resolves); the same key again names the first message. Any store. */
  async add(item: OutboxEntry): Promise<{ id: number; created: boolean }> {
    const added = await this.store.add(item, this.recipient(item), this.clock.now());
    if (added.created) this.wake(0);
    return added;
  }

  /**
   * The outbox in a caller's transaction (`Decisions.outbox`): a message added there commits with the caller's
   * decision, or not at all, and the send loop is woken once it has committed.
   */
  within(tx: { client: Queryable | null; afterCommit(fn: () => void): void }): TxOutbox {
    const rows = this.store.bound(tx.client);
    return {
      add: async (item) => {
        const added = await rows.add(item, this.recipient(item), this.clock.now());
        if (added.created) tx.afterCommit(() => this.wake(0));
        return added;
      },
      unfinished: (ids) => (ids.length === 0 ? Promise.resolve(0) : rows.unfinished(ids)),
    };
  }

  onResult(listener: (r: SendResult) => void): void {
    this.resultListeners.push(listener);
  }

  onStatus(listener: (s: StatusEvent) => void): void {
    this.statusListeners.push(listener);
  }

  /** True when the user wrote within the last 24 hours (free-form messages allowed), as every instance sees it. */
  inWindow(waId: string, now = this.clock.now()): Promise<boolean> {
    return this.opts.contacts.inWindow(waId, now);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // the first pass follows what a start reads; a wake meanwhile asks for it (pass)
    this.passing = this.begin()
      .catch((err: unknown) => this.log.error({ event: 'outbox_start_failed', err }, 'could not read the outbox at start; going on'))
      .finally(() => {
        this.passing = null;
        this.passAgain = false;
        this.wake(0);
      });
  }

  /** What a start reads once: claims left by a stopped process, and the sends the pacer and the limit must remember. */
  private async begin(): Promise<void> {
    const now = this.clock.now();
    // At-least-once, narrowly: an item still `sending` was handed to Graph when the process stopped, but whether
    // Graph accepted it is unknown (the answer was lost with the process). It is sent again; a duplicate needs a
    // crash inside one request's round trip, whereas skipping it could lose a crew dispatch for good. A shared store
    // frees only claims older than the stale bound: a younger one may be another live instance's request.
    await this.recoverStale(now, true);
    for (const r of await this.store.recentSends(now - (this.opts.pairIntervalMs ?? 6000) * (this.opts.pairBurst ?? PAIR_BURST))) {
      this.pacer.seen(r.recipient, r.at);
    }
    for (const r of await this.store.recentInitiated(now - SERVICE_WINDOW_MS)) this.limit.seen(r.recipient, r.at);
    this.sharedSeenTo = now;
  }

  private async recoverStale(now: number, atStart = false): Promise<void> {
    if (!atStart && (!this.store.shared || now - this.recoveredAt < this.staleClaimMs / 4)) return;
    this.recoveredAt = now;
    const recovered = await this.store.recoverInterrupted(this.store.shared ? now - this.staleClaimMs : Number.MAX_SAFE_INTEGER);
    if (recovered > 0) this.log.warn({ event: 'outbox_recovered', items: recovered }, 'resending items interrupted mid-send');
  }

  /** Stops taking items and waits for the requests on the wire, whose outcomes are recorded. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    this.timerAt = Infinity;
    await this.passing;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Messages not yet sent or failed for good (waiting, retrying or on the wire). */
  backlog(): Promise<number> {
    return this.store.backlog();
  }

  /** Meta's messaging limit now: unique users reached outside their window in the last 24 hours, of `limit` (Infinity: unlimited). */
  messagingLimitUsage(now = this.clock.now()): { used: number; limit: number } {
    return { used: this.limit.used(now), limit: this.limit.limit };
  }

  /** When `n` more users outside their window could all be reached, sending from `from` with nothing else competing (an estimate). */
  reachAllBy(n: number, from = this.clock.now()): number | null {
    return this.limit.reachAllBy(n, from, this.opts.mps ?? 80);
  }

  /**
   * Records a delivery status from the webhook; called once per status by the inbox. Where the rows are in SQLite it
   * is done when this returns, inside the inbox's transaction (its statuses commit together); on PostgreSQL when the
   * returned promise resolves.
   */
  applyStatus(s: Pick<StatusUpdate, 'wamid' | 'status' | 'timestamp' | 'errors'>): void | Promise<void> {
    const local = this.store.local;
    if (local) {
      const sent = local.byWamid(s.wamid);
      const step = this.statusStep(s, sent);
      if (step === 'fallback') local.useFallback(sent!.id, RE_ENGAGEMENT, FALLBACK_AFTER_STATUS);
      else if (step === 'delivery') local.delivery(sent!.id, s.status, s.timestamp, redactErrors(s.errors));
      this.statusApplied(s, sent, step);
      return;
    }
    const applied = (async () => {
      const sent = await this.store.byWamid(s.wamid);
      const step = this.statusStep(s, sent);
      if (step === 'fallback') await this.store.useFallback(sent!.id, RE_ENGAGEMENT, FALLBACK_AFTER_STATUS);
      else if (step === 'delivery') await this.store.delivery(sent!.id, s.status, s.timestamp, redactErrors(s.errors));
      this.statusApplied(s, sent, step);
    })();
    // logged here too: a caller written for SQLite's synchronous answer does not wait for it
    applied.catch((err: unknown) => this.log.error({ event: 'status_record_failed', err }, 'could not record a delivery status'));
    return applied;
  }

  /** What a status changes of the message it names: nothing, its delivery, or its fallback goes next. */
  private statusStep(s: Pick<StatusUpdate, 'status' | 'errors'>, sent: SentMessage | undefined): 'fallback' | 'delivery' | null {
    if (!sent) return null;
    const reEngagement = s.status === 'failed' && s.errors?.some((e) => e.code === RE_ENGAGEMENT);
    // Graph may accept a free-form message and refuse it later, in the status webhook
    if (reEngagement && sent.hasFallback && !sent.usedFallback && sent.status === 'sent') return 'fallback';
    // webhooks arrive out of order; a late `delivered` never overwrites `read`
    if (!sent.delivery || DELIVERY_RANK[s.status] > DELIVERY_RANK[sent.delivery]) return 'delivery';
    return null;
  }

  private statusApplied(s: Pick<StatusUpdate, 'wamid' | 'status' | 'timestamp' | 'errors'>, sent: SentMessage | undefined, step: 'fallback' | 'delivery' | null): void {
    this.opts.metrics?.whatsappStatuses.inc({ status: s.status });
    this.point(sent ? sent.sentKind : 'unknown', s.status);
    if (!sent) {
      this.log.debug({ event: 'status_unknown_message', status: s.status }, 'status for a message not in the outbox');
      return;
    }
    const opened = sent.open();
    const fallbackQueued = step === 'fallback';
    if (fallbackQueued) this.wake(0);
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

  get(id: number): Promise<OutboxItem | null> {
    return this.store.get(id);
  }

  /** Newest first; `before`: only ids below it (the API's next page). */
  list(opts: { limit?: number; to?: string; before?: number } = {}): Promise<OutboxItem[]> {
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

  /** Runs one pass, or asks for another after the one running (a pass awaits the store). */
  private pass(): void {
    if (!this.running) return;
    if (this.passing) {
      this.passAgain = true;
      return;
    }
    this.passing = this.look()
      .catch((err: unknown) => {
        this.log.error({ event: 'outbox_read_failed', err }, 'could not read the outbox; trying again');
        this.wake(1000);
      })
      .finally(() => {
        this.passing = null;
        if (this.passAgain) {
          this.passAgain = false;
          this.wake(0);
        }
      });
  }

  /** A shared store: what the other instances sent since the last look, for the pacer and the messaging limit. */
  private async seeOthers(now: number): Promise<void> {
    // a little behind the last look: a claim committed late with an earlier time is still seen (and counted once)
    const since = this.sharedSeenTo - SHARED_LOOKBACK_MS;
    for (const s of await this.store.sendsSince(since)) {
      const key = `${s.id}:${s.attempts}`;
      if (this.counted.has(key)) continue;
      this.counted.set(key, s.at);
      this.pacer.seenElsewhere(s.recipient, s.at);
    }
    for (const r of await this.store.recentInitiated(since)) this.limit.seen(r.recipient, r.at);
    this.sharedSeenTo = now;
    for (const [key, at] of this.counted) if (at <= since) this.counted.delete(key);
  }

  /** One look at the queue: sends what may go now, sleeps until the earliest item that may go later. */
  private async look(): Promise<void> {
    const maxInFlight = this.opts.maxInFlight ?? 16;
    let wakeAt = Infinity;
    const heads = await this.store.heads(HEAD_SCAN);
    if (this.store.shared) {
      const now = this.clock.now();
      // after the heads: a head that another instance's send made the head (it finished the one before) comes with
      // that send seen, so the recipient's pace holds across instances
      await this.seeOthers(now);
      await this.recoverStale(now);
      // others add and finish messages too: look again soon even when nothing here calls for it
      wakeAt = now + this.pollMs;
    }
    if (!this.running) return;
    // heads come most urgent first, so they take the send rate's tokens and the messaging limit's room before the
    // others; those chosen are claimed together, in one commit (one disk flush, not one per message)
    const chosen: { head: OutboxHead; opened: OpenedHead; initiated: boolean }[] = [];
    const taken = new Set<string>();
    const unreadable: { head: OutboxHead; err: Error }[] = [];
    const held: OutboxHead[] = [];
    for (const head of heads) {
      if (this.inFlight.size + chosen.length >= maxInFlight) break; // a completion wakes the loop
      if (this.inFlight.has(head.recipient) || taken.has(head.recipient)) continue;
      const now = this.clock.now();
      const at = Math.max(head.nextAttemptMs, this.pacer.readyAt(head.recipient, now));
      if (at > now) {
        wakeAt = Math.min(wakeAt, at);
        continue;
      }
      const opened = this.open(head, unreadable);
      if (!opened) continue;
      // outside the window (or refused as such, hence the fallback) the message starts a conversation Meta counts
      const initiated = head.usedFallback || !(await this.opts.contacts.inWindow(opened.to, now));
      if (initiated) {
        const room = this.limit.readyAt(head.recipient, now);
        if (room > now) {
          wakeAt = Math.min(wakeAt, room);
          this.hold(head, held);
          continue;
        }
        this.limit.reserve(head.recipient);
      }
      this.pacer.take();
      taken.add(head.recipient);
      chosen.push({ head, opened, initiated });
    }
    if (chosen.length > 0) {
      const now = this.clock.now();
      let claimed: Set<number>;
      let limited = new Set<number>();
      try {
        const limit = this.limit.limit < Infinity ? { users: this.limit.limit, windowMs: SERVICE_WINDOW_MS } : undefined;
        const got = await this.store.claim(
          chosen.map((c) => ({ id: c.head.id, attempts: c.head.attempts, initiated: c.initiated })),
          now,
          limit,
        );
        claimed = new Set(got.claimed);
        limited = new Set(got.limited);
      } catch (err) {
        claimed = new Set();
        this.log.error({ event: 'outbox_claim_failed', err }, 'could not claim messages to send; trying again');
        wakeAt = Math.min(wakeAt, this.clock.now() + 1000);
      }
      for (const c of chosen) {
        if (claimed.has(c.head.id)) {
          if (this.store.shared) this.counted.set(`${c.head.id}:${c.head.attempts + 1}`, now);
          this.launch(c.head, c.opened, now, c.initiated);
          continue;
        }
        this.pacer.cancel();
        if (c.initiated) this.limit.settle(c.head.recipient, false, now);
        if (limited.has(c.head.id)) {
          // the other instances' sends on the wire filled the limit: it waits, and the next look tries again
          this.hold(c.head, held);
          continue;
        }
        // another instance claimed it first, or has a message to this recipient on the wire: not ours to send
        this.opts.metrics?.outboxClaimConflicts.inc();
        this.log.debug({ event: 'outbox_claim_conflict', id: c.head.id, to: c.head.recipient }, 'another instance has this message or its recipient');
      }
    }
    // the rows' marks come last, after every claimed message is on its way: a failure here loses only a mark
    if (wakeAt < Infinity) this.wake(wakeAt - this.clock.now());
    for (const { head, err } of unreadable) {
      // sealed under another key (the pseudonym key changed) or damaged: it can never be sent
      await this.store.record(head.id, head.attempts, { status: 'failed', code: 0, message: `cannot be opened: ${err.message}` });
      this.opts.metrics?.whatsappSends.inc({ result: 'failed', code: 'unreadable' });
      this.log.error({ event: 'message_unreadable', id: head.id, to: head.recipient }, 'outbox item cannot be opened (was the pseudonym key changed?); failed');
    }
    for (const head of held) {
      await this.store.hold(head.id, 'messaging_limit');
      this.log.info({ event: 'message_held', id: head.id, to: head.recipient, ...this.messagingLimitUsage() }, 'messaging limit reached; the message waits for room');
    }
  }

  /** The head's message and addressee, or null when it can never be opened (then failed, after the look). */
  private open(head: OutboxHead, unreadable: { head: OutboxHead; err: Error }[]): OpenedHead | null {
    try {
      return head.open();
    } catch (err) {
      unreadable.push({ head, err: err as Error });
      return null;
    }
  }

  /** No room under the messaging limit: the item waits, marked so (once, after the look) for whoever looks at it. */
  private hold(head: OutboxHead, held: OutboxHead[]): void {
    if (this.held.has(head.id)) return;
    this.held.add(head.id);
    held.push(head);
  }

  private launch(head: OutboxHead, opened: OpenedHead, now: number, initiated: boolean): void {
    this.held.delete(head.id);
    const attempts = head.attempts + 1;
    let accepted = false;
    const p = (async () => {
      let wamid: string;
      try {
        ({ wamid } = await this.opts.transport.send(opened.message));
      } catch (err) {
        await this.failed(head, opened, attempts, toGraphError(err));
        return;
      }
      accepted = true;
      // the outcome and what listeners record of it (a notice's recipient) commit together where they share the
      // database: one disk flush a message. A failure to record it is not a failed send (that would send it again):
      // it is logged below.
      await this.sent(head, opened, attempts, wamid, initiated);
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

  /** The outcome of an attempt is recorded, and `also` with it; false (logged) when the attempt was taken over meanwhile. */
  private async record(head: OutboxHead, attempts: number, outcome: SendOutcome, also: () => void): Promise<void> {
    if (await this.store.record(head.id, attempts, outcome, also)) return;
    this.opts.metrics?.outboxClaimConflicts.inc();
    this.log.warn(
      { event: 'outbox_claim_lost', id: head.id, to: head.recipient, outcome: outcome.status },
      'this send was taken over by another instance (its claim outlived the stale bound); the outcome here is not recorded',
    );
  }

  private async sent(head: OutboxHead, opened: OpenedHead, attempts: number, wamid: string, initiated: boolean): Promise<void> {
    const msg = opened.message;
    await this.record(head, attempts, { status: 'sent', wamid, at: this.clock.now(), initiated }, () => {
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
    });
  }

  private async failed(head: OutboxHead, opened: OpenedHead, attempts: number, err: GraphError): Promise<void> {
    const msg: OutboundMessage = opened.message;
    // Graph's words may quote the recipient: masked before they are stored, logged or handed on
    const message = redactText(err.message);
    const base = { id: head.id, kind: msg.type, to: head.recipient, code: err.label, attempts };
    const verdict = afterSendFailure(err, { attempts, hasFallback: head.hasFallback, usedFallback: head.usedFallback }, this.retry, this.random);
    if (verdict.action === 'fallback') {
      await this.record(head, attempts, { status: 'fallback', code: err.code, message }, () => {
        this.opts.metrics?.whatsappSends.inc({ result: 'fallback', code: err.label });
        this.log.info({ event: 'message_fallback', ...base }, 'outside the 24 h window; sending the template instead');
      });
      return;
    }
    if (verdict.action === 'retry') {
      await this.record(head, attempts, { status: 'retry', at: this.clock.now() + verdict.delayMs, code: err.code, message }, () => {
        this.opts.metrics?.whatsappSends.inc({ result: 'retry', code: err.label });
        this.log.warn({ event: 'message_retry', ...base, delayMs: verdict.delayMs, err: message }, 'send failed; will retry');
      });
      return;
    }
    await this.record(head, attempts, { status: 'failed', code: err.code, message }, () => {
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
