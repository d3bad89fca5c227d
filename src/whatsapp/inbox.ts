import { nextTurn, realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Emitter } from '../events.js';
import type { MessageEvents } from './message-events.js';
import { REPEATED, type AcceptResult, type GroupStep, type InboxStore, type PendingInbound, type PruneCounts } from './inbox-store.js';
import { redactText } from './redact.js';
import { afterHandlerFailure, type HandleRetryPolicy } from './retry-policy.js';
import { WebhookItems, type InboundMessage, type StatusUpdate } from './webhook.js';

export type { AcceptResult } from './inbox-store.js';

/** The body of a webhook POST is not JSON (answered 400; Meta does not redeliver a 4xx forever). */
export class InvalidWebhookBody extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWebhookBody';
  }
}

export interface StatusSink {
  /**
   * `recipient` is the recipient's pseudonym (`Sealer.pseudonym`): the inbox keeps no number of a status. A promise
   * it returns is awaited in the commit that marks the status applied.
   */
  applyStatus(s: StatusUpdate): void;
}

export type MessageHandler = (m: InboundMessage) => Promise<void> | void;

export interface InboxOptions {
  /**
   * the rows: pseudonyms for senders and message ids, sealed raw bodies and messages, nothing stored in clear. A
   * function is called at the first use (the room chooses SQLite or PostgreSQL once the store room has started).
   */
  store: InboxStore | (() => InboxStore);
  log: Logger;
  /** receives delivery statuses in order (the outbox) */
  statuses?: StatusSink;
  metrics?: Pick<Metrics, 'whatsappInbound' | 'whatsappInboxFailures' | 'whatsappWebhookSkipped'>;
  /** told of every new inbound message (the `whatsapp_message` counts) */
  events?: Emitter<MessageEvents>;
  /** handler runs per message before it is set aside as failed */
  maxAttempts?: number;
  retryDelayMs?: number;
  /** a handler that takes longer counts as failed */
  handlerTimeoutMs?: number;
  /**
   * looks for waiting messages and statuses this often besides when this instance records some (0: never); by
   * default SHARED_POLL_MS on a shared store (what another instance recorded, or left claimed when it died, is
   * handled here too), never on one of this process alone
   */
  pollMs?: number;
  clock?: Clock;
}

/** A verified body on its way into the store: opened (its id) in one commit, its elements in that and later ones. */
interface Delivery {
  rawBody: Buffer;
  bodyTag: string;
  items: WebhookItems;
  /** undefined until opened */
  id?: number;
  /** all of it is committed (or it was a repeat) */
  finished?: boolean;
  result: AcceptResult;
  skipped: number;
  resolve: (r: AcceptResult) => void;
  reject: (err: unknown) => void;
}

/** The most body bytes one group commit of webhook deliveries seals and writes. */
const GROUP_BYTES = 1024 * 1024;
/**
 * Raw bodies up to this size are kept (sealed, for inspection, emptied after INBOX_BODY_KEEP_MS). Meta's are a few
 * kilobytes; a larger one is recorded element by element like any other, but its bytes are not: sealing, writing and
 * flushing 3 MB held the event loop for over 100 ms, and nothing reads them back.
 */
export const KEEP_BODY_BYTES = 64 * 1024;
/**
 * The most messages and statuses one commit records: each costs some 30 µs (parsed, two keyed digests, sealed,
 * written), and a body may hold thousands; the rest of a long body waits for the next turn of the event loop.
 */
const GROUP_ITEMS = 200;

// the statuses applied in one commit
const STATUS_BATCH = 100;

/** How often an inbox on a shared store looks for work it was not told of: a dead instance's claims, say. */
export const SHARED_POLL_MS = 2_000;

const DAY = 86_400_000;
/** Sealed bodies of finished rows (they hold residents' numbers and words) are kept this long, for inspection. */
export const INBOX_BODY_KEEP_MS = 3 * DAY;
/** Message ids and body digests are kept this long: Meta redelivers for up to 7 days, and each must be known. */
export const INBOX_ID_KEEP_MS = 8 * DAY;

/**
 * The loop behind the webhook, over a durable InboxStore: `accept` records a delivery and its messages in one
 * commit and returns, so the HTTP answer is fast and nothing is lost; the loop then hands each message, once and
 * in arrival order, to the handlers (retried on the pure `afterHandlerFailure`). Message ids are unique: Meta's
 * redeliveries (for up to 7 days) are ignored.
 *
 * Nothing is stored in clear that names a person (senders, message ids and status recipients are pseudonyms,
 * bodies sealed); the handlers get the opened message, in memory only, and logs name pseudonyms.
 */
