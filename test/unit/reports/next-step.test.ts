// The residents' conversation as a pure function: every state a conversation can be in, against every kind of
// message a resident can send, and what the step says to store, answer and report.
import { describe, expect, it } from 'vitest';
import type { Conversation } from '../../../src/reports/conversation-store.js';
import type { MatchInput, MatchResult } from '../../../src/reports/matcher/index.js';
import { nextStep, wantsPhoto, type ResidentMessage, type Step } from '../../../src/reports/next-step.js';

const FROM = '31600000042';
const AT = 1_764_000_000_000;
const NEAR = { latitude: 52.09, longitude: 5.12 };
const FAR = { latitude: 0, longitude: 0 };
const candidate = (binId: string, address: string) => ({ binId, address, distanceM: null, textScore: 1, fillPct: null, score: 1 });

/** A stand-in for the matcher: a code names its bin, "Neude" names two, a pin near 52.09/5.12 snaps to UTR-0003. */
function match(input: MatchInput): MatchResult {
  const code = /UTR-\d{4}/.exec(input.text ?? '')?.[0];
  if (code) return { kind: 'matched', binId: code, method: 'code', candidates: [] };
  if (/neude/i.test(input.text ?? '')) return { kind: 'ambiguous', method: 'address', candidates: [candidate('UTR-0001', 'Neude 1'), candidate('UTR-0002', 'Neude 9')] };
  if (input.location && Math.abs(input.location.latitude - NEAR.latitude) < 0.01) return { kind: 'matched', binId: 'UTR-0003', method: 'location', candidates: [] };
  return { kind: 'none' };
}

const base: Conversation = { contact: FROM, lang: 'en', optedOut: false, awaiting: null, candidates: [], pending: {}, updatedAt: AT - 60_000 };
const STATES: Record<string, Conversation | undefined> = {
  new: undefined,
  idle: base,
  'awaiting location': { ...base, awaiting: 'location', pending: { text: 'full bin', photo: 'earlier.jpg' } },
  'awaiting choice': {
    ...base,
    awaiting: 'choice',
    pending: { text: 'Neude' },
    candidates: [
      { binId: 'UTR-0001', address: 'Neude 1', distanceM: null },
      { binId: 'UTR-0002', address: 'Neude 9', distanceM: null },
    ],
  },
  'opted out': { ...base, optedOut: true },
  'awaiting reason': { ...base, awaiting: 'reason', feedbackFor: 'R-AB12', pending: { text: 'earlier words' } },
};

/** The question about report R-AB12 was asked and is not answered yet; any other report's was not. */
const mayAnswer = (reference: string): boolean => reference === 'R-AB12';

type Msg = Omit<ResidentMessage, 'id' | 'from' | 'at'>;
const KINDS: Record<string, Msg> = {
  'text with a code': { text: 'UTR-0001 is full' },
  'text naming two bins': { text: 'Neude' },
  'text naming nothing': { text: 'hello there' },
  'location near a bin': { location: NEAR },
  'location far from bins': { location: FAR },
  'list reply': { listReplyId: 'UTR-0002', text: 'UTR-0002' },
  'number answering the list': { text: '2' },
  'button reply': { text: 'Done' },
  'notify button': { buttonReplyId: 'notify:nl:UTR-0004', text: 'Houd me op de hoogte' },
  '👍': { buttonReplyId: 'feedback:up:en:R-AB12', text: '👍 Good' },
  '👎': { buttonReplyId: 'feedback:down:en:R-AB12', text: '👎 Not good' },
  '👍 on a question not asked or answered': { buttonReplyId: 'feedback:up:en:R-ZZ99', text: '👍 Good' },
  photo: { image: { id: 'media-1' }, photo: 'new.jpg' },
  'photo with a code as caption': { image: { id: 'media-2', caption: 'UTR-0001' }, photo: 'new.jpg' },
  STOP: { text: 'STOP' },
  START: { text: 'start!' },
  'subscribe word': { text: 'aanmelden' },
  'unsubscribe word': { text: 'unsubscribe' },
  unknown: {},
};

