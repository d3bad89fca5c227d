// The dispatcher's decisions with fake time: batching, routing, the crew's answers, escalation, collection.
// The outbox here only records what would be sent; the real outbox and the Graph emulator are in the integration tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import type { AppliedEvent } from '../../../src/alerts/index.js';
import { DecisionWork } from '../../../src/decisions.js';
import { Dispatcher, type DispatchOutbox } from '../../../src/dispatch/index.js';
import { SqliteZonesAndCrews, SqliteBinRegistry } from '../../../src/registry/index.js';
import { SqliteBinStateStore, openDatabase } from '../../../src/storage/index.js';
import { SEND_PRIORITY, type InboundMessage, type OutboundMessage, type Outbox, type OutboxEntry } from '../../../src/whatsapp/index.js';
import { telemetryBus } from '../../helpers/telemetry.js';
import { TEST_SEALER } from '../whatsapp/fixtures.js';

const HEADER = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';
const BINS = [
  'C-1,52.0900,5.1200,Oudegracht 1,centrum,rest,240,1000,50',
  'C-2,52.0950,5.1200,Oudegracht 90,centrum,rest,240,1000,50',
  'C-3,52.0910,5.1200,Oudegracht 12,centrum,rest,240,1000,50',
  'O-1,52.0900,5.1500,Biltstraat 1,oost,glass,240,1000,50',
];
const CREW = '31611111111';
const NIGHT = '31633333333';
const SUP = '31699999999';
const T0 = Date.parse('2026-11-25T10:00:00Z'); // 11:00 in Amsterdam

interface Sent {
  to: string;
  message: OutboundMessage;
  fallback?: OutboundMessage;
  priority?: number;
  key: string;
  ref?: string;
}