export class Inbox {
  private chosen: InboxStore | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly retry: HandleRetryPolicy;
  private readonly handlers: MessageHandler[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private again = false;
  private timer: Timer | undefined;
  private poll: Timer | undefined;
  private committing = false;

  constructor(private readonly opts: InboxOptions) {
    this.log = opts.log.child({ module: 'whatsapp.inbox' });
    this.clock = opts.clock ?? realClock;
    this.retry = { maxAttempts: opts.maxAttempts ?? 3, backoff: { baseMs: opts.retryDelayMs ?? 500, maxMs: 30_000, jitter: 'none' } };
  }

  private get store(): InboxStore {
    const s = this.opts.store;
    return (this.chosen ??= typeof s === 'function' ? s() : s);
  }

  /**
   * Records one verified webhook body: the raw bytes (sealed; bytes already recorded are not stored again), each new
   * message (a redelivered message id is ignored), the senders' last-inbound times, and the statuses. Resolves once
   * they are committed; rejects with InvalidWebhookBody when the body is not JSON. Bodies that arrive in the same
   * turn of the event loop share one commit (one fsync), as readings do in the journal: a burst of webhooks costs
   * one disk flush, not one each. Rejects with the store's error when the store cannot record it (the webhook then
   * answers 503, and Meta redelivers).
   */
  async accept(rawBody: Buffer): Promise<AcceptResult> {
    // Meta redelivers the same bytes (up to 3 MB each) until it sees a 200, and sometimes after: one copy will do,
    // and everything in it was recorded with it
    const bodyTag = this.store.bodyTag(rawBody);
    if (await this.store.hasBody(bodyTag)) return { ...REPEATED };
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch (err) {
      throw new InvalidWebhookBody(`webhook body is not JSON: ${(err as Error).message}`);
    }
    const items = new WebhookItems(json);
    return new Promise((resolve, reject) => {
      this.deliveries.push({ rawBody, bodyTag, items, result: { messages: 0, statuses: 0, duplicates: 0, repeated: false }, skipped: 0, resolve, reject });
      if (this.deliveries.length === 1) setImmediate(() => void this.commitDeliveries());
    });
  }

  private deliveries: Delivery[] = [];

  /**
   * One group commit: deliveries in arrival order, at most GROUP_BYTES of bodies to seal and GROUP_ITEMS elements
   * (and at least one of each). A delivery is answered once all of it is committed; one longer than a group goes on
   * in the next turn, and those behind it wait (so the same bytes twice are recognised as such). One commit at a
   * time: those that arrive meanwhile wait for the next.
   */
  private async commitDeliveries(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      await this.commitGroup();
    } finally {
      this.committing = false;
      if (this.deliveries.length > 0) setImmediate(() => void this.commitDeliveries());
    }
  }

  private async commitGroup(): Promise<void> {
    const now = this.clock.now();
    const touched: Delivery[] = [];
    const steps: GroupStep[] = [];
    let outcomes;
    try {
      let bytes = 0;
      let items = 0;
      for (const d of this.deliveries) {
        const kept = d.rawBody.length <= KEEP_BODY_BYTES ? d.rawBody : null;
        if (touched.length > 0 && (items >= GROUP_ITEMS || (d.id === undefined && bytes + (kept?.length ?? 0) > GROUP_BYTES))) break;
        touched.push(d);
        if (d.id === undefined) bytes += kept?.length ?? 0;
        // sliced before the store says whether the bytes are a repeat: a repeat's slice is simply dropped
        const slice = d.items.next(Math.max(1, GROUP_ITEMS - items));
        items += slice.messages.length + slice.statuses.length + slice.skipped;
        d.skipped += slice.skipped;
        steps.push({ deliveryId: d.id, rawBody: kept, bodyTag: d.bodyTag, items: slice, close: d.items.done });
        if (!d.items.done) break;
      }
      outcomes = await this.store.record(steps, now);
    } catch (err) {
      // what this commit held is refused (Meta redelivers it); what an earlier commit took of a long body stays,
      // and its redelivery records only what is missing
      // (a commit that failed before it began touched none: the head is refused, so an error never spins)
      for (const d of this.deliveries.splice(0, Math.max(1, touched.length))) d.reject(err);
      return;
    }
    const fresh: InboundMessage[] = [];
    outcomes.forEach((o, i) => {
      const d = touched[i]!;
      if (o.deliveryId === null) {
        d.result = { ...REPEATED };
        d.skipped = 0;
        d.finished = true;
        return;
      }
      d.id = o.deliveryId;
      fresh.push(...o.recorded.fresh);
      d.result.messages += o.recorded.fresh.length;
      d.result.statuses += o.recorded.statuses;
      d.result.duplicates += o.recorded.duplicates;
      d.finished = steps[i]!.close;
    });
    const finished = this.deliveries.splice(0, touched.filter((d) => d.finished).length);
    this.count(fresh);
    for (const m of fresh) this.opts.metrics?.whatsappInbound.inc({ type: m.type });
    for (const d of finished) {
      if (d.skipped > 0) {
        // counted, never quoted: a skipped element may hold a number or a resident's words
        this.opts.metrics?.whatsappWebhookSkipped.inc(d.skipped);
        this.log.warn({ event: 'webhook_elements_skipped', count: d.skipped }, 'webhook elements not understood');
      }
      d.resolve(d.result);
    }
    if (fresh.length > 0 || finished.some((d) => d.result.statuses > 0)) this.kick();
  }

