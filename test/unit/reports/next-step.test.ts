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
};

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
  const replies = step.replies.map((r) => (r.kind === 'text' ? r.key : r.kind)).join(',');
  return step.conversation.optedOut ? `${replies} (opted out)` : replies;
}

// every state × kind: rows are the kinds, columns the states in the order of STATES
const EXPECTED: Record<string, [string, string, string, string, string]> = {
  'text with a code': ['report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by choice', 'nothing'],
  'text naming two bins': ['choose', 'choose', 'choose', 'choose', 'nothing'],
  'text naming nothing': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
  'location near a bin': ['report UTR-0003 by location', 'report UTR-0003 by location', 'report UTR-0003 by location', 'report UTR-0003 by location', 'nothing'],
  'location far from bins': ['noBinNear', 'noBinNear', 'noBinNear', 'noBinNear', 'nothing'],
  'list reply': ['report UTR-0002 by code', 'report UTR-0002 by code', 'report UTR-0002 by code', 'report UTR-0002 by choice', 'nothing'],
  'number answering the list': ['ask-location', 'ask-location', 'ask-location', 'report UTR-0002 by choice', 'nothing'],
  'button reply': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
  photo: ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
  'photo with a code as caption': ['report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by code', 'report UTR-0001 by choice', 'nothing'],
  STOP: ['stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)', 'stopped (opted out)'],
  START: ['started', 'started', 'started', 'started', 'started'],
  'subscribe word': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
  'unsubscribe word': ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
  unknown: ['ask-location', 'ask-location', 'ask-location', 'ask-location', 'nothing'],
};

const cases = Object.entries(KINDS).flatMap(([kind, msg]) =>
  Object.entries(STATES).map(([state, conv], i) => ({ state, conv, kind, msg, expected: EXPECTED[kind]![i]! })),
);

describe('nextStep: every state × every kind of message', () => {
  it.each(cases)('$state, $kind → $expected', ({ conv, msg, expected }) => {
    const before = structuredClone(conv);
    const step = nextStep(conv, { id: 'wamid.1', from: FROM, at: AT, ...msg }, match);
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
