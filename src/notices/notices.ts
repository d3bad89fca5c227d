import { realClock, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import { BinMatcher, t } from '../reports/index.js';
import { SEND_PRIORITY, fit, isAddressable, locationRequestMessage, templateMessage, textMessage, type InboundMessage, type OutboundMessage, type Sealer, type SendResult, type StatusEvent } from '../whatsapp/index.js';
import { quietUntil } from './quiet-hours.js';
import type { Figures, Notice, NoticeKind, NoticeStore, Subscriber, Target } from './store.js';

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
  store: NoticeStore;
  sealer: Sealer;
  registry: BinRegistry;
  /** the zones notices may target: id and name */
  zones: () => readonly { id: string; name: string }[];
  outbox: {
    enqueue(item: { to: string; message: OutboundMessage; fallback?: OutboundMessage; key: string; ref?: string; priority?: number }): { id: number; created: boolean };
    inWindow(waId: string, now: number): boolean;
    /** how many of these outbox items are not yet sent or failed for good */
    unfinished(ids: readonly number[]): number;
    /** when `n` more users outside their window could all be reached, from `from` (Meta's messaging limit, the send rate) */
    reachAllBy(n: number, from: number): number | null;
  };
  transaction: <T>(fn: () => T) => T;
  template: { name: string; lang: string };
  limits: NoticeLimits;
  /**
   * Something happened to a notice's message (`status`); its figures after it, for metrics and InfluxDB. The
   * figures may be up to FIGURES_MS old; a last call with status `figures` (no new event) then brings them up to date.
   */
  onCounted?: (n: { notice: Notice; status: string; figures: Figures }) => void;
  log: Logger;
  clock?: Clock;
}