  /** Registers a handler; handlers run in registration order, each message once they all succeeded. */
  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const pollMs = this.opts.pollMs ?? (this.store.shared ? SHARED_POLL_MS : 0);
    if (pollMs > 0) this.poll = this.clock.setInterval(() => this.kick(), pollMs);
    this.kick();
  }

  /** Stops after the message being handled, if any. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    this.poll?.clear();
    this.poll = undefined;
    await this.loop;
  }

  /**
   * The retention schedule's part of the inbox (run daily). Finished rows lose their sealed bodies (residents'
   * numbers and words) INBOX_BODY_KEEP_MS after they were handled; the rows themselves, which keep only the
   * pseudonymous message id or body digest that dedupes Meta's redeliveries (up to 7 days), go after
   * INBOX_ID_KEEP_MS. Pending messages, and the deliveries they came in, stay whatever their age.
   */
  prune(now = this.clock.now()): Promise<PruneCounts> {
    return this.store.prune(now - INBOX_BODY_KEEP_MS, now - INBOX_ID_KEEP_MS);
  }

  /** Messages waiting for their handlers, and those set aside as failed. */
  backlog(): Promise<{ pending: number; failed: number }> {
    return this.store.backlog();
  }

  /**
   * This inbox is recording a delivery or handling messages right now (in this process; `backlog` is what waits in
   * the store). What a simulation on a manual clock holds time for.
   */
  busy(): boolean {
    return this.deliveries.length > 0 || this.committing || this.loop !== undefined;
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
      const next = await this.store.nextMessage();
      if (!next) return;
      await this.handle(next);
      await nextTurn();
    }
  }

  private async drainStatuses(): Promise<void> {
    while (this.running) {
      // applying and marking commit together (one commit for the batch), so a status is applied once even across a crash
      const failed = (err: unknown): void => this.log.error({ event: 'status_apply_failed', err }, 'a delivery status could not be applied; skipped');
      const taken = await this.store.takeStatuses(STATUS_BATCH, (open) => {
        try {
          const applied = this.opts.statuses?.applyStatus(open()) as unknown;
          if (applied instanceof Promise) return applied.catch(failed);
        } catch (err) {
          failed(err);
        }
      });
      if (taken === 0) return;
      await nextTurn();
    }
  }

  private async handle(next: PendingInbound): Promise<void> {
    let m: InboundMessage;
    try {
      m = next.open();
    } catch (err) {
      // sealed under another key (the pseudonym key changed) or damaged: it can never be handled
      await next.setAside(`cannot be opened: ${(err as Error).message}`, this.clock.now());
      this.opts.metrics?.whatsappInboxFailures.inc();
      this.log.error({ event: 'inbound_unreadable', seq: next.seq }, 'inbound message cannot be opened (was the pseudonym key changed?); set aside');
      return;
    }
    let failure: unknown;
    try {
      for (const h of this.handlers) await this.withTimeout(Promise.resolve().then(() => h(m)));
    } catch (err) {
      failure = err ?? new Error('handler failed');
    }
    // a store that fails to record the outcome ends the claim too; the loop tries again later (the message with it)
    if (failure === undefined) {
      await next.processed(this.clock.now());
      return;
    }
    // a handler's message may quote the sender or the text: masked before it is stored or logged
    const error = redactText(failure instanceof Error ? failure.message : String(failure));
    const attempts = next.attempts + 1;
    const log = { event: 'inbound_handler_failed', message: next.messageTag, type: m.type, from: next.senderTag, attempts, err: error };
    const verdict = afterHandlerFailure(attempts, this.retry);
    if (verdict.action === 'set_aside') {
      // set aside so one poisonous message never blocks the ones behind it
      await next.setAside(error.slice(0, 2000), this.clock.now());
      this.opts.metrics?.whatsappInboxFailures.inc();
      this.log.error(log, 'inbound message set aside after repeated handler failures');
    } else {
      await next.attempted(error.slice(0, 2000));
      this.log.warn(log, 'inbound message handler failed; will retry');
      await this.clock.sleep(verdict.delayMs);
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
