import type { InboundMessage } from '../whatsapp/index.js';
import type { Conversation } from './conversation-store.js';
import type { MatchInput, MatchMethod, MatchResult } from './matcher/index.js';
import { detectLanguage, type MessageKey } from './messages.js';

/** A resident's message as the conversation sees it: WhatsApp's fields, when it is handled, and its photo if stored. */
export type ResidentMessage = Pick<InboundMessage, 'id' | 'from' | 'text' | 'location' | 'listReplyId' | 'buttonReplyId' | 'image'> & {
  /** when it is handled: the conversation's updatedAt */
  at: number;
  /** an image message's photo, once stored (the flow fetches it when `wantsPhoto` says so); null when it could not be */
  photo?: string | null;
};

/** An answer to send, as data; the flow words it in the resident's language and queues it. */
export type Reply =
  | { kind: 'text'; key: Extract<MessageKey, 'stopped' | 'started' | 'noBinNear' | 'feedbackThanks' | 'feedbackAskReason' | 'feedbackReasonThanks'>; lang: string }
  | { kind: 'ask-location'; lang: string }
  | { kind: 'choose'; lang: string; candidates: Conversation['candidates'] };

/** A report to make for a bin, or to link the resident to the bin's open one (the flow finds which, and answers). */
export interface ReportToFile {
  binId: string;
  method: MatchMethod | 'choice';
  lang: string;
  text: string | null;
  lat: number | null;
  lon: number | null;
  photo: string | null;
}

/** A resident's answer to the question the thank-you asked (👍 / 👎), or what went wrong after a 👎. */
export type Feedback = { reference: string; answer: 'up' | 'down' } | { reference: string; reason: string };

/** What one message does to a conversation. */
export interface Step {
  /** the conversation to store; null: nothing is stored (a message from a resident who opted out leaves no trace) */
  conversation: Conversation | null;
  replies: Reply[];
  /** stored together with the conversation, in one transaction */
  report: ReportToFile | null;
  /** the confirmation's "Notify me" button: subscribe the resident to the zone of this bin, as `subscribe <code>` does */
  subscribe: { binId: string; lang: string } | null;
  /** stored with the report, in the conversation's transaction */
  feedback: Feedback | null;
}

/** The reply buttons binbridge offers residents, by id: `notify:<lang>:<bin>`, `feedback:<up|down>:<lang>:<reference>`. */
export const buttonId = {
  notify: (lang: string, binId: string): string => `notify:${lang}:${binId}`,
  feedback: (answer: 'up' | 'down', lang: string, reference: string): string => `feedback:${answer}:${lang}:${reference}`,
};

type Pressed = { kind: 'notify'; lang: string; binId: string } | { kind: 'feedback'; answer: 'up' | 'down'; lang: string; reference: string };

/** One of our reply buttons; null for any other reply (its title is then read as text, as before). */
function pressed(id: string | undefined): Pressed | null {
  const notify = id ? /^notify:([a-z]{2,8}):(\S{1,64})$/.exec(id) : null;
  if (notify) return { kind: 'notify', lang: notify[1]!, binId: notify[2]! };
  const feedback = id ? /^feedback:(up|down):([a-z]{2,8}):(R-[0-9A-Z]{2,12})$/.exec(id) : null;
  if (feedback) return { kind: 'feedback', answer: feedback[1] as 'up' | 'down', lang: feedback[2]!, reference: feedback[3]! };
  return null;
}

/**
 * The report a 👍/👎 button of this message answers about, if it is one: the one `mayAnswer` will be asked about, so
 * the flow can look it up in the store before `nextStep` (which does no I/O).
 */
export function answersAbout(m: Pick<ResidentMessage, 'buttonReplyId'>): string | null {
  const button = pressed(m.buttonReplyId);
  return button?.kind === 'feedback' ? button.reference : null;
}

/** After a 👎, the next text is its reason for this long; later, a message is a message again. */
export const REASON_WAIT_MS = 24 * 3600_000;
/** a reason is kept to this many characters */
const REASON_MAX = 1000;

// `unsubscribe`/`afmelden` and `subscribe`/`aanmelden` are the notices' (notices/): they end or start subscriptions
// only, and reach the conversation (as any text) only when the notices did not take them
const STOP = /^\s*(stop|stopp)\s*[.!]?\s*$/i;
const START = /^\s*(start)\s*[.!]?\s*$/i;

const textOf = (m: Pick<ResidentMessage, 'text' | 'image'>): string => (m.text ?? m.image?.caption ?? '').trim();

/** Whether the flow should fetch and store the message's photo before `nextStep`: a photo the conversation will use. */
export function wantsPhoto(conversation: Conversation | undefined, m: Pick<ResidentMessage, 'text' | 'image'>): boolean {
  if (!m.image) return false;
  const text = textOf(m);
  return !STOP.test(text) && !START.test(text) && !conversation?.optedOut;
}

/**
 * One resident's conversation, one message at a time, with no I/O: STOP and START switch the conversation off
 * and on; otherwise what the message says (text or caption, pin, photo) is added to what is pending, a pending
 * choice is answered by the list reply, its number or the bin's code, and the matcher (`match`, the registry's
 * bins) decides: one bin makes a report, several are offered as a list, none asks for the location, and a pin
 * with no bin near is told so.
 */