/** The metres between two points (haversine; plenty for a city). */
function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = (d: number) => (d * Math.PI) / 180;
  const h = Math.sin(r(b.lat - a.lat) / 2) ** 2 + Math.cos(r(a.lat)) * Math.cos(r(b.lat)) * Math.sin(r(b.lon - a.lon) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

/**
 * Residents' subscriptions by chat and operators' notices to them. A notice's recipients are committed before any
 * message is queued, and each message is queued under an idempotent outbox key in the same transaction that marks
 * its recipient queued: a restart resumes a notice where it stood and never repeats a resident.
 */
export class Notices {
  private readonly clock: Clock;
  private timer: Timer | undefined;
  private running = false;
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

  stop(): void {
    this.running = false;
    this.timer?.clear();
    this.timer = undefined;
    for (const c of this.figuresCache.values()) c.timer?.clear();
    this.figuresCache.clear();
  }

  /**
   * A resident's message: subscription commands are answered here (true: handled); STOP ends subscriptions and
   * goes on to the reports' conversation, as does everything else, after counting as a reply to recent notices.
   */
  handleMessage(m: InboundMessage): boolean {
    const { store, sealer } = this.deps;
    const who = sealer.pseudonym(m.from);
    const now = this.clock.now();
    const text = (m.text ?? '').trim();
    for (const id of store.recordReply(who, now)) this.counted(id, 'replied');
    if (STOP.test(text)) {
      for (const id of store.unsubscribe(who, 'stop', now)) this.counted(id, 'unsubscribed');
      return false;
    }
    if (UNSUBSCRIBE.test(text)) {
      const lang = /afmelden/i.test(text) ? 'nl' : 'en';
      const ids = this.deps.transaction(() => {
        this.reply(m, t(lang, 'unsubscribed'), 'unsubscribed');
        return store.unsubscribe(who, 'unsubscribe', now);
      });
      for (const id of ids) this.counted(id, 'unsubscribed');
      return true;
    }
    const sub = SUBSCRIBE.exec(text);
    if (sub) {
      const lang = sub[1]!.toLowerCase() === 'aanmelden' ? 'nl' : 'en';
      const rest = sub[2]!.trim();
      if (!rest) {
        this.deps.transaction(() => {
          store.askedForPin(who, lang, now);
          this.deps.outbox.enqueue({ to: m.from, message: locationRequestMessage(m.from, t(lang, 'subscribeAskLocation')), key: `resident:${m.id}:subscribe-location` });
        });
        return true;
      }
      this.subscribeTo(m, who, lang, this.placeOf({ text: rest }));
      return true;
    }
    if (m.location) {
      const lang = store.takePendingPin(who, now - PIN_WAIT_MS);
      if (lang !== null) {
        this.subscribeTo(m, who, lang, this.placeOf({ location: m.location }), { lat: m.location.latitude, lon: m.location.longitude });
        return true;
      }
    }
    return false;
  }

  /**
   * The "Notify me" button of a report's confirmation: subscribes the resident to the zone of the bin, with the
   * same consent record and answer as `subscribe <code>` (a bin no longer in the registry: asked for a pin).
   */
  subscribeToBin(m: InboundMessage, binId: string, lang: string): void {
    const bin = this.deps.registry.get(binId);
    this.subscribeTo(m, this.deps.sealer.pseudonym(m.from), lang, bin ? { zone: bin.zone, lat: bin.lat, lon: bin.lon } : null);
  }

  /** How many active subscribers a target reaches now (one per resident). */
  audience(target: Target): Subscriber[] {
    const seen = new Set<string>();
    const out: Subscriber[] = [];
    for (const s of this.deps.store.active()) {
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

  create(input: NoticeInput): Notice {
    const now = this.clock.now();
    const sendAt = input.sendAt ?? now;
    const id = this.deps.store.createNotice({ kind: input.kind, title: input.title, text: input.text, target: input.target, sendAt, status: 'scheduled', targeted: this.audience(input.target).length, createdAt: now });
    this.deps.log.info({ notice: id, kind: input.kind, sendAt }, 'notice created');
    this.tick();
    return this.deps.store.get(id)!;
  }

  cancel(id: number): Notice | null {
    this.deps.store.setStatus(id, 'cancelled', this.clock.now(), ['scheduled', 'sending']);
    return this.deps.store.get(id);
  }

  view(id: number): NoticeView | null {
    const n = this.deps.store.get(id);
    return n ? this.viewOf(n) : null;
  }

  list(limit?: number, beforeId?: number): NoticeView[] {
    return this.deps.store.list(limit, beforeId).map((n) => this.viewOf(n));
  }

  private viewOf(n: Notice): NoticeView {
    const now = this.clock.now();
    const due = n.status === 'sending' || (n.status === 'scheduled' && n.sendAt <= now);
    const resumesAt = due ? this.quietUntil(n, now) : null;
    const waiting = n.status === 'sending' ? this.deps.store.waiting(n.id) : n.status === 'scheduled' ? n.targeted : 0;
    const from = Math.max(now, resumesAt ?? now, n.status === 'scheduled' ? n.sendAt : now);
    return { ...n, figures: this.deps.store.figures(n.id, n.targeted), resumesAt, waiting, expectedDoneAt: this.deps.outbox.reachAllBy(waiting, from) };
  }

  /** A notice's messages in the outbox now (those from before outbox ids were kept: queued in the last STALE_MS). */
  private inFlight(id: number, now: number): number {
    const q = this.deps.store.inFlight(id, now - STALE_MS);
    return this.deps.outbox.unfinished(q.outboxIds) + q.untracked;
  }

  /** The end of the quiet hours a service notice is waiting through now; null for an emergency or outside them. */
  private quietUntil(n: Pick<Notice, 'kind'>, now: number): number | null {
    return n.kind === 'service' ? quietUntil(now, this.deps.limits.quietHours, this.deps.limits.timeZone) : null;
  }

  /** An outbox result: a notice's message was accepted (sent) or refused for good. */
  onResult(r: SendResult): void {
    const k = KEY.exec(r.key);
    if (!k) return;
    const id = Number(k[1]);
    if (r.status === 'sent') this.deps.store.recordSent(id, k[2]!, this.clock.now());
    else this.deps.store.recordDelivery(id, k[2]!, 'failed', r.error?.code ?? null);
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
  onStatus(s: StatusEvent): void {
    const k = KEY.exec(s.key);
    if (!k || s.fallbackQueued || s.status === 'sent') return;
    const id = Number(k[1]);
    this.deps.store.recordDelivery(id, k[2]!, s.status, s.status === 'failed' ? (s.errors?.[0]?.code ?? null) : null);
    this.counted(id, s.status);
  }

  private counted(id: number, status: string): void {
    if (!this.deps.onCounted) return;
    const notice = this.deps.store.get(id);
    if (!notice) return;
    const now = this.clock.now();
    const cached = this.figuresCache.get(id);
    if (cached && now - cached.at < FIGURES_MS) {
      // once the burst is over, the figures as they stand
      cached.timer ??= this.clock.setTimeout(() => {
        this.figuresCache.delete(id);
        const n = this.deps.store.get(id);
        if (n) this.deps.onCounted?.({ notice: n, status: 'figures', figures: this.deps.store.figures(id, n.targeted) });
      }, cached.at + FIGURES_MS - now);
      this.deps.onCounted({ notice, status, figures: cached.figures });
      return;
    }
    cached?.timer?.clear();
    const figures = this.deps.store.figures(id, notice.targeted);
    this.figuresCache.set(id, { at: now, figures });
    this.deps.onCounted({ notice, status, figures });
  }

  /** Starts notices that are due, resumes those sending, and sleeps until the next thing to do. */
  private tick(): void {
    if (!this.running) return;
    this.timer?.clear();
    this.timer = undefined;
    const now = this.clock.now();
    let next = Infinity;
    for (const n of this.deps.store.withStatus('scheduled')) {
      if (n.sendAt > now) {
        next = Math.min(next, n.sendAt);
        continue;
      }
      this.deps.store.startSending(n.id, this.audience(n.target), now);
    }
    for (const n of this.deps.store.withStatus('sending')) next = Math.min(next, this.pump(n, now));
    if (next < Infinity) this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, next - now));
  }

  /**
   * Queues a sending notice's next messages, a batch per transaction, each under its idempotent key, as long as
   * fewer than IN_FLIGHT wait in the outbox. A service notice waits through quiet hours and skips a resident who
   * has had the week's service notices. Returns when to look again (Infinity: when a message leaves the outbox).
   */
  private pump(n: Notice, now: number): number {
    const { store, limits } = this.deps;
    const quiet = this.quietUntil(n, now);
    if (quiet !== null) return quiet;
    let capped = 0;
    for (;;) {
      const inFlight = this.inFlight(n.id, now);
      const room = IN_FLIGHT - inFlight;
      // refilled by halves: one transaction (one disk flush) per 50 messages sent, not one per message
      if (room <= 0 || (inFlight > 0 && room < IN_FLIGHT / 2)) return now + RECHECK_MS;
      const batch = store.unqueued(n.id, Math.min(BATCH, room));
      if (batch.length === 0) break;
      capped += this.deps.transaction(() => {
        if (store.get(n.id)?.status !== 'sending') return 0;
        let skipped = 0;
        for (const r of batch) {
          if (n.kind === 'service' && store.serviceWeek(r.pseudonym, now, n.id) >= limits.maxPerResidentPerWeek) {
            store.markSkipped(n.id, r.pseudonym, 'capped');
            skipped++;
          } else if (!isAddressable(r.contact)) {
            store.markSkipped(n.id, r.pseudonym, 'unaddressable');
          } else {
            const { id: outboxId } = this.deps.outbox.enqueue(this.message(n, r.contact, r.lang, r.pseudonym));
            store.markQueued(n.id, r.pseudonym, now, outboxId);
          }
        }
        return skipped;
      });
      if (store.get(n.id)?.status !== 'sending') break;
    }
    if (capped > 0) {
      this.deps.log.info({ notice: n.id, capped }, 'residents at the weekly cap skipped');
      this.counted(n.id, 'capped');
    }
    // sending until the outbox has let go of the last message, however long Meta's messaging limit holds it there
    if (store.get(n.id)?.status === 'sending' && this.inFlight(n.id, now) > 0) return now + RECHECK_MS;
    if (store.get(n.id)?.status === 'sending' && store.setStatus(n.id, 'sent', this.clock.now(), ['sending'])) this.deps.log.info({ notice: n.id, targeted: n.targeted }, 'notice sent to every recipient');
    return Infinity;
  }

  private message(n: Notice, to: string, lang: string, pseudonym: string): { to: string; message: OutboundMessage; fallback?: OutboundMessage; key: string; ref: string; priority: number } {
    const body = n.text[lang] ?? n.text.en ?? Object.values(n.text)[0]!;
    const key = `notice:${n.id}:${pseudonym}`;
    const ref = `notice-${n.id}`;
    // an emergency overtakes a service notice already sending (and the other messages but fire dispatches)
    const priority = n.kind === 'emergency' ? SEND_PRIORITY.emergencyNotice : SEND_PRIORITY.serviceNotice;
    // the template's body is `{{1}}: {{2}}`; the API refused anything over its limits, so nothing is clipped here
    const template = templateMessage(to, this.deps.template.name, this.deps.template.lang, [n.title, body], []);
    if (this.deps.outbox.inWindow(to, this.clock.now())) return { to, message: textMessage(to, `${n.title}: ${body}`), fallback: template, key, ref, priority };
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

  private subscribeTo(m: InboundMessage, who: string, lang: string, place: { zone: string; lat: number; lon: number } | null, pin?: { lat: number; lon: number }): void {
    const now = this.clock.now();
    this.deps.transaction(() => {
      if (!place) {
        this.deps.store.askedForPin(who, lang, now);
        this.deps.outbox.enqueue({ to: m.from, message: locationRequestMessage(m.from, t(lang, 'subscribeNotFound')), key: `resident:${m.id}:subscribe-location` });
        return;
      }
      const at = pin ?? place;
      this.deps.store.subscribe({ pseudonym: who, contact: m.from, zone: place.zone, lang, lat: at.lat, lon: at.lon, consentVersion: CONSENT.version, consentText: CONSENT.text, inboundId: m.id, at: now });
      const name = this.deps.zones().find((z) => z.id === place.zone)?.name ?? place.zone;
      this.reply(m, t(lang, 'subscribed', { zone: name }), 'subscribed');
    });
    if (place) this.deps.log.info({ who, zone: place.zone, lang }, 'resident subscribed to notices');
  }

  private reply(m: InboundMessage, body: string, what: string): void {
    this.deps.outbox.enqueue({ to: m.from, message: textMessage(m.from, fit(body, 4096, what)), key: `resident:${m.id}:${what}` });
  }
}
