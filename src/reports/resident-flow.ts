import { realClock, type Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Decisions } from '../decisions.js';
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
  redactText,
} from '../whatsapp/index.js';
import type { Sealer } from '../privacy/index.js';
import type { Conversation } from './conversation-store.js';
import type { BinMatcher } from './matcher/index.js';
import { choiceRows } from './choice-rows.js';
import { t as say, type MessageKey } from './messages.js';
import { answersAbout, buttonId, nextStep, wantsPhoto, type Feedback, type Reply, type ReportToFile } from './next-step.js';
import { MediaTooLarge, type MediaSource, type PhotoStore } from './photos.js';
import type { ReportEvents } from './report-events.js';
import type { Report } from './report-store.js';

export interface ResidentFlowDeps {
  /**
   * The decisions' unit of work: each message is handled in one transaction (the conversation, the report, the rules'
   * reaction, the dispatch request and every answer commit together); `read` for what is looked at outside one.
   */
  decisions: { tx<R>(work: (t: Decisions) => Promise<R>): Promise<R>; readonly read: Decisions };
  sealer: Sealer;
  matcher: () => BinMatcher;
  registry: BinRegistry;
  binState: BinStateStore;
  /** whether the resident wrote in the last 24 hours (a free-form message may be sent) */
  inWindow: (waId: string, now: number) => boolean | Promise<boolean>;
  media: MediaSource | null;
  photos: PhotoStore;
  /** the rules engine's side of a report, in the report's transaction: a `report` event, and `sensor_suspect` when the sensor calls the bin empty */
  onReport: (t: Decisions, binId: string) => Promise<void>;
  /** a report asks for a collection like a full alert does, in the report's transaction */
  requestDispatch: (t: Decisions, binId: string) => Promise<void>;
  config: { template: Config['whatsapp']['templates']['dispatch']; maxPhotoBytes: number };
  /** counts how each report was matched to its bin */
  countMatch?: (method: string) => void;
  /** told of each report made or changed, and of each answer to the satisfaction question, after the commit */
  events?: Emitter<ReportEvents>;
  /**
   * The confirmation's "Notify me" button: subscribes the resident to the zone of the bin, as `subscribe <code>`
   * does (the notices', wired by the composition root); runs inside the conversation's transaction.
   */
  subscribe?: (t: Decisions, m: InboundMessage, binId: string, lang: string) => Promise<void>;
  log: Logger;
  clock?: Clock;
}

/**
 * One resident's conversation, message by message: match what they sent to a bin (code, pin, address, photo
 * caption), ask once when it is ambiguous (a list) or ask for the location when nothing is known, confirm with a
 * reference, link a second report of a bin to the open one, and thank everyone when the bin is emptied.
 * Residents are known only by keyed pseudonyms; their numbers are sealed and kept only as long as needed.
 *
 * Each message is one transaction of the decisions, which holds the resident's conversation to its end: two
 * messages of one resident (two instances sharing a PostgreSQL store may each receive one) apply one after the other.
 */
export class ResidentFlow {
  private readonly clock: Clock;

  constructor(private readonly deps: ResidentFlowDeps) {
    this.clock = deps.clock ?? realClock;
  }

  /** Decides with `nextStep` and does what it says: stores the conversation, files the report, queues the answers. */
  async handle(m: InboundMessage): Promise<void> {
    const who = this.deps.sealer.pseudonym(m.from);
    // the photo is downloaded first (its URL expires within minutes), outside the transaction: none waits on the network
    const seen = await this.deps.decisions.read.conversations.get(who);
    const photo = wantsPhoto(seen, m) ? await this.fetchPhoto(m, who) : null;
    const about = answersAbout(m);
    await this.deps.decisions.tx(async (t) => {
      const conversation = await t.conversations.hold(who);
      const now = this.clock.now();
      const mayAnswer = about !== null && (await t.reports.mayAnswer(about, who));
      const fill = (id: string): number | null => this.deps.binState.get(id)?.fill_pct ?? null;
      const step = nextStep(
        conversation,
        { ...m, at: now, photo },
        (input) => this.deps.matcher().match(input, fill),
        (reference) => reference === about && mayAnswer,
      );
      if (!step.conversation) return;
      if (step.report) return this.report(t, m, who, step.conversation, step.report, now);
      await t.conversations.put(who, step.conversation);
      const answered = step.feedback ? await this.keepFeedback(t, who, step.feedback, now) : null;
      if (step.subscribe) await this.deps.subscribe?.(t, m, step.subscribe.binId, step.subscribe.lang);
      for (const r of step.replies) await this.send(t, m, r);
      if (answered) t.afterCommit(() => this.deps.events?.emit('report.feedback', answered));
    });
  }