/** What a step does, in one line: its reply kinds (or the report it files), and where the conversation stands. */
function outcome(step: Step): string {
  if (!step.conversation) return 'nothing';
  if (step.report) return `report ${step.report.binId} by ${step.report.method}`;
  if (step.subscribe) return `subscribe ${step.subscribe.binId} (${step.subscribe.lang})`;
  const feedback = step.feedback ? `${'answer' in step.feedback ? step.feedback.answer : `reason "${step.feedback.reason}"`} → ` : '';
  const replies = feedback + step.replies.map((r) => (r.kind === 'text' ? r.key : r.kind)).join(',');
  return step.conversation.optedOut ? `${replies} (opted out)` : replies;
}

// every state × kind: rows are the kinds, columns the states in the order of STATES
const EXPECTED: Record<string, [string, string, string, string, string, string]> = {
  'text with a code': ['report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by choice', 'nothing', 'reason "UTR-0001 is full" → feedbackReasonThanks'],
  'text naming two bins': ['choose', 'choose', 'choose', 'choose', 'nothing', 'reason "Neude" → feedbackReasonThanks'],
  'text naming nothing': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'reason "hello there" → feedbackReasonThanks'],
  'location near a bin': ['report UTR-0003 by location', 'report UTR-0003 by location', 'report UTR-0003 by location', 'report UTR-0003 by location', 'nothing', 'report UTR-0003 by location'],
  'location far from bins': ['noBinNear', 'noBinNear', 'noBinNear', 'noBinNear', 'nothing', 'noBinNear'],
  'list reply': ['report UTR-0002 by code', 'report UTR-0002 by code', 'report UTR-0002 by code', 'report UTR-0002 by choice', 'nothing', 'report UTR-0002 by code'],
  'number answering the list': ['ask-location', 'ask-location', 'ask-location', 'report UTR-0002 by choice', 'nothing', 'reason "2" → feedbackReasonThanks'],
  'button reply': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'reason "Done" → feedbackReasonThanks'],
  'notify button': ['subscribe UTR-0004 (nl)', 'subscribe UTR-0004 (nl)', 'subscribe UTR-0004 (nl)', 'subscribe UTR-0004 (nl)', 'nothing', 'subscribe UTR-0004 (nl)'],
  '👍': ['up → feedbackThanks', 'up → feedbackThanks', 'up → feedbackThanks', 'up → feedbackThanks', 'nothing', 'up → feedbackThanks'],
  '👎': ['down → feedbackAskReason', 'down → feedbackAskReason', 'down → feedbackAskReason', 'down → feedbackAskReason', 'nothing', 'down → feedbackAskReason'],
  '👍 on a question not asked or answered': ['feedbackThanks', 'feedbackThanks', 'feedbackThanks', 'feedbackThanks', 'nothing', 'feedbackThanks'],
  photo: ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'ask-location'],
  'photo with a code as caption': ['report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by choice', 'nothing', 'report UTR-0001 by code'],
  STOP: ['stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)'],
  START: ['started', 'started', 'started', 'started', 'started', 'started'],
  // the notices take these words before the conversation does (rooms/residents.ts); alone, they are words
  'subscribe word': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'reason "aanmelden" → feedbackReasonThanks'],
  'unsubscribe word': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'reason "unsubscribe" → feedbackReasonThanks'],
  unknown: ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing', 'ask-location'],
};

const cases = Object.entries(KINDS).flatMap(([kind, msg]) =>
  Object.entries(STATES).map(([state, conv], i) => ({ state, conv, kind, msg, expected: EXPECTED[kind]![i]! })),
);