function setup(opts: { window?: number; escalate?: number; inWindow?: boolean; enabled?: boolean; maxBins?: number; rounds?: string[]; truckL?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-disp-'));
  fs.writeFileSync(path.join(dir, 'bins.csv'), [HEADER, ...BINS].join('\n') + '\n');
  const db = openDatabase(dir);
  const registry = new SqliteBinRegistry(db);
  registry.importFileIfChanged(path.join(dir, 'bins.csv'));
  const zonesAndCrews = new SqliteZonesAndCrews(db);
  zonesAndCrews.seedFromConfig(
    [
      { id: 'centrum', name: 'Centrum' },
      { id: 'oost', name: 'Oost' },
    ],
    [
      { id: 'crew-day', name: 'Day crew', phone: CREW, zones: ['centrum', 'oost'], shift: '06:00-22:00', lang: 'en' },
      { id: 'crew-night', name: 'Night crew', phone: NIGHT, zones: ['centrum'], shift: '22:00-06:00', lang: 'nl' },
    ],
  );
  const sent: Sent[] = [];
  const keys = new Set<string>();
  // the outbox in the decision's transaction: records what would be sent, once per key
  const outbox = {
    within: () => ({
      add: async (item: OutboxEntry) => {
        if (keys.has(item.key)) return { id: 0, created: false };
        keys.add(item.key);
        sent.push(item as Sent);
        return { id: sent.length, created: true };
      },
      unfinished: async () => 0,
    }),
  } as unknown as Outbox;
  const window: DispatchOutbox = { inWindow: () => opts.inWindow ?? false };
  const log = pino({ level: process.env.DEBUG_LOG ?? 'silent' });
  const decisions = new DecisionWork({ db, sealer: TEST_SEALER, outbox, pool: () => null, shared: false, log });
  const clock = new ManualClock(T0);
  const { bus, points } = telemetryBus();
  const binState = new SqliteBinStateStore(db);
  const dispatcher = new Dispatcher({
    decisions,
    lease: { holds: () => true },
    registry,
    binState,
    outbox: window,
    zonesAndCrews,
    config: {
      dispatch: {
        enabled: opts.enabled ?? true,
        batch_window_s: opts.window ?? 0,
        max_bins_per_job: opts.maxBins ?? 15,
        rounds: opts.rounds ?? [],
        truck_l: opts.truckL ?? 20_000,
        ride_along_m: 600,
        escalate_after_s: opts.escalate ?? 1800,
        supervisor_phone: SUP,
      },
      rules: { full_pct: 80 },
      timezone: 'Europe/Amsterdam',
      whatsapp: { templates: { dispatch: { name: 'bin_dispatch', lang: 'en' } } },
    },
    events: bus,
    log,
    clock,
  });
  /** the rules' events in a transaction, and the tick it asks for */
  const events = async (applied: AppliedEvent[]) => {
    await decisions.tx((t) => dispatcher.onEvents(t, applied));
    await dispatcher.settled();
  };
  const full = (binId: string) => events([{ type: 'full', binId, ts: clock.now(), message: 'full', opens: 'full', zone: 'x', opened: true }]);
  const request = async (binId: string) => {
    await decisions.tx((t) => dispatcher.request(t, binId, false, 'resident report'));
    await dispatcher.settled();
  };
  const from = (phone: string, m: Partial<InboundMessage>): InboundMessage => ({ id: `wamid.${Math.random()}`, from: phone, timestamp: clock.now(), type: 'text', ...m }) as InboundMessage;
  const sentToCrew = () => dispatcher.onOutboxResult({ ref: sent.at(-1)!.ref, key: sent.at(-1)!.key, status: 'sent' });
  const fillOf = (binId: string, fillPct: number) => binState.upsert([{ binId, ts: clock.now(), receivedAt: clock.now(), fillPct }]);
  const collected = (binId: string, fillPct: number) =>
    events([{ type: 'collected', binId, ts: clock.now(), value: fillPct, message: 'emptied', zone: 'x', opened: false }]);
  return { dispatcher, decisions, events, request, bus, sent, points, full, from, sentToCrew, advance: (ms: number) => clock.advance(ms), at: (t: number) => clock.advanceTo(t), zonesAndCrews, fillOf, collected, clock };
}

describe('Dispatcher', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => {
    s = setup();
  });

  it('sends one job to the on-shift crew of the zone, as the template outside the 24-hour window', async () => {
    await s.full('C-1');
    expect(s.sent).toHaveLength(1);
    const m = s.sent[0]!;
    expect(m.to).toBe(CREW);
    expect(m.message.type).toBe('template');
    const json = JSON.stringify(m.message);
    expect(json).toContain('C-1');
    expect(json).toContain('Oudegracht 1');
    const job = (await s.dispatcher.store.list())[0]!;
    expect(json).toContain(`accept:${job.id}`);
    expect(json).toContain(`done:${job.id}`);
    expect(job).toMatchObject({ status: 'pending', crew_id: 'crew-day', bin_ids: ['C-1'], zone: 'centrum' });
    await s.sentToCrew();
    expect((await s.dispatcher.store.get(job.id))!.status).toBe('sent');
  });

  it('makes no jobs on an instance with dispatch switched off', async () => {
    s = setup({ enabled: false });
    await s.full('C-1');
    await s.events([{ type: 'fire', binId: 'C-2', ts: T0, message: 'fire', opens: 'fire', urgent: true, zone: 'centrum', opened: true }]);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())).toEqual([]);
    expect(s.sent).toEqual([]);
  });

  it('uses reply buttons inside the window, with the template as fallback', async () => {
    s = setup({ inWindow: true });
    await s.full('C-1');
    const m = s.sent[0]!;
    expect(m.message.type).toBe('interactive');
    expect(m.fallback?.type).toBe('template');
  });

  it('never dispatches a bin that is already in an open job', async () => {
    await s.full('C-1');
    await s.full('C-1');
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())).toHaveLength(1);
    expect(s.sent).toHaveLength(1);
  });

  it('batches the bins of a zone within the window into one job in route order', async () => {
    s = setup({ window: 300 });
    await s.full('C-2');
    await s.advance(60_000);
    await s.full('C-1');
    await s.advance(60_000);
    await s.full('O-1');
    await s.full('C-3');
    await s.advance(179_000);
    await s.dispatcher.tick();
    expect(s.sent).toHaveLength(0);
    await s.advance(1000);
    await s.dispatcher.tick();
    const jobs = (await s.dispatcher.store.list());
    expect(jobs).toHaveLength(1);
    // from the first queued bin, nearest next: C-2 (north) -> C-3 -> C-1 (south)
    expect(jobs[0]!.bin_ids).toEqual(['C-2', 'C-3', 'C-1']);
    await s.advance(120_000);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list({ zone: 'oost' }))[0]!.bin_ids).toEqual(['O-1']);
  });

  it("splits a zone's long queue into jobs of at most max_bins_per_job bins", async () => {
    s = setup({ window: 60, maxBins: 2 });
    for (const id of ['C-1', 'C-2', 'C-3']) await s.full(id);
    await s.advance(60_000);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list()).map((j) => j.bin_ids.length).sort()).toEqual([1, 2]);
    expect(s.sent).toHaveLength(2);
  });

  it('sends a fire at once, unbatched, also to the supervisor', async () => {
    s = setup({ window: 300 });
    await s.full('C-1');
    await s.events([{ type: 'fire', binId: 'C-2', ts: T0, message: 'fire', opens: 'fire', urgent: true, zone: 'centrum', opened: true }]);
    expect(s.sent.map((m) => m.to).sort()).toEqual([CREW, SUP].sort());
    expect((await s.dispatcher.store.list())[0]).toMatchObject({ urgent: true, bin_ids: ['C-2'] });
    // a fire goes before everything else waiting in the outbox; a crew's ordinary job after emergency notices
    expect(s.sent.map((m) => m.priority)).toEqual([SEND_PRIORITY.fireDispatch, SEND_PRIORITY.fireDispatch]);
  });

  it('queues an ordinary job at the crew-job rank', async () => {
    s = setup({ window: 0 });
    await s.full('C-1');
    expect(s.sent.map((m) => m.priority)).toEqual([SEND_PRIORITY.crewJob]);
  });

  it('follows Accept and Done from the crew (buttons, quick replies and words), and ignores strangers', async () => {
    await s.full('C-1');
    await s.sentToCrew();
    const job = (await s.dispatcher.store.list())[0]!;
    expect(await s.dispatcher.handleMessage(s.from('31600000000', { text: 'done' }))).toBe(false);
    await s.advance(120_000);
    expect(await s.dispatcher.handleMessage(s.from(CREW, { type: 'button', buttonPayload: `accept:${job.id}` }))).toBe(true);
    expect((await s.dispatcher.store.get(job.id))).toMatchObject({ status: 'accepted', accepted_at: T0 + 120_000 });
    await s.advance(600_000);
    await s.dispatcher.handleMessage(s.from(CREW, { text: 'Klaar' }));
    expect((await s.dispatcher.store.get(job.id))).toMatchObject({ status: 'done', done_at: T0 + 720_000 });
    const point = s.points.find((p) => p.startsWith('dispatch,') && p.includes('status=done'))!;
    expect(point).toContain('seconds_to_accept=120');
    expect(point).toContain('seconds_to_done=720');
  });

  it('tells its listeners of every status change, with the job as stored', async () => {
    const seen: [string, string, string | null][] = [];
    s.bus.on('job.changed', ({ job, status }) => seen.push([status, job.status, job.crew_id]));
    await s.full('C-1');
    await s.sentToCrew();
    const job = (await s.dispatcher.store.list())[0]!;
    await s.dispatcher.handleMessage(s.from(CREW, { type: 'button', buttonPayload: `accept:${job.id}` }));
    await s.dispatcher.handleMessage(s.from(CREW, { text: 'done' }));
    expect(seen).toEqual([
      ['pending', 'pending', 'crew-day'],
      ['sent', 'sent', 'crew-day'],
      ['accepted', 'accepted', 'crew-day'],
      ['done', 'done', 'crew-day'],
    ]);
  });

  it('escalates to the supervisor when nobody accepts in time', async () => {
    await s.full('C-1');
    await s.sentToCrew();
    await s.advance(1_799_000);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())[0]!.status).toBe('sent');
    await s.advance(1000);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())[0]!.status).toBe('escalated');
    expect(s.sent.at(-1)!.to).toBe(SUP);
    await s.dispatcher.tick();
    expect(s.sent.filter((m) => m.to === SUP)).toHaveLength(1);
  });

  it('closes a job when the sensors see all its bins emptied', async () => {
    s = setup({ window: 60 });
    await s.full('C-1');
    await s.full('C-3');
    await s.advance(60_000);
    await s.dispatcher.tick();
    const job = (await s.dispatcher.store.list())[0]!;
    await s.events([{ type: 'collected', binId: 'C-1', ts: T0, message: 'emptied', closes: ['full'], zone: 'centrum', opened: false }]);
    expect((await s.dispatcher.store.get(job.id))!.status).toBe('pending');
    await s.events([{ type: 'collected', binId: 'C-3', ts: T0, message: 'emptied', closes: ['full'], zone: 'centrum', opened: false }]);
    expect((await s.dispatcher.store.get(job.id))!.status).toBe('done');
  });

  it('waits for a crew on shift, then sends to the one on shift (the night crew in Dutch)', async () => {
    await s.zonesAndCrews.deleteCrew('crew-night');
    await s.at(Date.parse('2026-11-25T22:30:00Z')); // 23:30 local: the day crew is off
    await s.full('C-1');
    expect(s.sent).toHaveLength(0);
    expect((await s.dispatcher.store.list())[0]).toMatchObject({ status: 'pending', crew_id: null });
    await s.zonesAndCrews.putCrew({ id: 'crew-night', name: 'Night crew', phone: NIGHT, zones: ['centrum'], shift: '22:00-06:00', lang: 'nl' });
    await s.dispatcher.tick();
    expect(s.sent[0]!.to).toBe(NIGHT);
    expect((await s.dispatcher.store.list())[0]!.crew_id).toBe('crew-night');
  });
});