  /** Keeps a resident's answer with the report; the event to tell of a 👍/👎 (not of a reason), null when none. */
  private async keepFeedback(t: Decisions, who: string, f: Feedback, now: number): Promise<ReportEvents['report.feedback'] | null> {
    const report = await t.reports.byReference(f.reference);
    if (!report) return null;
    if ('reason' in f) {
      // the resident's words, kept for operators; a number typed in them is masked like any free text we store
      if (await t.reports.reason(report.id, who, redactText(f.reason))) t.afterCommit(() => this.deps.log.info({ report: report.reference }, 'resident said what went wrong'));
      return null;
    }
    if (!(await t.reports.answer(report.id, who, f.answer, now))) return null;
    const zone = report.closed_zone ?? (report.bin_id ? this.deps.registry.get(report.bin_id)?.zone : undefined) ?? 'unknown';
    t.afterCommit(() => this.deps.log.info({ report: report.reference, zone, crew: report.closed_crew, answer: f.answer }, 'resident answered the satisfaction question'));
    return { reference: report.reference, zone, crew: report.closed_crew, answer: f.answer, at: now };
  }

  /** A report of a bin made by another channel (Open311); no resident to answer. */
  reportFromChannel(r: { binId: string | null; method: string; source: string; serviceCode: string; text: string | null; lat: number | null; lon: number | null; photo: string | null }): Promise<Report> {
    return this.deps.decisions.tx(async (t) => {
      const now = this.clock.now();
      const open = r.binId ? await t.reports.openOfBin(r.binId) : undefined;
      let report: Report;
      if (open) {
        if (await t.reports.addReporter(open.id, r.source, null, 'en', now)) await this.changed(t, open.id);
        report = (await t.reports.get(open.id))!;
      } else {
        report = await t.reports.create({ bin_id: r.binId, method: r.method, reporter: r.source, text: r.text, lat: r.lat, lon: r.lon, photo: r.photo, source: r.source, service_code: r.serviceCode, at: now });
        await this.changed(t, report.id);
        if (r.binId) await this.afterNewReport(t, r.binId);
      }
      t.afterCommit(() => this.deps.countMatch?.(r.method));
      return report;
    });
  }

  /** The bins of a job were handed to a crew: their open reports are dispatched. */
  onDispatched(binIds: readonly string[]): Promise<void> {
    return this.deps.decisions.tx(async (t) => {
      const now = this.clock.now();
      for (const id of binIds) {
        const open = await t.reports.openOfBin(id);
        if (open && open.status === 'open') {
          await t.reports.setStatus(open.id, 'dispatched', now);
          await this.changed(t, open.id);
        }
      }
    });
  }

  /**
   * A bin was emptied (by `crew`'s Done, or seen by the sensors: null): its report is closed and every resident who
   * reported it is thanked; inside their 24-hour window the thank-you asks whether they are happy (👍 / 👎).
   */
  onCollected(binId: string, crew: string | null = null): Promise<void> {
    return this.deps.decisions.tx(async (t) => {
      const open = await t.reports.openOfBin(binId);
      if (!open) return;
      const now = this.clock.now();
      const bin = this.deps.registry.get(binId);
      await t.reports.close(open.id, now, { zone: bin?.zone ?? null, crew });
      for (const r of await t.reports.reportersOf(open.id)) {
        if (!r.contact) continue;
        const to = this.deps.sealer.openText(r.contact);
        // a contact stored before senders were checked may be one we cannot write to: it must not fail the crew's Done
        if (!isAddressable(to)) {
          await t.reports.forgetContact(open.id, r.reporter);
          continue;
        }
        const body = say(r.lang, 'thanks', { ref: open.reference, code: binId, address: bin?.address ?? '' });
        const template = templateMessage(to, this.deps.config.template.name, this.deps.config.template.lang, [open.reference, fit(body, 900, open.reference)], []);
        const key = `report:${open.reference}:thanks:${r.reporter}`;
        if (await this.deps.inWindow(to, now)) {
          // reply buttons are free-form: only inside the window (the template outside it asks nothing)
          const ask = buttonsMessage(to, fit(`${body}\n\n${say(r.lang, 'feedbackQuestion')}`, 1024, open.reference), [
            { id: buttonId.feedback('up', r.lang, open.reference), title: say(r.lang, 'feedbackUp') },
            { id: buttonId.feedback('down', r.lang, open.reference), title: say(r.lang, 'feedbackDown') },
          ]);
          await t.outbox.add({ to, message: ask, fallback: template, key, ref: open.reference });
          await t.reports.asked(open.id, r.reporter, now);
        } else {
          await t.outbox.add({ to, message: template, key, ref: open.reference });
        }
        await t.reports.forgetContact(open.id, r.reporter);
      }
      await this.changed(t, open.id);
      t.afterCommit(() => this.deps.log.info({ report: open.reference, bin: binId }, 'report closed; residents thanked'));
    });
  }

