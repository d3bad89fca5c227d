import { realClock, type Clock } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Config } from '../config/index.js';
import type { Emitter } from '../events.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import type { BinStateStore } from '../storage/index.js';
import {
  fit,
  isAddressable,
  listMessage,
  locationRequestMessage,
  templateMessage,
  textMessage,
  type InboundMessage,
  type OutboundMessage,
} from '../whatsapp/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Conversation, ConversationStore } from './conversation-store.js';
import type { BinMatcher, MatchMethod } from './matcher/index.js';
import { choiceRows } from './choice-rows.js';
import { detectLanguage, t, type MessageKey } from './messages.js';
import { MediaTooLarge, type MediaSource, type PhotoStore } from './photos.js';
import type { ReportEvents } from './report-events.js';
import type { Report, ReportStore } from './report-store.js';

export interface ResidentFlowDeps {
  db: Database.Database;
  reports: ReportStore;
  conversations: ConversationStore;
  sealer: Sealer;
  matcher: () => BinMatcher;
  registry: BinRegistry;
  binState: BinStateStore;
  outbox: {
    enqueue(item: { to: string; message: OutboundMessage; fallback?: OutboundMessage; key: string; ref?: string }): { id: number; created: boolean };
    inWindow(waId: string, now: number): boolean;
  };
  media: MediaSource | null;
  photos: PhotoStore;
  /** the rules engine's side of a report: a `report` event, and `sensor_suspect` when the sensor calls the bin empty */
  onReport: (binId: string) => void;
  /** a report asks for a collection like a full alert does */
  requestDispatch: (binId: string) => void;
  config: { template: Config['whatsapp']['templates']['dispatch']; maxPhotoBytes: number };
  /** counts how each report was matched to its bin */
  countMatch?: (method: string) => void;
  /** told of each report made or changed, after the commit (the live page follows them) */
  events?: Emitter<ReportEvents>;
  log: Logger;
  clock?: Clock;
}

// `unsubscribe`/`afmelden` and `subscribe`/`aanmelden` are the notices' (notices/): they end or start subscriptions only
const STOP = /^\s*(stop|stopp)\s*[.!]?\s*$/i;
const START = /^\s*(start)\s*[.!]?\s*$/i;

/**
 * One resident's conversation, message by message: match what they sent to a bin (code, pin, address, photo
 * caption), ask once when it is ambiguous (a list) or ask for the location when nothing is known, confirm with a
 * reference, link a second report of a bin to the open one, and thank everyone when the bin is emptied.
 * Residents are known only by keyed pseudonyms; their numbers are sealed and kept only as long as needed.
 */
export class ResidentFlow {
  private readonly clock: Clock;

  constructor(private readonly deps: ResidentFlowDeps) {
    this.clock = deps.clock ?? realClock;
  }

  async handle(m: InboundMessage): Promise<void> {
    const who = this.deps.sealer.pseudonym(m.from);
    const now = this.clock.now();
    const conv: Conversation = this.deps.conversations.get(who) ?? {
      contact: m.from,
      lang: null,
      optedOut: false,
      awaiting: null,
      candidates: [],
      pending: {},
      updatedAt: now,
    };
    conv.contact = m.from;
    conv.updatedAt = now;
    const text = (m.text ?? m.image?.caption ?? '').trim();
    conv.lang = detectLanguage(text) ?? conv.lang;
    const lang = conv.lang ?? 'en';

    if (STOP.test(text)) {
      conv.optedOut = true;
      conv.awaiting = null;
      this.save(who, conv, () => this.reply(m, 'stopped', lang));
      return;
    }
    if (START.test(text)) {
      conv.optedOut = false;
      this.save(who, conv, () => this.reply(m, 'started', lang));
      return;
    }
    if (conv.optedOut) return;

    if (m.image) {
      const photo = await this.fetchPhoto(m, who);
      if (photo) conv.pending.photo = photo;
    }
    if (text) conv.pending.text = [conv.pending.text, text].filter(Boolean).join(' / ').slice(0, 2000);
    if (m.location) {
      conv.pending.lat = m.location.latitude;
      conv.pending.lon = m.location.longitude;
    }

    if (conv.awaiting === 'choice') {
      const chosen = this.chosen(m, text, conv);
      if (chosen) return this.report(m, who, conv, chosen, 'choice');
    }

    const location = conv.pending.lat !== undefined && conv.pending.lon !== undefined ? { latitude: conv.pending.lat, longitude: conv.pending.lon } : undefined;
    const result = this.deps.matcher().match({ ...(text ? { text } : {}), ...(location ? { location } : {}) }, (id) => this.deps.binState.get(id)?.fill_pct ?? null);
    if (result.kind === 'matched') return this.report(m, who, conv, result.binId, result.method);
    if (result.kind === 'ambiguous') {
      conv.awaiting = 'choice';
      conv.candidates = result.candidates.slice(0, 10).map((c) => ({ binId: c.binId, address: c.address, distanceM: c.distanceM }));
      this.save(who, conv, () => this.sendChoice(m, conv, lang));
      return;
    }
    if (!location) {
      conv.awaiting = 'location';
      this.save(who, conv, () => this.deps.outbox.enqueue({ to: m.from, message: locationRequestMessage(m.from, t(lang, 'askLocation')), key: `resident:${m.id}:ask-location` }));
      return;
    }
    conv.awaiting = null;
    conv.pending = {};
    this.save(who, conv, () => this.reply(m, 'noBinNear', lang));
  }