describe('nextStep: every state × every kind of message', () => {
  it.each(cases)('$state, $kind → $expected', ({ conv, msg, expected }) => {
    const before = structuredClone(conv);
    const step = nextStep(conv, { id: 'wamid.1', from: FROM, at: AT, ...msg }, match, mayAnswer);
    expect(outcome(step)).toBe(expected);
    // the input is not touched: the flow stores what the step says, nothing else
    expect(conv).toEqual(before);
    if (step.conversation) expect(step.conversation).toMatchObject({ contact: FROM, updatedAt: AT });
    if (step.report) {
      // a report takes what was pending, and the conversation starts over
      expect(step.conversation).toMatchObject({ awaiting: null, candidates: [], pending: {} });
      expect(step.replies).toEqual([]);
    }
    const awaiting = step.conversation?.awaiting;
    if (expected === 'ask-location') expect(awaiting).toBe('location');
    if (expected === 'choose') expect(step.conversation?.candidates.map((c) => c.binId)).toEqual(['UTR-0001', 'UTR-0002']);
    if (expected === 'choose') expect(awaiting).toBe('choice');
    if (expected === 'noBinNear') expect(step.conversation).toMatchObject({ awaiting: null, pending: {} });
    // a 👎 waits for one message saying what went wrong; that message, or any other answer, ends the wait
    if (expected.startsWith('down')) expect(step.conversation).toMatchObject({ awaiting: 'reason', feedbackFor: 'R-AB12' });
    else if (step.conversation && !step.conversation.optedOut && !step.subscribe && expected !== 'started') expect(step.conversation.awaiting).not.toBe('reason');
    // the words of a reason or a button's title are not the resident's report
    if (expected.includes('reason') || step.subscribe || step.feedback) expect(step.conversation?.pending.text).toBe(conv?.pending.text);
  });
});

describe('nextStep: what a conversation carries from message to message', () => {
  it('files the report with what was pending: earlier text and photo, this pin', () => {
    const step = nextStep(STATES['awaiting location'], { id: 'w', from: FROM, at: AT, location: NEAR }, match);
    expect(step.report).toEqual({ binId: 'UTR-0003', method: 'location', lang: 'en', text: 'full bin', lat: NEAR.latitude, lon: NEAR.longitude, photo: 'earlier.jpg' });
  });

  it('joins the texts of a conversation, keeps a photo and a pin for the next message, and matches the pin then', () => {
    const seen: MatchInput[] = [];
    const spy = (input: MatchInput): MatchResult => (seen.push(input), match(input));
    const first = nextStep(undefined, { id: 'w1', from: FROM, at: AT, image: { id: 'm', caption: 'overflowing bin' }, photo: 'p.jpg' }, spy);
    expect(first.conversation).toMatchObject({ awaiting: 'location', pending: { text: 'overflowing bin', photo: 'p.jpg' }, lang: 'en' });
    const second = nextStep(first.conversation!, { id: 'w2', from: FROM, at: AT + 1, location: FAR }, spy);
    expect(outcome(second)).toBe('noBinNear');
    expect(seen).toEqual([{ text: 'overflowing bin' }, { location: { latitude: 0, longitude: 0 } }]);
    const choice = nextStep(STATES['awaiting choice'], { id: 'w3', from: FROM, at: AT, text: '1' }, spy);
    expect(choice.report).toMatchObject({ binId: 'UTR-0001', method: 'choice', text: 'Neude / 1' });
  });

  it('answers in the language the resident writes, and keeps it for the next message', () => {
    const nl = nextStep(undefined, { id: 'w', from: FROM, at: AT, text: 'de container is vol' }, match);
    expect(nl.replies).toEqual([{ kind: 'ask-location', lang: 'nl' }]);
    const next = nextStep(nl.conversation!, { id: 'w2', from: FROM, at: AT, location: FAR }, match);
    expect(next.replies).toEqual([{ kind: 'text', key: 'noBinNear', lang: 'nl' }]);
    expect(nextStep(undefined, { id: 'w', from: FROM, at: AT, text: 'STOP' }, match).replies).toEqual([{ kind: 'text', key: 'stopped', lang: 'en' }]);
  });

  it('STOP forgets a pending question but keeps what was pending; START does not ask again', () => {
    const stopped = nextStep(STATES['awaiting choice'], { id: 'w', from: FROM, at: AT, text: 'stop.' }, match);
    expect(stopped.conversation).toMatchObject({ optedOut: true, awaiting: null, pending: { text: 'Neude' } });
    const started = nextStep(stopped.conversation!, { id: 'w2', from: FROM, at: AT, text: 'START' }, match);
    expect(started.conversation).toMatchObject({ optedOut: false, awaiting: null });
  });
});

