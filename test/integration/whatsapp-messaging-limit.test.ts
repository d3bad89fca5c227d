// Meta's messaging limit and the outbox's priority order, against the Graph API emulator on a manual clock that
// both share: "24 hours later" is a moment the test picks, and what the emulator accepted is all that went out.
// The emulator enforces the limit as Meta does (a send past it is accepted, never delivered, and listed in
// `overLimit`), so a binbridge that kept to it leaves `overLimit` empty.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startGraphEmulator, type GraphEmulator, type SentMessage } from '../../emulator/index.js';
import { ManualClock } from '../../src/clock.js';
import { openDatabase } from '../../src/storage/index.js';
import { GraphClient, SEND_PRIORITY, SqliteContacts, sqliteOutbox, templateMessage, textMessage, type Outbox, type OutboxOptions } from '../../src/whatsapp/index.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const silent = pino({ level: 'silent' });
const TOKEN = 'limit-token';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-02T10:00:00Z');
const user = (n: number) => `3166100${String(n).padStart(4, '0')}`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(emulatorLimit: number | undefined, outbox: Partial<OutboxOptions>) {
  const clock = new ManualClock(T0);
  const graph = await startGraphEmulator({ accessToken: TOKEN, now: () => clock.now(), pairIntervalMs: 0, ...(emulatorLimit === undefined ? {} : { messagingLimit: emulatorLimit }) });
  cleanups.push(() => graph.close());
  const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wa-limit-')), { sync: 'normal' });
  cleanups.push(() => db.close());
  const contacts = new SqliteContacts(db, sealer);
  const make = (): Outbox => {
    const transport = new GraphClient({ graphUrl: graph.url, apiVersion: 'v23.0', phoneNumberId: graph.phoneNumberId, accessToken: TOKEN, clock });
    const o = sqliteOutbox({ db, sealer, contacts, transport, log: silent, clock, pairIntervalMs: 0, ...outbox });
    cleanups.push(() => o.stop());
    return o;
  };
  /** a user wrote: their 24-hour window is open, at binbridge and at Meta */
  const wrote = (to: string) => {
    contacts.touch(to, clock.now());
    graph.openWindow(to, clock.now());
  };
  return { clock, graph, db, make, wrote };
}

const template = (to: string, n: number) => ({ to, message: templateMessage(to, 'bin_notice', 'en', ['Notice', `number ${n}`], []), key: `t:${to}:${n}` });

/** Every moment a message outside a window went: the unique users reached in the 24 hours up to it. */
function mostInAnyDay(sent: readonly SentMessage[]): number {
  const outside = sent.filter((m) => !m.insideWindow);
  return Math.max(0, ...outside.map((m) => new Set(outside.filter((o) => o.at <= m.at && m.at - o.at < DAY).map((o) => o.to)).size));
}

/** Lets the outbox run until it has nothing it may send now. */
async function idle(clock: ManualClock, graph: GraphEmulator, outbox: Outbox, accepted: number): Promise<void> {
  await waitFor(
    async () => {
      await clock.advance(0);
      return graph.sent.length + graph.overLimit.length >= accepted && (await outbox.list({ limit: 500 })).every((i) => i.status !== 'sending');
    },
    { intervalMs: 10, message: `${accepted} sends accepted` },
  );
}