  /** A report of a bin made by another channel (Open311); no resident to answer. */
  reportFromChannel(r: { binId: string | null; method: string; source: string; serviceCode: string; text: string | null; lat: number | null; lon: number | null; photo: string | null }): Report {
    const now = this.clock.now();
    let report!: Report;
    let changed = true;
    this.deps.db.transaction(() => {
      const open = r.binId ? this.deps.reports.openOfBin(r.binId) : undefined;
      if (open) {
        changed = this.deps.reports.addReporter(open.id, r.source, null, 'en', now);
        report = this.deps.reports.get(open.id)!;
        return;
      }
      report = this.deps.reports.create({
        bin_id: r.binId,
        method: r.method,
        reporter: r.source,
        text: r.text,
        lat: r.lat,
        lon: r.lon,
        photo: r.photo,
        source: r.source,
        service_code: r.serviceCode,
        at: now,
      });
    })();
    if (changed) this.changed(report.id);
    this.deps.countMatch?.(r.method);
    if (r.binId && report.reporters === 1) this.afterNewReport(r.binId);
    return report;
  }

  /** The bins of a job were handed to a crew: their open reports are dispatched. */
  onDispatched(binIds: readonly string[]): void {
    const now = this.clock.now();
    for (const id of binIds) {
      const open = this.deps.reports.openOfBin(id);
      if (open && open.status === 'open') {
        this.deps.reports.setStatus(open.id, 'dispatched', now);
        this.changed(open.id);
      }
    }
  }

  /** A bin was emptied (sensors or crew): its report is closed and every resident who reported it is thanked. */
  onCollected(binId: string): void {
    const open = this.deps.reports.openOfBin(binId);
    if (!open) return;
    const now = this.clock.now();
    const bin = this.deps.registry.get(binId);
    this.deps.db.transaction(() => {
      this.deps.reports.setStatus(open.id, 'closed', now);
      for (const r of this.deps.reports.reportersOf(open.id)) {
        if (!r.contact) continue;
        const to = this.deps.sealer.openText(r.contact);
        // a contact stored before senders were checked may be one we cannot write to: it must not fail the crew's Done
        if (!isAddressable(to)) {
          this.deps.reports.forgetContact(open.id, r.reporter);
          continue;
        }
        const body = t(r.lang, 'thanks', { ref: open.reference, code: binId, address: bin?.address ?? '' });
        const template = templateMessage(to, this.deps.config.template.name, this.deps.config.template.lang, [open.reference, fit(body, 900, open.reference)], []);
        const free = textMessage(to, fit(body, 4096, open.reference));
        const inWindow = this.deps.outbox.inWindow(to, now);
        this.deps.outbox.enqueue({ to, message: inWindow ? free : template, ...(inWindow ? { fallback: template } : {}), key: `report:${open.reference}:thanks:${r.reporter}`, ref: open.reference });
        this.deps.reports.forgetContact(open.id, r.reporter);
      }
    })();
    this.changed(open.id);
    this.deps.log.info({ report: open.reference, bin: binId }, 'report closed; residents thanked');
  }