describe('nextStep: buttons and the satisfaction question', () => {
  it('takes the language of a button from its id, not from its title', () => {
    const up = nextStep(undefined, { id: 'w', from: FROM, at: AT, buttonReplyId: 'feedback:up:nl:R-AB12', text: '👍 Goed' }, match, mayAnswer);
    expect(up.feedback).toEqual({ reference: 'R-AB12', answer: 'up' });
    expect(up.replies).toEqual([{ kind: 'text', key: 'feedbackThanks', lang: 'nl' }]);
    const notify = nextStep({ ...base, lang: null }, { id: 'w', from: FROM, at: AT, buttonReplyId: 'notify:en:UTR-0010', text: 'Notify me: this area' }, match);
    expect(notify.subscribe).toEqual({ binId: 'UTR-0010', lang: 'en' });
    expect(notify.conversation).toMatchObject({ lang: 'en', awaiting: null });
  });

  it('keeps the reason with the report it was asked for, and trims and bounds it', () => {
    const down = nextStep(base, { id: 'w1', from: FROM, at: AT, buttonReplyId: 'feedback:down:en:R-AB12', text: '👎 Not good' }, match, mayAnswer);
    const reason = nextStep(down.conversation!, { id: 'w2', from: FROM, at: AT + 60_000, text: `  ${'bags left behind '.repeat(200)}` }, match, mayAnswer);
    expect(reason.feedback).toMatchObject({ reference: 'R-AB12' });
    const text = (reason.feedback as { reason: string }).reason;
    expect(text.startsWith('bags left behind')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(1000);
    expect(reason.conversation).toMatchObject({ awaiting: null });
    expect(reason.conversation?.feedbackFor).toBeUndefined();
  });

  it('stops waiting for a reason after a day: the next message is a message again', () => {
    const waiting: Conversation = { ...base, awaiting: 'reason', feedbackFor: 'R-AB12', updatedAt: AT - 25 * 3_600_000 };
    const step = nextStep(waiting, { id: 'w', from: FROM, at: AT, text: 'UTR-0001 is full' }, match, mayAnswer);
    expect(step.feedback).toBeNull();
    expect(step.report).toMatchObject({ binId: 'UTR-0001' });
  });

  it('lets a resident who sent STOP press no stale button', () => {
    const stopped = nextStep(base, { id: 'w1', from: FROM, at: AT, text: 'STOP' }, match, mayAnswer).conversation!;
    for (const buttonReplyId of ['notify:en:UTR-0004', 'feedback:down:en:R-AB12']) {
      expect(nextStep(stopped, { id: 'w2', from: FROM, at: AT + 1, buttonReplyId, text: 'x' }, match, mayAnswer)).toEqual({ conversation: null, replies: [], report: null, subscribe: null, feedback: null });
    }
  });
});

describe('wantsPhoto', () => {
  it.each([
    ['a photo', undefined, { image: { id: 'm' } }, true],
    ['a photo in a conversation', base, { image: { id: 'm', caption: 'UTR-0001' } }, true],
    ['no photo', base, { text: 'UTR-0001' }, false],
    ['a photo captioned STOP', base, { image: { id: 'm', caption: 'STOP' } }, false],
    ['a photo captioned START', base, { image: { id: 'm', caption: 'start' } }, false],
    ['a photo from a resident who opted out', { ...base, optedOut: true }, { image: { id: 'm' } }, false],
  ] as const)('%s → %s', (_name, conv, msg, expected) => {
    expect(wantsPhoto(conv, msg)).toBe(expected);
  });
});
