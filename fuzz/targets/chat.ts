// The chat target: residents (and now and then a crew) talking to binbridge through the signed webhook in sandbox
// mode, so every message goes through the whole conversation: texts of every length up to WhatsApp's 4,096
// characters (bin codes, addresses, numbers for a choice, STOP/START, emoji, right-to-left and zero-width text, one
// endless word), location pins with wild coordinates, photos with captions, list and button replies with bogus
// ids, reactions and types binbridge does not know. A resident keeps a conversation across inputs (a small pool
// of numbers), so the flow's states (asked for a location, offered a choice) are reached. Oracle per input: 200.
// The run checks the rest: the inbox drains, no handler fails, the event loop is never blocked past the bound.
import http from 'node:http';
import fc from 'fast-check';
import { cityAddresses } from '../bridge.js';
import { anyText, TRICK_STRINGS } from '../hostile.js';
import { deriveSeed } from '../rng.js';
import { clip } from '../stats.js';
import type { NetworkTarget } from './network.js';
import { envelope, paceInbox, postWebhook, sign } from './wa.js';

const CREW_PHONES = ['31612345678', '31687654321', '31611223344'];
const RESIDENTS = 200;

export interface ChatContext {
  city: { id: string; address: string; lat: number; lon: number }[];
}

export function chatContext(): ChatContext {
  return { city: cityAddresses() };
}

const SCRIPTS = ['\u0627\u0644\u062d\u0627\u0648\u064a\u0629 \u0645\u0645\u062a\u0644\u0626\u0629', '\u05d4\u05e4\u05d7 \u05de\u05dc\u05d0', '\u202e\u202dUTR-0001', '🗑️🗑️🗑️ vol!!', 'ࠀ᠎​‌‍⁠﻿', 'z̴̢̛̖̹̓̈́a̸̰͔̓l̷̨̛g̷̣̈o̵͍̚'];

function longArb(ctx: ChatContext): fc.Arbitrary<string> {
  const word = fc.constantFrom('a', 'x', 'é', '🗑', 'אב', 'ا', '\u200b', '0', 'UTR');
  return fc.oneof(
    // one endless word (no space anywhere): one letter repeated, or letters of every kind
    { weight: 2, arbitrary: fc.tuple(word, fc.integer({ min: 200, max: 4096 })).map(([w, n]) => w.repeat(Math.ceil(n / w.length)).slice(0, n)) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 200, maxLength: 4096 }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'), minLength: 200, maxLength: 4096 }) },
    // many words: a long complaint, addresses and codes inside
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.array(fc.oneof(fc.constantFrom('de', 'bak', 'is', 'vol', 'bin', 'full', 'please', 'straat', ...SCRIPTS), fc.constantFrom(...ctx.city.slice(0, 50).map((c) => c.address))), { minLength: 20, maxLength: 800 }), fc.constantFrom(' ', '  ', '\n', ' \u200b'))
        .map(([ws, sep]) => ws.join(sep).slice(0, 4096)),
    },
    // exactly at and just past WhatsApp's limit
    { weight: 1, arbitrary: fc.constantFrom(4095, 4096, 4097).chain((n) => fc.string({ unit: 'grapheme-ascii', minLength: n, maxLength: n })) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 500, maxLength: 1500 }).map((s) => s.slice(0, 4096)) },
  );
}

function textArb(ctx: ChatContext): fc.Arbitrary<string> {
  const bin = fc.constantFrom(...ctx.city);
  return fc.oneof(
    { weight: 4, arbitrary: bin.chain((b) => fc.constantFrom(b.id, `bak ${b.id} is vol`, b.id.toLowerCase().replace('-', ' '), `${b.id.replace('-', '')}!!`, `the bin ${b.id} is full`, `${b.id} ${b.id}`)) },
    { weight: 4, arbitrary: bin.chain((b) => fc.constantFrom(b.address, `${b.address} vol`, b.address.toUpperCase(), b.address.replace(/[aeiou]/, ''), `bij ${b.address}`, b.address.split(' ')[0]!)) },
    { weight: 2, arbitrary: fc.constantFrom('1', '2', '3', '10', '11', '0', '99', ' 2 ', 'nummer 2') },
    { weight: 1, arbitrary: fc.constantFrom('STOP', 'stop.', 'Afmelden', 'START', 'start!', 'unsubscribe', 'STOP STOP') },
    { weight: 3, arbitrary: anyText(120) },
    { weight: 1, arbitrary: fc.constantFrom(...TRICK_STRINGS, ...SCRIPTS) },
    { weight: 3, arbitrary: longArb(ctx) },
  );
}