  private chosen(m: InboundMessage, text: string, conv: Conversation): string | null {
    const ids = conv.candidates.map((c) => c.binId);
    if (m.listReplyId && ids.includes(m.listReplyId)) return m.listReplyId;
    const n = /^\s*(\d{1,2})\s*$/.exec(text)?.[1];
    if (n && Number(n) >= 1 && Number(n) <= ids.length) return ids[Number(n) - 1]!;
    const upper = text.toUpperCase().replace(/[\s-]/g, '');
    return ids.find((id) => upper.includes(id.replace(/-/g, ''))) ?? null;
  }

  private report(m: InboundMessage, who: string, conv: Conversation, binId: string, method: MatchMethod | 'choice'): void {
    const now = this.clock.now();
    const lang = conv.lang ?? 'en';
    const bin = this.deps.registry.get(binId);
    const contact = this.deps.sealer.seal(m.from);
    let created = false;
    let reportId = 0;
    this.deps.db.transaction(() => {
      const open = this.deps.reports.openOfBin(binId);
      const params = { code: binId, address: bin?.address ?? '' };
      if (open) {
        if (this.deps.reports.addReporter(open.id, who, contact, lang, now)) reportId = open.id;
        this.reply(m, 'linked', lang, { ...params, ref: open.reference });
      } else {
        const p = conv.pending;
        const report = this.deps.reports.create({
          bin_id: binId,
          method,
          reporter: who,
          text: p.text ?? null,
          lat: p.lat ?? null,
          lon: p.lon ?? null,
          photo: p.photo ?? null,
          source: 'whatsapp',
          at: now,
        });
        this.deps.reports.addReporter(report.id, who, contact, lang, now);
        this.reply(m, 'confirmed', lang, { ...params, ref: report.reference });
        reportId = report.id;
        created = true;
      }
      conv.awaiting = null;
      conv.candidates = [];
      conv.pending = {};
      this.deps.conversations.put(who, conv);
    })();
    if (reportId) this.changed(reportId);
    this.deps.countMatch?.(method);
    if (created) this.afterNewReport(binId);
  }

  /** Tells the bus of a report as it now stands (after the commit: a listener sees what others would read). */
  private changed(reportId: number): void {
    if (!this.deps.events) return;
    const report = this.deps.reports.get(reportId);
    if (report) this.deps.events.emit('report.changed', { report });
  }

  private afterNewReport(binId: string): void {
    this.deps.onReport(binId);
    this.deps.requestDispatch(binId);
  }

  private sendChoice(m: InboundMessage, conv: Conversation, lang: string): void {
    const rows = choiceRows(conv.candidates, lang, (id) => this.deps.registry.get(id));
    this.deps.outbox.enqueue({
      to: m.from,
      message: listMessage(m.from, fit(t(lang, 'chooseBin'), 4096, '?'), fit(t(lang, 'chooseButton'), 20, '…'), [{ title: fit(t(lang, 'chooseSection'), 24, '…'), rows }]),
      key: `resident:${m.id}:choose`,
    });
  }

  private reply(m: InboundMessage, key: MessageKey, lang: string, params: Record<string, string> = {}): void {
    // the resident has just written, so a free-form message is inside the 24-hour window; the text holds registry
    // content (the address), clipped rather than refused
    this.deps.outbox.enqueue({ to: m.from, message: textMessage(m.from, fit(t(lang, key, params), 4096, key)), key: `resident:${m.id}:${key}` });
  }

  private save(who: string, conv: Conversation, then: () => void): void {
    this.deps.db.transaction(() => {
      this.deps.conversations.put(who, conv);
      then();
    })();
  }

  private async fetchPhoto(m: InboundMessage, who: string): Promise<string | null> {
    if (!this.deps.media || !m.image) return null;
    try {
      const { bytes, mime } = await this.deps.media.fetch(m.image.id, this.deps.config.maxPhotoBytes);
      return this.deps.photos.save(`${who}-${this.clock.now()}`, bytes, mime);
    } catch (err) {
      this.deps.log.warn({ reason: err instanceof MediaTooLarge ? 'too_large' : (err as Error).message }, 'report photo not stored');
      return null;
    }
  }
}