export function nextStep(
  conversation: Conversation | undefined,
  m: ResidentMessage,
  match: (input: MatchInput) => MatchResult,
  /** whether this resident was asked about that report and has not answered yet */
  mayAnswer: (reference: string) => boolean = () => false,
): Step {
  const conv: Conversation = conversation
    ? { ...conversation, candidates: [...conversation.candidates], pending: { ...conversation.pending } }
    : { contact: m.from, lang: null, optedOut: false, awaiting: null, candidates: [], pending: {}, updatedAt: m.at };
  conv.contact = m.from;
  conv.updatedAt = m.at;
  const button = pressed(m.buttonReplyId);
  // a button's title is ours, not the resident's words: it neither tells the language nor joins the report
  const text = button ? '' : textOf(m);
  conv.lang = detectLanguage(text) ?? conv.lang ?? button?.lang ?? null;
  const lang = conv.lang ?? 'en';
  const step = (replies: Reply[], more: Partial<Pick<Step, 'subscribe' | 'feedback'>> = {}): Step => ({ conversation: conv, replies, report: null, subscribe: null, feedback: null, ...more });

  if (STOP.test(text)) {
    conv.optedOut = true;
    conv.awaiting = null;
    delete conv.feedbackFor;
    return step([{ kind: 'text', key: 'stopped', lang }]);
  }
  if (START.test(text)) {
    conv.optedOut = false;
    return step([{ kind: 'text', key: 'started', lang }]);
  }
  // a resident who sent STOP pressing a button of a message sent before: no subscription, no answer, no trace
  if (conv.optedOut) return { conversation: null, replies: [], report: null, subscribe: null, feedback: null };

  // a button ends a wait for a reason: the resident has moved on
  if (button && conv.awaiting === 'reason') endWait(conv);
  if (button?.kind === 'notify') return step([], { subscribe: { binId: button.binId, lang: button.lang } });
  if (button?.kind === 'feedback') {
    // a second press, or a question never asked of this resident: thanked, not counted
    if (!mayAnswer(button.reference)) return step([{ kind: 'text', key: 'feedbackThanks', lang }]);
    const feedback = { reference: button.reference, answer: button.answer };
    if (button.answer === 'up') return step([{ kind: 'text', key: 'feedbackThanks', lang }], { feedback });
    conv.awaiting = 'reason';
    conv.feedbackFor = button.reference;
    return step([{ kind: 'text', key: 'feedbackAskReason', lang }], { feedback });
  }
  if (conv.awaiting === 'reason') {
    const ref = conv.feedbackFor;
    endWait(conv);
    // what went wrong is said in words: a typed text within a day of the question (a pin, a photo or a list
    // choice is the start of something else)
    const fresh = conversation !== undefined && m.at - conversation.updatedAt <= REASON_WAIT_MS;
    if (ref && fresh && m.text && !m.image && !m.listReplyId && m.text.trim()) {
      return step([{ kind: 'text', key: 'feedbackReasonThanks', lang }], { feedback: { reference: ref, reason: Array.from(m.text.trim()).slice(0, REASON_MAX).join('') } });
    }
  }

  if (m.photo) conv.pending.photo = m.photo;
  if (text) conv.pending.text = [conv.pending.text, text].filter(Boolean).join(' / ').slice(0, 2000);
  if (m.location) {
    conv.pending.lat = m.location.latitude;
    conv.pending.lon = m.location.longitude;
  }

  if (conv.awaiting === 'choice') {
    const chosen = chosenBin(m, text, conv);
    if (chosen) return fileReport(conv, chosen, 'choice', lang);
  }

  const location = conv.pending.lat !== undefined && conv.pending.lon !== undefined ? { latitude: conv.pending.lat, longitude: conv.pending.lon } : undefined;
  const result = match({ ...(text ? { text } : {}), ...(location ? { location } : {}) });
  if (result.kind === 'matched') return fileReport(conv, result.binId, result.method, lang);
  if (result.kind === 'ambiguous') {
    conv.awaiting = 'choice';
    conv.candidates = result.candidates.slice(0, 10).map((c) => ({ binId: c.binId, address: c.address, distanceM: c.distanceM }));
    return step([{ kind: 'choose', lang, candidates: conv.candidates }]);
  }
  if (!location) {
    conv.awaiting = 'location';
    return step([{ kind: 'ask-location', lang }]);
  }
  conv.awaiting = null;
  conv.pending = {};
  return step([{ kind: 'text', key: 'noBinNear', lang }]);
}

function endWait(conv: Conversation): void {
  conv.awaiting = null;
  delete conv.feedbackFor;
}

/** The bin a resident picked from the list: its row, its number in the list, or its code in the text. */
function chosenBin(m: Pick<ResidentMessage, 'listReplyId'>, text: string, conv: Conversation): string | null {
  const ids = conv.candidates.map((c) => c.binId);
  if (m.listReplyId && ids.includes(m.listReplyId)) return m.listReplyId;
  const n = /^\s*(\d{1,2})\s*$/.exec(text)?.[1];
  if (n && Number(n) >= 1 && Number(n) <= ids.length) return ids[Number(n) - 1]!;
  const upper = text.toUpperCase().replace(/[\s-]/g, '');
  return ids.find((id) => upper.includes(id.replace(/-/g, ''))) ?? null;
}

/** The report takes what was pending; the conversation starts over. */
function fileReport(conv: Conversation, binId: string, method: MatchMethod | 'choice', lang: string): Step {
  const p = conv.pending;
  const report: ReportToFile = { binId, method, lang, text: p.text ?? null, lat: p.lat ?? null, lon: p.lon ?? null, photo: p.photo ?? null };
  conv.awaiting = null;
  conv.candidates = [];
  conv.pending = {};
  return { conversation: conv, replies: [], report, subscribe: null, feedback: null };
}
