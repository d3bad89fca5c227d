import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import type { Decisions } from '../decisions.js';
import { BinMatcher, t as t_ } from '../reports/index.js';
import { SEND_PRIORITY, fit, isAddressable, locationRequestMessage, templateMessage, textMessage, type InboundMessage, type OutboundMessage, type Sealer, type SendResult, type StatusEvent } from '../whatsapp/index.js';
import { quietUntil } from './quiet-hours.js';
import type { Consent, Figures, Notice, NoticeKind, NoticeStore, Subscriber, Target } from './store.js';

const SUBSCRIBE = /^\s*(subscribe|aanmelden)\b[\s:,.!-]*(.*)$/is;
const UNSUBSCRIBE = /^\s*(unsubscribe|afmelden)\s*[.!]?\s*$/i;
const STOP = /^\s*(stop|stopp)\s*[.!]?\s*$/i;
/** a "subscribe" waits this long for its location pin */
const PIN_WAIT_MS = 3600_000;
const BATCH = 200;
/**
 * A notice hands the outbox at most this many messages at a time and the next ones as these are sent: what is in
 * the outbox goes out whatever happens, so this bounds what still leaves after quiet hours begin or a cancel.
 */
export const IN_FLIGHT = 100;
/**
 * a message queued before outbox ids were kept, this long ago without an outcome, no longer holds its place (an
 * outcome lost in a crash); since then the outbox says which are still there, however long they wait
 */
const STALE_MS = 10 * 60_000;
/** how soon a notice whose messages are all in flight looks again, should no outcome wake it */
const RECHECK_MS = 30_000;
/**
 * Figures are counted over all of a notice's recipients (milliseconds for 10,000): events reuse them this long,
 * rather than count them again for each of the thousands of statuses a big notice brings.
 */
const FIGURES_MS = 1000;
const KEY = /^notice:(\d+):(.+)$/;
/** a shared store: how often the lease holder looks for what other instances did to the notices */
const POLL_MS = 2000;
/** a look that failed (the database away) is tried again this much later */
const RETRY_MS = 5000;

/** The consent text residents agree to by subscribing; a new wording gets a new version. */
export const CONSENT = { version: 'notices-v1', text: 'Notices about bin collection in the zone subscribed to, by WhatsApp, until UNSUBSCRIBE or STOP.' };

export interface NoticeInput {
  kind: NoticeKind;
  title: string;
  text: Record<string, string>;
  target: Target;
  /** ms since the epoch; omitted: now */
  sendAt?: number;
}

export interface NoticeView extends Notice {
  figures: Figures;
  /** a service notice paused by quiet hours resumes then (ms since the epoch); null when not paused */
  resumesAt: number | null;
  /** recipients not reached yet: not sent, failed or skipped (0 once the notice is done with everyone) */
  waiting: number;
  /**
   * when the last of them should be reached (ms since the epoch): an estimate from Meta's messaging limit as it
   * stands and the send rate, counting each as a user outside their window; null when none waits
   */
  expectedDoneAt: number | null;
}

/** What keeps service notices from overwhelming residents; emergencies are exempt from both. */
export interface NoticeLimits {
  /** "HH:MM-HH:MM" local time; equal ends: none */
  quietHours: string;
  /** service notices one resident gets in any moving 7 days */
  maxPerResidentPerWeek: number;
  /** the IANA zone the quiet hours are in */
  timeZone: string;
}

export interface NoticesDeps {
  /**
   * the stores a decision writes together, one transaction each: subscriptions, a notice's recipients and their
   * messages (`t.outbox`) commit together (SQLite, or PostgreSQL shared with the other instances)
   */
  decisions: { tx<R>(work: (t: Decisions) => Promise<R>): Promise<R>; readonly read: Decisions; readonly shared: boolean };
  /** the lease timed work runs under: only its holder starts and sends notices (on SQLite it is always held) */
  lease?: { holds(): boolean };
  sealer: Sealer;
  registry: BinRegistry;
  /** the zones notices may target: id and name */
  zones: () => readonly { id: string; name: string }[];
  outbox: {
    /** whether the user wrote within 24 h (a free-form message may go), as every instance sees it */
    inWindow(waId: string, now: number): boolean | Promise<boolean>;
    /** when `n` more users outside their window could all be reached, from `from` (Meta's messaging limit, the send rate) */
    reachAllBy(n: number, from: number): number | null;
  };
  template: { name: string; lang: string };
  limits: NoticeLimits;
  /**
   * Something happened to a notice's message (`status`); its figures after it, for metrics and InfluxDB. The
   * figures may be up to FIGURES_MS old; a last call with status `figures` (no new event) then brings them up to date.
   */
  onCounted?: (n: { notice: Notice; status: string; figures: Figures }) => void;
  /**
   * a shared store: how often the lease holder looks for notices the other instances created, cancelled or moved on
   * (nothing there wakes it); default POLL_MS
   */
  pollMs?: number;
  log: Logger;
  clock?: Clock;
}