type Content = Record<string, unknown>;

function contentArb(ctx: ChatContext): fc.Arbitrary<Content> {
  const coord = (span: number) =>
    fc.oneof<fc.Arbitrary<unknown>[]>(
      fc.double({ min: -span, max: span, noNaN: true }),
      fc.constantFrom(0, -0, span, -span, span + 1e-9, 1e308, -1e308, 5e-324, 91, 181, 1000),
      fc.constantFrom('52.09', '5.11', 'abc', '', ' ', '1e999', 'NaN', '-Infinity', '0x1F', null, true, [], {}),
    );
  const near = fc.tuple(fc.constantFrom(...ctx.city), fc.double({ min: -0.001, max: 0.001, noNaN: true }), fc.double({ min: -0.001, max: 0.001, noNaN: true })).map(([b, dy, dx]) => ({ latitude: b.lat + dy, longitude: b.lon + dx }));
  const location = fc.record(
    {
      latitude: coord(90),
      longitude: coord(180),
      name: anyText(60),
      address: fc.oneof(anyText(80), fc.constantFrom(...ctx.city.map((c) => c.address))),
      url: fc.constant('https://example.invalid/'),
    },
    { requiredKeys: [] },
  );
  const replyId = fc.oneof(fc.constantFrom(...ctx.city.slice(0, 30).map((c) => c.id)), anyText(40), fc.constantFrom('accept:J-AAAA', 'done:J-AAAA', 'accept:', 'done:', ''), fc.integer({ min: 257, max: 3000 }).map((n) => 'i'.repeat(n)));
  return fc.oneof(
    { weight: 45, arbitrary: textArb(ctx).map((body) => ({ type: 'text', text: { body } })) },
    { weight: 8, arbitrary: near.map((loc) => ({ type: 'location', location: loc })) },
    { weight: 7, arbitrary: location.map((loc) => ({ type: 'location', location: loc })) },
    {
      weight: 10,
      arbitrary: fc
        .record({ id: fc.oneof(fc.stringMatching(/^[0-9]{10,18}$/), anyText(30)), caption: fc.option(textArb(ctx), { nil: undefined }), mime_type: fc.constantFrom('image/jpeg', 'image/png', 'image/webp', 'image/gif', 'text/html', '') }, { requiredKeys: ['id'] })
        .map((image) => ({ type: 'image', image })),
    },
    {
      weight: 12,
      arbitrary: fc
        .tuple(fc.constantFrom('button_reply', 'list_reply', 'nfm_reply', ''), replyId, anyText(30))
        .map(([kind, id, title]) => ({ type: 'interactive', interactive: { type: kind, ...(kind === 'nfm_reply' ? {} : { [kind || 'button_reply']: { id, title, description: title } }) } })),
    },
    { weight: 5, arbitrary: fc.tuple(replyId, anyText(20)).map(([payload, text]) => ({ type: 'button', button: { payload, text } })) },
    {
      weight: 8,
      arbitrary: fc.oneof(
        fc.tuple(fc.constantFrom('wamid.FUZZ.x', ''), fc.constantFrom('👍', '🗑️', '', 'x')).map(([message_id, emoji]) => ({ type: 'reaction', reaction: { message_id, emoji } })),
        fc.constant({ type: 'sticker', sticker: { id: '1', mime_type: 'image/webp', animated: false } }),
        fc.constant({ type: 'audio', audio: { id: '2', mime_type: 'audio/ogg', voice: true } }),
        fc.constant({ type: 'unsupported', errors: [{ code: 131051, title: 'Message type unknown' }] }),
        fc.constant({ type: 'system', system: { body: 'changed number', type: 'user_changed_number' } }),
        fc.constant({ type: 'contacts', contacts: [{ name: { formatted_name: 'A' }, phones: [{ phone: '+31 6 1234 5678' }] }] }),
        anyText(20).map((type) => ({ type, [type]: { x: 1 } })),
      ),
    },
    // the type says one thing and the content another
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('text', 'location', 'image', 'interactive', 'button'), textArb(ctx)).map(([type, body]) => ({ type, text: { body }, location: { latitude: body, longitude: body } })) },
  );
}

