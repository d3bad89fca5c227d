import type { InboundMessage } from '../whatsapp/index.js';
import type { Conversation } from './conversation-store.js';
import type { MatchInput, MatchMethod, MatchResult } from './matcher/index.js';
import { detectLanguage, type MessageKey } from './messages.js';

/** A resident's message as the conversation sees it: WhatsApp's fields, when it is handled, and its photo if stored. */
export type ResidentMessage = Pick<InboundMessage, 'id' | 'from' | 'text' | 'location' | 'listReplyId' | 'image'> & {
  /** when it is handled: the conversation's updatedAt */
  at: number;
  /** an image message's photo, once stored (the flow fetches it when `wantsPhoto` says so); null when it could not be */
  photo?: string | null;
};

/** An answer to send, as data; the flow words it in the resident's language and queues it. */
export type Reply =
  | { kind: 'text'; key: Extract<MessageKey, 'stopped' | 'started' | 'noBinNear'>; lang: string }
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

/** What one message does to a conversation. */
export interface Step {
  /** the conversation to store; null: nothing is stored (a message from a resident who opted out leaves no trace) */
  conversation: Conversation | null;
  replies: Reply[];
  /** stored together with the conversation, in one transaction */
  report: ReportToFile | null;
}

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
export function nextStep(conversation: Conversation | undefined, m: ResidentMessage, match: (input: MatchInput) => MatchResult): Step {
  const conv: Conversation = conversation
    ? { ...conversation, candidates: [...conversation.candidates], pending: { ...conversation.pending } }
    : { contact: m.from, lang: null, optedOut: false, awaiting: null, candidates: [], pending: {}, updatedAt: m.at };
  conv.contact = m.from;
  conv.updatedAt = m.at;
  const text = textOf(m);
  conv.lang = detectLanguage(text) ?? conv.lang;
  const lang = conv.lang ?? 'en';
  const step = (replies: Reply[]): Step => ({ conversation: conv, replies, report: null });

  if (STOP.test(text)) {
    conv.optedOut = true;
    conv.awaiting = null;
    return step([{ kind: 'text', key: 'stopped', lang }]);
  }
  if (START.test(text)) {
    conv.optedOut = false;
    return step([{ kind: 'text', key: 'started', lang }]);
  }
  if (conv.optedOut) return { conversation: null, replies: [], report: null };

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
  return { conversation: conv, replies: [], report };
}