/** The metres between two points (haversine; plenty for a city). */
function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = (d: number) => (d * Math.PI) / 180;
  const h = Math.sin(r(b.lat - a.lat) / 2) ** 2 + Math.cos(r(a.lat)) * Math.cos(r(b.lat)) * Math.sin(r(b.lon - a.lon) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

/** What one transaction of a notice's sending came to. */
type Step = { kind: 'stopped' } | { kind: 'full' } | { kind: 'empty' } | { kind: 'queued'; capped: number };

/**
 * Residents' subscriptions by chat and operators' notices to them. A notice's recipients are committed before any
 * message is queued, and each message is queued under an idempotent outbox key in the same transaction that marks
 * its recipient queued: a restart resumes a notice where it stood and never repeats a resident. Each batch locks
 * the notice's row first, so instances sharing a PostgreSQL store never queue one notice at once, and a cancel
 * waits for the batch in progress; only the lease holder starts and sends notices.
 */
export class Notices {
  private readonly clock: Clock;
  private timer: Timer | undefined;
  private running = false;
  /** the look running now (a look awaits the store), and whether another was asked for meanwhile */
  private looking: Promise<void> | null = null;
  private lookAgain = false;
  private built: { version: number; matcher: BinMatcher } | null = null;
  private refillPending = false;
  private readonly figuresCache = new Map<number, { at: number; figures: Figures; timer?: Timer }>();

  constructor(private readonly deps: NoticesDeps) {
    this.clock = deps.clock ?? realClock;
  }

  start(): void {
    this.running = true;
    this.tick();
  }

  /** Stops looking, and waits for the look in progress (its transaction commits or rolls back). */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    for (const c of this.figuresCache.values()) c.timer?.clear();
    this.figuresCache.clear();
    await this.looking;
  }

  /** Looks for notices to start or send now (this instance took the lease; another instance may have made one due). */
  wake(): void {
    this.tick();
  }

  private get store(): NoticeStore {
    return this.deps.decisions.read.notices;
  }

  /**
   * A resident's message: subscription commands are answered here (true: handled); STOP ends subscriptions and
   * goes on to the reports' conversation, as does everything else, after counting as a reply to recent notices.
   * All of it in one transaction, with the answer.
   */
  async handleMessage(m: InboundMessage): Promise<boolean> {
    const who = this.deps.sealer.pseudonym(m.from);
    const now = this.clock.now();
    const text = (m.text ?? '').trim();
    const counted: [number, string][] = [];
    const handled = await this.deps.decisions.tx(async (t) => {
      for (const id of await t.notices.recordReply(who, now)) counted.push([id, 'replied']);
      if (STOP.test(text)) {
        for (const id of await t.notices.unsubscribe(who, 'stop', now)) counted.push([id, 'unsubscribed']);
        return false;
      }
      if (UNSUBSCRIBE.test(text)) {
        const lang = /afmelden/i.test(text) ? 'nl' : 'en';
        await this.reply(t, m, t_(lang, 'unsubscribed'), 'unsubscribed');
        for (const id of await t.notices.unsubscribe(who, 'unsubscribe', now)) counted.push([id, 'unsubscribed']);
        return true;
      }
      const sub = SUBSCRIBE.exec(text);
      if (sub) {
        const lang = sub[1]!.toLowerCase() === 'aanmelden' ? 'nl' : 'en';
        const rest = sub[2]!.trim();
        if (!rest) {
          await t.notices.askedForPin(who, lang, now);
          await t.outbox.add({ to: m.from, message: locationRequestMessage(m.from, t_(lang, 'subscribeAskLocation')), key: `resident:${m.id}:subscribe-location` });
          return true;
        }
        await this.subscribeIn(t, m, who, lang, this.placeOf({ text: rest }));
        return true;
      }
      if (m.location) {
        const lang = await t.notices.takePendingPin(who, now - PIN_WAIT_MS);
        if (lang !== null) {
          await this.subscribeIn(t, m, who, lang, this.placeOf({ location: m.location }), { lat: m.location.latitude, lon: m.location.longitude });
          return true;
        }
      }
      return false;
    });
    for (const [id, status] of counted) this.counted(id, status);
    return handled;
  }

  /**
   * The "Notify me" button of a report's confirmation, in the flow's transaction: subscribes the resident to the
   * zone of the bin, with the same consent record and answer as `subscribe <code>` (a bin no longer in the
   * registry: asked for a pin).
   */
  subscribeToBin(t: Decisions, m: InboundMessage, binId: string, lang: string): Promise<void> {
    const bin = this.deps.registry.get(binId);
    return this.subscribeIn(t, m, this.deps.sealer.pseudonym(m.from), lang, bin ? { zone: bin.zone, lat: bin.lat, lon: bin.lon } : null);
  }

  /** The active subscribers a target reaches now (one per resident). */
  async audience(target: Target): Promise<Subscriber[]> {
    return this.audienceOf(await this.store.active(), target);
  }

  private audienceOf(active: readonly Subscriber[], target: Target): Subscriber[] {
    const seen = new Set<string>();
    const out: Subscriber[] = [];
    for (const s of active) {
      if (seen.has(s.pseudonym) || !this.reaches(target, s)) continue;
      seen.add(s.pseudonym);
      out.push(s);
    }
    return out;
  }

  /** Zones a target names that nobody knows. */
  unknownZones(target: Target): string[] {
    if (!('zones' in target)) return [];
    const known = this.knownZones();
    return target.zones.filter((z) => !known.has(z));
  }

  async create(input: NoticeInput): Promise<Notice> {
    const now = this.clock.now();
    const sendAt = input.sendAt ?? now;
    const notice = await this.deps.decisions.tx(async (t) => {
      const targeted = this.audienceOf(await t.notices.active(), input.target).length;
      const id = await t.notices.createNotice({ kind: input.kind, title: input.title, text: input.text, target: input.target, sendAt, status: 'scheduled', targeted, createdAt: now });
      return (await t.notices.get(id))!;
    });
    this.deps.log.info({ notice: notice.id, kind: input.kind, sendAt }, 'notice created');
    // a notice due now starts here and then (its first messages queued) before the answer says how it stands
    await this.settled();
    return (await this.store.get(notice.id)) ?? notice;
  }

  /** Cancels a notice not yet sent; a batch of it being queued (here or at another instance) finishes first. */
  async cancel(id: number): Promise<Notice | null> {
    return this.deps.decisions.tx(async (t) => {
      await t.notices.setStatus(id, 'cancelled', this.clock.now(), ['scheduled', 'sending']);
      return t.notices.get(id);
    });
  }

  async get(id: number): Promise<Notice | null> {
    return this.store.get(id);
  }

  async view(id: number): Promise<NoticeView | null> {
    const store = this.store;
    const n = await store.get(id);
    return n ? this.viewOf(store, n) : null;
  }

  async list(limit?: number, beforeId?: number): Promise<NoticeView[]> {
    const store = this.store;
    const out: NoticeView[] = [];
    for (const n of await store.list(limit, beforeId)) out.push(await this.viewOf(store, n));
    return out;
  }

  /** Active subscribers per zone and language. */
  counts(): Promise<{ zone: string; lang: string; subscribers: number }[]> {
    return this.store.counts();
  }

  /** Every consent record, ended ones too. */
  consents(): Promise<Consent[]> {
    return this.store.consents();
  }

  private async viewOf(store: NoticeStore, n: Notice): Promise<NoticeView> {
    const now = this.clock.now();
    const due = n.status === 'sending' || (n.status === 'scheduled' && n.sendAt <= now);
    const resumesAt = due ? this.quietUntil(n, now) : null;
    const waiting = n.status === 'sending' ? await store.waiting(n.id) : n.status === 'scheduled' ? n.targeted : 0;
    const from = Math.max(now, resumesAt ?? now, n.status === 'scheduled' ? n.sendAt : now);
    return { ...n, figures: await store.figures(n.id, n.targeted), resumesAt, waiting, expectedDoneAt: this.deps.outbox.reachAllBy(waiting, from) };
  }

  /** A notice's messages in the outbox now (those from before outbox ids were kept: queued in the last STALE_MS). */
  private async inFlight(t: Decisions, id: number, now: number): Promise<number> {
    const q = await t.notices.inFlight(id, now - STALE_MS);
    return (await t.outbox.unfinished(q.outboxIds)) + q.untracked;
  }

  /** The end of the quiet hours a service notice is waiting through now; null for an emergency or outside them. */
  private quietUntil(n: Pick<Notice, 'kind'>, now: number): number | null {
    return n.kind === 'service' ? quietUntil(now, this.deps.limits.quietHours, this.deps.limits.timeZone) : null;
  }

  /**
   * Records what happened to a recipient's message. On SQLite the statement runs at once (the store's statements run
   * before its first await), inside the outbox's or the inbox's own commit that tells of it: one disk flush a message,
   * as before. On PostgreSQL in a transaction of its own.
   */
  private record(fn: (s: NoticeStore) => Promise<void>): Promise<void> {
    return this.deps.decisions.shared ? this.deps.decisions.tx((t) => fn(t.notices)) : fn(this.store);
  }

  /** An outbox result: a notice's message was accepted (sent) or refused for good. */
  async onResult(r: SendResult): Promise<void> {
    const k = KEY.exec(r.key);
    if (!k) return;
    const id = Number(k[1]);
    const now = this.clock.now();
    await this.record((s) => (r.status === 'sent' ? s.recordSent(id, k[2]!, now) : s.recordDelivery(id, k[2]!, 'failed', r.error?.code ?? null)));
    this.counted(id, r.status);
    this.refill();
  }

  /** A message left the outbox: its place goes to the next, once the outbox's own bookkeeping has finished. */
  private refill(): void {
    if (this.refillPending) return;
    this.refillPending = true;
    queueMicrotask(() => {
      this.refillPending = false;
      this.tick();
    });
  }

  /** A delivery status from the webhook for a notice's message. */
  async onStatus(s: StatusEvent): Promise<void> {
    const k = KEY.exec(s.key);
    if (!k || s.fallbackQueued || s.status === 'sent') return;
    const id = Number(k[1]);
    const status = s.status;
    await this.record((store) => store.recordDelivery(id, k[2]!, status, status === 'failed' ? (s.errors?.[0]?.code ?? null) : null));
    this.counted(id, status);
  }

  /** Tells `onCounted` (metrics, InfluxDB); figures are read after the event, never in the way of what caused it. */
  private counted(id: number, status: string): void {
    if (!this.deps.onCounted) return;
    this.count(id, status).catch((err: unknown) => this.deps.log.warn({ err, notice: id }, 'could not count a notice event'));
  }

  private async count(id: number, status: string): Promise<void> {
    const onCounted = this.deps.onCounted!;
    const store = this.store;
    const notice = await store.get(id);
    if (!notice) return;
    const now = this.clock.now();
    const cached = this.figuresCache.get(id);
    if (cached && now - cached.at < FIGURES_MS) {
      // once the burst is over, the figures as they stand
      cached.timer ??= this.clock.setTimeout(() => {
        this.figuresCache.delete(id);
        void (async () => {
          const s = this.store;
          const n = await s.get(id);
          if (n) onCounted({ notice: n, status: 'figures', figures: await s.figures(id, n.targeted) });
        })().catch((err: unknown) => this.deps.log.warn({ err, notice: id }, 'could not count a notice event'));
      }, cached.at + FIGURES_MS - now);
      onCounted({ notice, status, figures: cached.figures });
      return;
    }
    cached?.timer?.clear();
    const figures = await store.figures(id, notice.targeted);
    this.figuresCache.set(id, { at: now, figures });
    onCounted({ notice, status, figures });
  }

  /** Looks now, and returns once a look that began after this call is done. */
  private async settled(): Promise<void> {
    this.tick();
    // the look that began now; or the one running, then the one it hands over to (it began after this call)
    const running = this.looking;
    await running;
    if (this.looking && this.looking !== running) await this.looking;
  }

  /** Runs one look, or asks for another after the one running (a look awaits the store). */
  private tick(): void {
    if (!this.running) return;
    if (this.looking) {
      this.lookAgain = true;
      return;
    }
    this.looking = this.look()
      .catch((err: unknown) => {
        this.deps.log.error({ err }, 'could not look at the notices; trying again');
        this.sleep(this.clock.now() + RETRY_MS);
      })
      .finally(() => {
        this.looking = null;
        if (this.lookAgain) {
          this.lookAgain = false;
          this.tick();
        }
      });
  }

  private sleep(until: number): void {
    if (!this.running) return;
    this.timer?.clear();
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, until - this.clock.now()));
  }

  /**
   * Starts notices that are due, resumes those sending, and sleeps until the next thing to do. Timed work: only the
   * lease holder does it; on a shared store it also looks every `pollMs` for what the other instances changed.
   */
  private async look(): Promise<void> {
    this.timer?.clear();
    this.timer = undefined;
    const now = this.clock.now();
    const poll = this.deps.decisions.shared ? now + (this.deps.pollMs ?? POLL_MS) : Infinity;
    if (this.deps.lease && !this.deps.lease.holds()) {
      this.sleep(poll);
      return;
    }
    let next = poll;
    const store = this.store;
    for (const n of await store.withStatus('scheduled')) {
      if (n.sendAt > now) {
        next = Math.min(next, n.sendAt);
        continue;
      }
      await this.deps.decisions.tx(async (t) => t.notices.startSending(n.id, this.audienceOf(await t.notices.active(), n.target), now));
    }
    for (const n of await store.withStatus('sending')) {
      if (!this.running) return;
      next = Math.min(next, await this.pump(n, now));
    }
    if (next < Infinity) this.sleep(next);
  }

  /**
   * Queues a sending notice's next messages, a batch per transaction, each under its idempotent key, as long as
   * fewer than IN_FLIGHT wait in the outbox. A service notice waits through quiet hours and skips a resident who
   * has had the week's service notices. Returns when to look again (Infinity: when a message leaves the outbox).
   */
  private async pump(n: Notice, now: number): Promise<number> {
    const quiet = this.quietUntil(n, now);
    if (quiet !== null) return quiet;
    let capped = 0;
    for (;;) {
      const step = await this.deps.decisions.tx((t) => this.queueBatch(t, n, now));
      if (step.kind === 'full') return now + RECHECK_MS;
      if (step.kind !== 'queued') break;
      capped += step.capped;
    }
    if (capped > 0) {
      this.deps.log.info({ notice: n.id, capped }, 'residents at the weekly cap skipped');
      this.counted(n.id, 'capped');
    }
    // sending until the outbox has let go of the last message, however long Meta's messaging limit holds it there
    const finished = await this.deps.decisions.tx(async (t) => {
      if ((await t.notices.lock(n.id))?.status !== 'sending') return null;
      if ((await this.inFlight(t, n.id, now)) > 0) return false;
      return t.notices.setStatus(n.id, 'sent', this.clock.now(), ['sending']);
    });
    if (finished === false) return now + RECHECK_MS;
    if (finished) this.deps.log.info({ notice: n.id, targeted: n.targeted }, 'notice sent to every recipient');
    return Infinity;
  }

  /** One batch of a notice's recipients, under the lock of its row: their messages, or why they get none. */
  private async queueBatch(t: Decisions, n: Notice, now: number): Promise<Step> {
    if ((await t.notices.lock(n.id))?.status !== 'sending') return { kind: 'stopped' };
    const inFlight = await this.inFlight(t, n.id, now);
    const room = IN_FLIGHT - inFlight;
    // refilled by halves: one transaction (one disk flush) per 50 messages sent, not one per message
    if (room <= 0 || (inFlight > 0 && room < IN_FLIGHT / 2)) return { kind: 'full' };
    const batch = await t.notices.unqueued(n.id, Math.min(BATCH, room));
    if (batch.length === 0) return { kind: 'empty' };
    let skipped = 0;
    for (const r of batch) {
      if (n.kind === 'service' && (await t.notices.serviceWeek(r.pseudonym, now, n.id)) >= this.deps.limits.maxPerResidentPerWeek) {
        await t.notices.markSkipped(n.id, r.pseudonym, 'capped');
        skipped++;
      } else if (!isAddressable(r.contact)) {
        await t.notices.markSkipped(n.id, r.pseudonym, 'unaddressable');
      } else {
        const { id: outboxId } = await t.outbox.add(await this.message(n, r.contact, r.lang, r.pseudonym));
        await t.notices.markQueued(n.id, r.pseudonym, now, outboxId);
      }
    }
    return { kind: 'queued', capped: skipped };
  }

  private async message(n: Notice, to: string, lang: string, pseudonym: string): Promise<{ to: string; message: OutboundMessage; fallback?: OutboundMessage; key: string; ref: string; priority: number }> {
    const body = n.text[lang] ?? n.text.en ?? Object.values(n.text)[0]!;
    const key = `notice:${n.id}:${pseudonym}`;
    const ref = `notice-${n.id}`;
    // an emergency overtakes a service notice already sending (and the other messages but fire dispatches)
    const priority = n.kind === 'emergency' ? SEND_PRIORITY.emergencyNotice : SEND_PRIORITY.serviceNotice;
    // the template's body is `{{1}}: {{2}}`; the API refused anything over its limits, so nothing is clipped here
    const template = templateMessage(to, this.deps.template.name, this.deps.template.lang, [n.title, body], []);
    if (await this.deps.outbox.inWindow(to, this.clock.now())) return { to, message: textMessage(to, `${n.title}: ${body}`), fallback: template, key, ref, priority };
    return { to, message: template, key, ref, priority };
  }

  private reaches(target: Target, s: Subscriber): boolean {
    if ('all' in target) return true;
    if ('zones' in target) return target.zones.includes(s.zone);
    return s.lat !== null && s.lon !== null && metres(target.near, { lat: s.lat, lon: s.lon }) <= target.near.radius_m;
  }

  private knownZones(): Set<string> {
    const known = new Set(this.deps.zones().map((z) => z.id));
    for (const b of this.deps.registry.all()) known.add(b.zone);
    return known;
  }

  /** The zone (and a point in it) a code, an address or a pin names; null when it names none or several zones. */
  private placeOf(input: { text?: string; location?: { latitude: number; longitude: number } }): { zone: string; lat: number; lon: number } | null {
    if (!this.built || this.built.version !== this.deps.registry.version) this.built = { version: this.deps.registry.version, matcher: new BinMatcher(this.deps.registry.all()) };
    const result = this.built.matcher.match(input);
    const ids = result.kind === 'matched' ? [result.binId] : result.kind === 'ambiguous' ? result.candidates.map((c) => c.binId) : [];
    const bins = ids.map((id) => this.deps.registry.get(id)).filter((b) => b !== undefined);
    if (bins.length === 0 || new Set(bins.map((b) => b.zone)).size !== 1) return null;
    return { zone: bins[0]!.zone, lat: bins[0]!.lat, lon: bins[0]!.lon };
  }

  private async subscribeIn(t: Decisions, m: InboundMessage, who: string, lang: string, place: { zone: string; lat: number; lon: number } | null, pin?: { lat: number; lon: number }): Promise<void> {
    const now = this.clock.now();
    if (!place) {
      await t.notices.askedForPin(who, lang, now);
      await t.outbox.add({ to: m.from, message: locationRequestMessage(m.from, t_(lang, 'subscribeNotFound')), key: `resident:${m.id}:subscribe-location` });
      return;
    }
    const at = pin ?? place;
    await t.notices.subscribe({ pseudonym: who, contact: m.from, zone: place.zone, lang, lat: at.lat, lon: at.lon, consentVersion: CONSENT.version, consentText: CONSENT.text, inboundId: m.id, at: now });
    const name = this.deps.zones().find((z) => z.id === place.zone)?.name ?? place.zone;
    await this.reply(t, m, t_(lang, 'subscribed', { zone: name }), 'subscribed');
    t.afterCommit(() => this.deps.log.info({ who, zone: place.zone, lang }, 'resident subscribed to notices'));
  }

  private async reply(t: Decisions, m: InboundMessage, body: string, what: string): Promise<void> {
    await t.outbox.add({ to: m.from, message: textMessage(m.from, fit(body, 4096, what)), key: `resident:${m.id}:${what}` });
  }
}
