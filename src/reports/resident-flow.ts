import { realClock, type Clock } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Config } from '../config/index.js';
import type { Emitter } from '../events.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import type { BinStateStore } from '../storage/index.js';
import {
  buttonsMessage,
  fit,
  isAddressable,
  listMessage,
  locationRequestMessage,
  templateMessage,
  textMessage,
  type InboundMessage,
  type OutboundMessage,
  redactText,
} from '../whatsapp/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Conversation, ConversationStore } from './conversation-store.js';
import type { BinMatcher } from './matcher/index.js';
import { choiceRows } from './choice-rows.js';
import { t, type MessageKey } from './messages.js';
import { buttonId, nextStep, wantsPhoto, type Feedback, type Reply, type ReportToFile } from './next-step.js';
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
  /** told of each report made or changed, and of each answer to the satisfaction question, after the commit */
  events?: Emitter<ReportEvents>;
  /**
   * The confirmation's "Notify me" button: subscribes the resident to the zone of the bin, as `subscribe <code>`
   * does (the notices', wired by the composition root); runs inside the conversation's transaction.
   */
  subscribe?: (m: InboundMessage, binId: string, lang: string) => void;
  log: Logger;
  clock?: Clock;
}

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

  /** Decides with `nextStep` and does what it says: stores the conversation, files the report, queues the answers. */
  async handle(m: InboundMessage): Promise<void> {
    const who = this.deps.sealer.pseudonym(m.from);
    const now = this.clock.now();
    const conversation = this.deps.conversations.get(who);
    const photo = wantsPhoto(conversation, m) ? await this.fetchPhoto(m, who) : null;
    const fill = (id: string): number | null => this.deps.binState.get(id)?.fill_pct ?? null;
    const step = nextStep(
      conversation,
      { ...m, at: now, photo },
      (input) => this.deps.matcher().match(input, fill),
      (reference) => this.deps.reports.mayAnswer(reference, who),
    );
    if (!step.conversation) return;
    const conv = step.conversation;
    if (step.report) return this.report(m, who, conv, step.report);
    let answered: ReportEvents['report.feedback'] | null = null;
    this.save(who, conv, () => {
      if (step.feedback) answered = this.keepFeedback(who, step.feedback, now);
      if (step.subscribe) this.deps.subscribe?.(m, step.subscribe.binId, step.subscribe.lang);
      for (const r of step.replies) this.send(m, r);
    });
    if (answered) this.deps.events?.emit('report.feedback', answered);
  }

  /** Keeps a resident's answer with the report; the event to tell of a 👍/👎 (not of a reason), null when none. */
  private keepFeedback(who: string, f: Feedback, now: number): ReportEvents['report.feedback'] | null {
    const report = this.deps.reports.byReference(f.reference);
    if (!report) return null;
    if ('reason' in f) {
      // the resident's words, kept for operators; a number typed in them is masked like any free text we store
      if (this.deps.reports.reason(report.id, who, redactText(f.reason))) this.deps.log.info({ report: report.reference }, 'resident said what went wrong');
      return null;
    }
    if (!this.deps.reports.answer(report.id, who, f.answer, now)) return null;
    const zone = report.closed_zone ?? (report.bin_id ? this.deps.registry.get(report.bin_id)?.zone : undefined) ?? 'unknown';
    this.deps.log.info({ report: report.reference, zone, crew: report.closed_crew, answer: f.answer }, 'resident answered the satisfaction question');
    return { reference: report.reference, zone, crew: report.closed_crew, answer: f.answer, at: now };
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
    }).immediate();
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

  /**
   * A bin was emptied (by `crew`'s Done, or seen by the sensors: null): its report is closed and every resident who
   * reported it is thanked; inside their 24-hour window the thank-you asks whether they are happy (👍 / 👎).
   */
  onCollected(binId: string, crew: string | null = null): void {
    const open = this.deps.reports.openOfBin(binId);
    if (!open) return;
    const now = this.clock.now();
    const bin = this.deps.registry.get(binId);
    this.deps.db.transaction(() => {
      this.deps.reports.close(open.id, now, { zone: bin?.zone ?? null, crew });
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
        const key = `report:${open.reference}:thanks:${r.reporter}`;
        if (this.deps.outbox.inWindow(to, now)) {
          // reply buttons are free-form: only inside the window (the template outside it asks nothing)
          const ask = buttonsMessage(to, fit(`${body}\n\n${t(r.lang, 'feedbackQuestion')}`, 1024, open.reference), [
            { id: buttonId.feedback('up', r.lang, open.reference), title: t(r.lang, 'feedbackUp') },
            { id: buttonId.feedback('down', r.lang, open.reference), title: t(r.lang, 'feedbackDown') },
          ]);
          this.deps.outbox.enqueue({ to, message: ask, fallback: template, key, ref: open.reference });
          this.deps.reports.asked(open.id, r.reporter, now);
        } else {
          this.deps.outbox.enqueue({ to, message: template, key, ref: open.reference });
        }
        this.deps.reports.forgetContact(open.id, r.reporter);
      }
    }).immediate();
    this.changed(open.id);
    this.deps.log.info({ report: open.reference, bin: binId }, 'report closed; residents thanked');
  }

  /** Links the resident to the bin's open report, or makes one; answers with its reference. */
  private report(m: InboundMessage, who: string, conv: Conversation, r: ReportToFile): void {
    const { binId, method, lang } = r;
    const now = this.clock.now();
    const bin = this.deps.registry.get(binId);
    const contact = this.deps.sealer.seal(m.from);
    let created = false;
    let reportId = 0;
    this.deps.db.transaction(() => {
      const open = this.deps.reports.openOfBin(binId);
      const params = { code: binId, address: bin?.address ?? '' };
      if (open) {
        if (this.deps.reports.addReporter(open.id, who, contact, lang, now)) reportId = open.id;
        this.confirm(m, 'linked', lang, { ...params, ref: open.reference }, binId);
      } else {
        const report = this.deps.reports.create({ bin_id: binId, method, reporter: who, text: r.text, lat: r.lat, lon: r.lon, photo: r.photo, source: 'whatsapp', at: now });
        this.deps.reports.addReporter(report.id, who, contact, lang, now);
        this.confirm(m, 'confirmed', lang, { ...params, ref: report.reference }, binId);
        reportId = report.id;
        created = true;
      }
      this.deps.conversations.put(who, conv);
    }).immediate();
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

  private send(m: InboundMessage, r: Reply): void {
    if (r.kind === 'text') return this.reply(m, r.key, r.lang);
    if (r.kind === 'choose') return this.sendChoice(m, r.candidates, r.lang);
    this.deps.outbox.enqueue({ to: m.from, message: locationRequestMessage(m.from, t(r.lang, 'askLocation')), key: `resident:${m.id}:ask-location` });
  }

  private sendChoice(m: InboundMessage, candidates: Conversation['candidates'], lang: string): void {
    const rows = choiceRows(candidates, lang, (id) => this.deps.registry.get(id));
    this.deps.outbox.enqueue({
      to: m.from,
      message: listMessage(m.from, fit(t(lang, 'chooseBin'), 4096, '?'), fit(t(lang, 'chooseButton'), 20, '…'), [{ title: fit(t(lang, 'chooseSection'), 24, '…'), rows }]),
      key: `resident:${m.id}:choose`,
    });
  }

  /** The report's confirmation, with a reply button that subscribes the resident to notices for the bin's zone. */
  private confirm(m: InboundMessage, key: 'confirmed' | 'linked', lang: string, params: Record<string, string>, binId: string): void {
    const body = fit(`${t(lang, key, params)}\n\n${t(lang, 'notifyOffer')}`, 1024, key);
    const message = buttonsMessage(m.from, body, [{ id: buttonId.notify(lang, binId), title: fit(t(lang, 'notifyButton'), 20, '…') }]);
    this.deps.outbox.enqueue({ to: m.from, message, key: `resident:${m.id}:${key}` });
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
    }).immediate();
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