describe("Meta's messaging limit", () => {
  it('never reaches more unique users outside their window in any 24 hours; the rest wait, visibly, and go when the window moves, across a restart', async () => {
    const { clock, graph, make, wrote } = await setup(3, { messagingLimit: 3 });
    let outbox = make();
    outbox.start();
    for (let n = 1; n <= 5; n++) await outbox.add(template(user(n), 1));
    // a reply inside a window costs nothing, however full the limit
    wrote(user(9));
    await outbox.add({ to: user(9), message: textMessage(user(9), 'Thanks, noted.'), key: 'reply:9' });
    await idle(clock, graph, outbox, 4);
    expect(graph.overLimit).toEqual([]);
    expect(graph.sent.map((m) => m.to).sort()).toEqual([user(1), user(2), user(3), user(9)]);
    const waiting = (await outbox.list({ limit: 10 })).filter((i) => i.status === 'pending');
    expect(waiting.map((i) => [i.to, i.waitingFor])).toEqual([
      [user(5), 'messaging_limit'],
      [user(4), 'messaging_limit'],
    ]);
    expect(outbox.messagingLimitUsage()).toEqual({ used: 3, limit: 3 });

    // an hour later, user 1 again: already reached in these 24 hours, so it costs nothing more
    await clock.advance(HOUR);
    await outbox.add(template(user(1), 2));
    await idle(clock, graph, outbox, 5);
    expect(graph.sent.filter((m) => m.to === user(1))).toHaveLength(2);
    expect(graph.overLimit).toEqual([]);

    // users 2 and 3 were reached 24 hours ago at T0 + 24 h; not a millisecond sooner do 4 and 5 go
    await clock.advanceTo(T0 + DAY - 1);
    await idle(clock, graph, outbox, 5);
    expect(graph.sent.map((m) => m.to)).not.toContain(user(4));
    // time stops at the moment they may go: their sends (real HTTP) are stamped with it however slow the machine
    await clock.advanceTo(T0 + DAY);
    await idle(clock, graph, outbox, 7);
    expect(graph.sent.filter((m) => m.to === user(4) || m.to === user(5)).map((m) => m.at)).toEqual([T0 + DAY, T0 + DAY]);

    // a restart remembers who was reached: user 6 waits until user 1's 24 hours (from T0 + 1 h) are over
    await outbox.stop();
    outbox = make();
    outbox.start();
    await outbox.add(template(user(6), 1));
    await clock.advance(HOUR - 2000);
    await idle(clock, graph, outbox, 7);
    expect(graph.sent.map((m) => m.to)).not.toContain(user(6));
    await clock.advanceTo(T0 + DAY + HOUR);
    await idle(clock, graph, outbox, 8);
    expect(graph.sent.at(-1)).toMatchObject({ to: user(6), at: T0 + DAY + HOUR });
    expect(graph.overLimit).toEqual([]);
    expect(mostInAnyDay(graph.sent)).toBe(3);
  });

  it('estimates when a number of users outside their window can all be reached', async () => {
    const { clock, graph, make } = await setup(undefined, { messagingLimit: 2, mps: 80 });
    const outbox = make();
    outbox.start();
    await outbox.add(template(user(1), 1));
    await idle(clock, graph, outbox, 1);
    // one slot free now, the other when user 1's 24 hours end, then each a day later
    expect(outbox.reachAllBy(1)).toBe(T0 + 13);
    expect(outbox.reachAllBy(2)).toBe(T0 + DAY);
    expect(outbox.reachAllBy(4)).toBe(T0 + 2 * DAY);
  });
});

describe('the priority order', () => {
  it('sends a fire dispatch first, then emergency notices, crew jobs, report replies and service notices, in arrival order within each', async () => {
    // one message a second: the order is the one messages take the send rate's tokens in
    const { clock, graph, make, wrote } = await setup(undefined, { mps: 1 });
    const outbox = make();
    const queue: [string, number][] = [
      ['service-1', SEND_PRIORITY.serviceNotice],
      ['service-2', SEND_PRIORITY.serviceNotice],
      ['reply', SEND_PRIORITY.reportReply],
      ['crew', SEND_PRIORITY.crewJob],
      ['emergency-1', SEND_PRIORITY.emergencyNotice],
      ['emergency-2', SEND_PRIORITY.emergencyNotice],
      ['fire', SEND_PRIORITY.fireDispatch],
    ];
    for (const [i, [what, priority]] of queue.entries()) {
      wrote(user(i));
      await outbox.add({ to: user(i), message: textMessage(user(i), what), key: what, priority });
    }
    outbox.start();
    for (let i = 1; i <= queue.length; i++) {
      await idle(clock, graph, outbox, i);
      await clock.advance(1000);
    }
    expect(graph.sent.map((m) => (m.body.text as { body: string }).body)).toEqual(['fire', 'emergency-1', 'emergency-2', 'crew', 'reply', 'service-1', 'service-2']);
  });
});