interface ChatPlan {
  who: number;
  crew: boolean;
  name: string;
  content: Content;
  context: boolean;
}

function planArb(ctx: ChatContext): fc.Arbitrary<ChatPlan> {
  return fc.record({
    who: fc.nat({ max: RESIDENTS - 1 }),
    crew: fc.oneof({ weight: 19, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    name: fc.oneof(fc.constantFrom('Ann', 'Jan de Vries', ''), anyText(60)),
    content: contentArb(ctx),
    context: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });
}

export async function fuzzChat(t: NetworkTarget, ctx: ChatContext): Promise<void> {
  const stats = t.stats;
  const arb = planArb(ctx);
  const secret = t.bridge.config.appSecret;
  const agent = new http.Agent({ keepAlive: true, maxSockets: t.concurrency, localAddress: '127.0.4.2' });
  const base = 31_600_000_000 + (t.phase.length % 7) * 1_000_000;
  let next = t.first;
  let stalled = false;
  // one message of a resident at a time: a conversation is a sequence
  const busy = new Set<number>();
  const worker = async (): Promise<void> => {
    while (next < t.budget && Date.now() < t.deadline && t.bridge.alive && !stalled) {
      if (!(await paceInbox(t.inboxPending, 300, 60_000, () => t.bridge.alive))) {
        stalled = true;
        stats.find({ check: 'inbox_stalled', phase: t.phase, message: `the inbox kept ${t.inboxPending()} message(s) waiting and did not move for 60 s` });
        break;
      }
      const i = next++;
      const seed = deriveSeed(t.seed, 'chat', t.phase, i);
      const [plan] = fc.sample(arb, { seed, numRuns: 1 });
      const from = plan!.crew ? CREW_PHONES[plan!.who % CREW_PHONES.length]! : String(base + plan!.who);
      while (busy.has(plan!.who)) await new Promise((r) => setTimeout(r, 5));
      busy.add(plan!.who);
      const message = {
        from,
        id: `wamid.FUZZ.CHAT.${t.phase}.${i}`,
        timestamp: String(Math.floor(Date.now() / 1000)),
        ...(plan!.context ? { context: { from: '15550000000', id: `wamid.FUZZ.OUT.${i % 97}` } } : {}),
        ...plan!.content,
      };
      const raw = Buffer.from(JSON.stringify(envelope(from, plan!.name, [message])));
      stats.inputs++;
      const kind = String(plan!.content.type);
      stats.answer(`type:${['text', 'location', 'image', 'interactive', 'button', 'reaction'].includes(kind) ? kind : 'other'}`);
      const text = (plan!.content.text as { body?: string } | undefined)?.body;
      const summary = `${plan!.crew ? 'crew' : `resident ${plan!.who}`} ${kind}${text !== undefined ? ` (${text.length} chars${text.includes(' ') ? '' : ', one word'})` : ''}: ${clip(JSON.stringify(plan!.content), 300)}`;
      stats.remember(summary);
      const a = await postWebhook(agent, t.bridge.httpPort, raw, { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, secret) });
      busy.delete(plan!.who);
      stats.detail(() => `${summary}\nbody: ${raw.toString('utf8')}\nanswer: ${a.status ?? a.error} ${a.body}`);
      const at = `npm run fuzz -- --seed ${t.seed} --replay chat:${t.phase}:${i}`;
      if (a.status === null) {
        stats.answer(`error:${a.error}`);
        if (a.error === 'timeout') stats.find({ check: 'chat_hang', phase: t.phase, message: 'no answer within 30 s', input: summary, at });
        continue;
      }
      stats.answer(`status:${a.status}`);
      if (a.status !== 200) {
        stats.refusals++;
        stats.find({ check: a.status >= 500 ? 'chat_5xx' : 'chat_status', phase: t.phase, message: `a signed message was answered ${a.status}: ${clip(a.body, 200)}`, input: summary, at });
      }
    }
  };
  stats.begin();
  try {
    await Promise.all(Array.from({ length: t.concurrency }, () => worker()));
  } finally {
    stats.end();
    agent.destroy();
  }
}