  /** Links the resident to the bin's open report, or makes one; answers with its reference. In the message's transaction. */
  private async report(t: Decisions, m: InboundMessage, who: string, conv: Conversation, r: ReportToFile, now: number): Promise<void> {
    const { binId, method, lang } = r;
    const bin = this.deps.registry.get(binId);
    const contact = this.deps.sealer.seal(m.from);
    const params = { code: binId, address: bin?.address ?? '' };
    const open = await t.reports.openOfBin(binId);
    if (open) {
      if (await t.reports.addReporter(open.id, who, contact, lang, now)) await this.changed(t, open.id);
      await this.confirm(t, m, 'linked', lang, { ...params, ref: open.reference }, binId);
    } else {
      const report = await t.reports.create({ bin_id: binId, method, reporter: who, text: r.text, lat: r.lat, lon: r.lon, photo: r.photo, source: 'whatsapp', at: now });
      await t.reports.addReporter(report.id, who, contact, lang, now);
      await this.confirm(t, m, 'confirmed', lang, { ...params, ref: report.reference }, binId);
      await this.changed(t, report.id);
    }
    await t.conversations.put(who, conv);
    if (!open) await this.afterNewReport(t, binId);
    t.afterCommit(() => this.deps.countMatch?.(method));
  }

  /** Tells the bus of a report as it stands at the end of this transaction, once committed (what others would read). */
  private async changed(t: Decisions, reportId: number): Promise<void> {
    const events = this.deps.events;
    if (!events) return;
    const report = await t.reports.get(reportId);
    if (report) t.afterCommit(() => events.emit('report.changed', { report }));
  }

  private async afterNewReport(t: Decisions, binId: string): Promise<void> {
    await this.deps.onReport(t, binId);
    await this.deps.requestDispatch(t, binId);
  }

  private async send(t: Decisions, m: InboundMessage, r: Reply): Promise<void> {
    if (r.kind === 'text') return this.reply(t, m, r.key, r.lang);
    if (r.kind === 'choose') return this.sendChoice(t, m, r.candidates, r.lang);
    await t.outbox.add({ to: m.from, message: locationRequestMessage(m.from, say(r.lang, 'askLocation')), key: `resident:${m.id}:ask-location` });
  }

  private async sendChoice(t: Decisions, m: InboundMessage, candidates: Conversation['candidates'], lang: string): Promise<void> {
    const rows = choiceRows(candidates, lang, (id) => this.deps.registry.get(id));
    await t.outbox.add({
      to: m.from,
      message: listMessage(m.from, fit(say(lang, 'chooseBin'), 4096, '?'), fit(say(lang, 'chooseButton'), 20, '…'), [{ title: fit(say(lang, 'chooseSection'), 24, '…'), rows }]),
      key: `resident:${m.id}:choose`,
    });
  }

  /** The report's confirmation, with a reply button that subscribes the resident to notices for the bin's zone. */
  private async confirm(t: Decisions, m: InboundMessage, key: 'confirmed' | 'linked', lang: string, params: Record<string, string>, binId: string): Promise<void> {
    const body = fit(`${say(lang, key, params)}\n\n${say(lang, 'notifyOffer')}`, 1024, key);
    const message = buttonsMessage(m.from, body, [{ id: buttonId.notify(lang, binId), title: fit(say(lang, 'notifyButton'), 20, '…') }]);
    await t.outbox.add({ to: m.from, message, key: `resident:${m.id}:${key}` });
  }

  private async reply(t: Decisions, m: InboundMessage, key: MessageKey, lang: string, params: Record<string, string> = {}): Promise<void> {
    // the resident has just written, so a free-form message is inside the 24-hour window; the text holds registry
    // content (the address), clipped rather than refused
    await t.outbox.add({ to: m.from, message: textMessage(m.from, fit(say(lang, key, params), 4096, key)), key: `resident:${m.id}:${key}` });
  }

  private async fetchPhoto(m: InboundMessage, who: string): Promise<string | null> {
    if (!this.deps.media || !m.image) return null;
    try {
      const { bytes, mime } = await this.deps.media.fetch(m.image.id, this.deps.config.maxPhotoBytes);
      return await this.deps.photos.save(`${who}-${this.clock.now()}`, bytes, mime);
    } catch (err) {
      this.deps.log.warn({ reason: err instanceof MediaTooLarge ? 'too_large' : (err as Error).message }, 'report photo not stored');
      return null;
    }
  }
}