describe('Dispatcher with rounds (06:00, 18:00, 22:00 local)', () => {
  const ROUNDS = ['06:00', '18:00', '22:00'];
  const local = (hhmm: string) => Date.parse(`2026-11-25T${hhmm}:00+01:00`);
  const alert = (s: ReturnType<typeof setup>, binId: string, cause: string) =>
    s.events([{ type: 'full', binId, ts: s.clock.now(), message: 'full', opens: 'full', cause, zone: 'centrum', opened: true }]);
  /** every bin emptied at 11:00 (the start), so the planner knows their mean rates from then on */
  const start = async (opts: Parameters<typeof setup>[0] = {}) => {
    const s = setup({ rounds: ROUNDS, ...opts });
    await s.dispatcher.tick();
    for (const id of ['C-1', 'C-2', 'C-3', 'O-1']) {
      s.fillOf(id, 0);
      await s.collected(id, 0);
    }
    return s;
  };

  it.each([
    [20_000, ['C-1:forecast', 'C-3:ride_along']],
    [480, ['C-1:forecast', 'C-3:ride_along']],
    [240, ['C-1:forecast']],
  ])('at the round, takes a bin forecast to overflow before the next round, and a neighbour full before it within the truck volume (%s l)', async (truckL, stops) => {
    const s = await start({ truckL, inWindow: true });
    await s.at(local('17:50'));
    s.fillOf('C-1', 65); // 9.3 %/h since 11:00: 80 % by 19:40, overflowing before the 22:00 round
    s.fillOf('C-2', 20); // 2.9 %/h: 80 % tomorrow after the 06:00 round
    s.fillOf('C-3', 55); // 7.9 %/h: 80 % by 21:10, before the 22:00 round but no overflow by then; 110 m from C-1
    s.fillOf('O-1', 30);
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())).toHaveLength(0);
    await s.at(local('18:00'));
    await s.dispatcher.tick();
    const jobs = (await s.dispatcher.store.list());
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.zone).toBe('centrum');
    expect(jobs[0]!.stops.map((x) => `${x.bin_id}:${x.reason}`)).toEqual(stops);
    expect(jobs[0]!.stops[0]!.hours_to_full).toBeCloseTo((80 - 65) / (65 / 7), 3);
    expect(JSON.stringify(s.sent[0]!.message)).toContain('C-1');
    // the crew sees which bins ride along: they may leave those when the truck is full
    if (stops.length > 1) expect(JSON.stringify(s.sent[0]!.message)).toContain('C-3 Oudegracht 12 (55%, if there is room)');
    const point = s.points.find((p) => p.startsWith('dispatch,') && p.includes('status=pending'))!;
    expect(point).toContain(`bins=${stops.length}`);
    expect(point).toContain('forecast_bins=1');
    expect(point).toContain(`ride_along_bins=${stops.length - 1}`);
    expect(point).toContain('alert_bins=0');
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())).toHaveLength(1);
  });

  it('gives two full alerts of one zone in one afternoon one job, at the round, each with its alert cause', async () => {
    const s = await start({ window: 300 });
    await s.at(local('16:00'));
    s.fillOf('C-1', 70); // 14 %/h: 98 % at 18:00, no overflow before the round
    await alert(s, 'C-1', 'forecast');
    await s.at(local('17:00'));
    s.fillOf('C-2', 80); // 13.3 %/h: 93 % at 18:00
    await alert(s, 'C-2', 'threshold');
    await s.dispatcher.tick();
    expect((await s.dispatcher.store.list())).toHaveLength(0);
    await s.at(local('18:00'));
    await s.dispatcher.tick();
    const jobs = (await s.dispatcher.store.list());
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.stops.map((x) => `${x.bin_id}:${x.reason}:${x.cause}`).sort()).toEqual(['C-1:alert:forecast', 'C-2:alert:threshold']);
    expect((await s.dispatcher.store.queue())).toHaveLength(0);
  });

  it('sends a late full now when the bin would overflow before the next round, with near bins full before it', async () => {
    const s = await start();
    await s.at(local('18:00'));
    await s.dispatcher.tick(); // the 18:00 round: nothing due
    await s.at(local('18:30'));
    s.fillOf('C-1', 95); // 12.7 %/h since 11:00: overflows before the 22:00 round
    s.fillOf('C-3', 60); // 8 %/h: full by 21:00, before the next round: rides along now
    await alert(s, 'C-1', 'threshold');
    const jobs = (await s.dispatcher.store.list());
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.stops.map((x) => `${x.bin_id}:${x.reason}`)).toEqual(['C-1:alert', 'C-3:ride_along']);
  });

  it("waits for the round with a bin whose alert came early, but not with a resident's report", async () => {
    const s = await start();
    await s.at(local('18:00'));
    await s.dispatcher.tick();
    await s.at(local('18:30'));
    s.fillOf('C-1', 40); // 5.3 %/h: 80 % after 06:00 tomorrow
    await alert(s, 'C-1', 'forecast');
    s.fillOf('C-2', 40);
    await s.request('C-2');
    expect((await s.dispatcher.store.list()).map((j) => j.stops.map((x) => `${x.bin_id}:${x.reason}:${x.cause}`))).toEqual([['C-2:alert:report']]);
    expect((await s.dispatcher.store.queue()).map((q) => q.binId)).toEqual(['C-1']);
  });

  it('sends a fire at once between rounds', async () => {
    const s = await start();
    await s.events([{ type: 'fire', binId: 'C-2', ts: s.clock.now(), message: 'fire', opens: 'fire', urgent: true, zone: 'centrum', opened: true }]);
    const jobs = (await s.dispatcher.store.list());
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ urgent: true, bin_ids: ['C-2'], stops: [{ bin_id: 'C-2', reason: 'fire', cause: 'fire' }] });
  });
});
