// Jobs and the dispatch queue in PostgreSQL: the DispatchStore contract on a real server, and two dispatchers (two
// instances: each its own pool, outbox, lease and memory) on one database and one simulated clock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppliedEvent } from '../../src/alerts/index.js';
import { ManualClock } from '../../src/clock.js';
import { DecisionWork } from '../../src/decisions.js';
import { Dispatcher, PostgresDispatchStore, type DispatchStatus } from '../../src/dispatch/index.js';
import { SqliteBinRegistry, SqliteZonesAndCrews } from '../../src/registry/index.js';
import { SqliteBinStateStore } from '../../src/storage/index.js';
import { PostgresLease, PostgresUnitOfWork } from '../../src/storage/postgres/index.js';
import { Outbox, PostgresOutboxStore, SqliteContacts, recipientOf, type InboundMessage, type MessageTransport } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { dispatchStoreContract } from '../helpers/dispatch-store-contracts.js';
import { postgresCluster } from '../helpers/postgres.js';
import { telemetryBus } from '../helpers/telemetry.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const log = pino({ level: process.env.DEBUG_LOG ?? 'silent' });
const T0 = Date.parse('2026-11-25T10:00:00Z'); // 11:00 in Amsterdam: the day crew is on shift
const CREW = '31611111111';
const SUP = '31699999999';
const BINS = [
  'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm',
  'C-1,52.0900,5.1200,Oudegracht 1,centrum,rest,240,1000,50',
  'C-2,52.0950,5.1200,Oudegracht 90,centrum,rest,240,1000,50',
  'O-1,52.0900,5.1500,Biltstraat 1,oost,glass,240,1000,50',
];

const cluster = postgresCluster();
const migratedPool = (): Promise<{ url: string; pool: pg.Pool }> => cluster.database();

dispatchStoreContract('PostgresDispatchStore', async () => {
  const { pool } = await migratedPool();
  const work = new PostgresUnitOfWork(pool, (client) => new PostgresDispatchStore(client));
  return { store: new PostgresDispatchStore(pool), tx: (fn) => work.tx(fn) };
});

/** What reached "Meta", from either instance. */
function wire(): { sent: { to: string; type: string; by: string }[]; transport(by: string): MessageTransport } {
  const sent: { to: string; type: string; by: string }[] = [];
  let n = 0;
  return {
    sent,
    transport: (by) => ({
      send: async (m) => {
        sent.push({ to: recipientOf(m), type: m.type, by });
        return { wamid: `wamid.P${++n}` };
      },
    }),
  };
}

describe('two dispatchers on one PostgreSQL database', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function twoInstances(opts: { window?: number } = {}) {
    const { url } = await migratedPool();
    const clock = new ManualClock(T0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-pg-disp-'));
    fs.writeFileSync(path.join(dir, 'bins.csv'), BINS.join('\n') + '\n');
    const w = wire();
    const make = (id: string) => {
      const pool = cluster.pool(url, id);
      // what each instance keeps to itself (the registry's view, bin state here): its own SQLite
      const db = memoryDb();
      const registry = new SqliteBinRegistry(db);
      registry.importFileIfChangedNow(path.join(dir, 'bins.csv'));
      const zonesAndCrews = new SqliteZonesAndCrews(db);
      zonesAndCrews.seedFromConfig(
        [
          { id: 'centrum', name: 'Centrum' },
          { id: 'oost', name: 'Oost' },
        ],
        [{ id: 'crew-day', name: 'Day crew', phone: CREW, zones: ['centrum', 'oost'], shift: '06:00-22:00', lang: 'en' }],
      );
      const outbox = new Outbox({ store: new PostgresOutboxStore(() => pool, sealer), contacts: new SqliteContacts(db, sealer), transport: w.transport(id), log, pairIntervalMs: 0 });
      const decisions = new DecisionWork({ db, sealer, outbox, pool: () => pool, shared: true, log });
      const lease = new PostgresLease({ pool, name: 'timed-work', id, clock, log });
      const { bus } = telemetryBus();
      const changes: DispatchStatus[] = [];
      bus.on('job.changed', ({ status }) => changes.push(status));
      const dispatcher = new Dispatcher({
        decisions,
        lease,
        registry,
        binState: new SqliteBinStateStore(db),
        outbox,
        zonesAndCrews,
        config: {
          dispatch: { enabled: true, batch_window_s: opts.window ?? 0, max_bins_per_job: 15, rounds: [], truck_l: 20_000, ride_along_m: 600, escalate_after_s: 1800, supervisor_phone: SUP },
          rules: { full_pct: 80 },
          timezone: 'Europe/Amsterdam',
          whatsapp: { templates: { dispatch: { name: 'bin_dispatch', lang: 'en' } } },
        },
        events: bus,
        log,
        clock,
      });
      outbox.onResult((r) => void dispatcher.onOutboxResult(r));
      outbox.start();
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        await dispatcher.stop();
        await outbox.stop();
        await lease.stop();
      };
      stops.push(stop);
      /** the rules' events at this instance, in a transaction of its own */
      const events = (applied: AppliedEvent[]) => decisions.tx((t) => dispatcher.onEvents(t, applied));
      const full = (binId: string) => events([{ type: 'full', binId, ts: clock.now(), message: 'full', opens: 'full', zone: 'centrum', opened: true }]);
      return { id, pool, lease, dispatcher, decisions, changes, full, stop };
    };
    const a = make('instance-a');
    const b = make('instance-b');
    clock.holdWhile(() => a.lease.renewing || b.lease.renewing || a.dispatcher.ticking || b.dispatcher.ticking);
    const from = (phone: string, m: Partial<InboundMessage>): InboundMessage => ({ id: `wamid.${Math.random()}`, from: phone, timestamp: clock.now(), type: 'text', ...m }) as InboundMessage;
    const jobs = () => new PostgresDispatchStore(a.pool).list();
    return { clock, a, b, wire: w, from, jobs };
  }

  it('ticks only at the lease holder: bins queued at both instances become one job, its crew message sent once', async () => {
    const { clock, a, b, wire: w, jobs } = await twoInstances({ window: 300 });
    await a.lease.start();
    await b.lease.start();
    expect([a.lease.holds(), b.lease.holds()]).toEqual([true, false]);
    // only the instance that does not hold the lease ticks at first: the window passes and nothing is made
    b.dispatcher.start();
    await a.full('C-1');
    await clock.advance(60_000);
    await b.full('C-2');
    await clock.advance(300_000);
    expect(await jobs()).toEqual([]);
    expect((await new PostgresDispatchStore(a.pool).queue()).map((q) => q.binId)).toEqual(['C-1', 'C-2']);
    // the holder's next tick batches what either queued
    a.dispatcher.start();
    await clock.advance(1_000);
    const made = await jobs();
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({ zone: 'centrum', crew_id: 'crew-day', bin_ids: ['C-1', 'C-2'] });
    await waitFor(async () => (await jobs())[0]?.status === 'sent', { message: 'the job sent' });
    for (let i = 0; i < 5; i++) await clock.advance(1_000);
    expect(w.sent.filter((m) => m.to === CREW)).toHaveLength(1);
    expect(await jobs()).toHaveLength(1);
    expect(await new PostgresDispatchStore(a.pool).queue()).toEqual([]);
  });

  it("applies a crew's Accept that reaches both instances at once exactly once", async () => {
    const { a, b, wire: w, from, jobs } = await twoInstances();
    await a.lease.start();
    await b.lease.start();
    await a.full('C-1');
    await a.dispatcher.settled();
    const [job] = await jobs();
    expect(job).toMatchObject({ status: 'pending', crew_id: 'crew-day' });
    await waitFor(async () => (await jobs())[0]?.status === 'sent', { message: 'the job sent' });
    const accept = from(CREW, { type: 'button', buttonPayload: `accept:${job!.id}` });
    expect(await Promise.all([a.dispatcher.handleMessage(accept), b.dispatcher.handleMessage({ ...accept, id: `${accept.id}.b` })])).toEqual([true, true]);
    expect((await jobs())[0]).toMatchObject({ status: 'accepted', crew_id: 'crew-day' });
    expect([...a.changes, ...b.changes].filter((s) => s === 'accepted')).toHaveLength(1);
    await waitFor(() => w.sent.filter((m) => m.to === CREW).length === 2, { message: 'the job and one answer to the Accept' });
    // a Done at the other instance finishes it, once
    await Promise.all([b.dispatcher.handleMessage(from(CREW, { text: 'done' })), a.dispatcher.handleMessage(from(CREW, { text: 'done' }))]);
    expect((await jobs())[0]!.status).toBe('done');
    expect([...a.changes, ...b.changes].filter((s) => s === 'done')).toHaveLength(1);
  });

  it('goes on escalating at the other instance once the holder is gone', async () => {
    const { clock, a, b, wire: w, jobs } = await twoInstances();
    await a.lease.start();
    await b.lease.start();
    // a tick every 30 s of simulated time: half an hour of it stays a few seconds of the test's
    a.dispatcher.start(30_000);
    b.dispatcher.start(30_000);
    await a.full('C-1');
    await waitFor(async () => (await jobs())[0]?.status === 'sent', { message: 'the job sent' });
    // the holder dies: its timers stop and the database sees its connections go
    await a.dispatcher.stop();
    await a.pool.end();
    for (let i = 0; i < 30 && !b.lease.holds(); i++) await clock.advance(1_000);
    expect(b.lease.holds()).toBe(true);
    expect((await new PostgresDispatchStore(b.pool).list())[0]!.status).toBe('sent');
    await clock.advance(31 * 60_000);
    const [job] = await new PostgresDispatchStore(b.pool).list();
    expect(job).toMatchObject({ status: 'escalated' });
    await waitFor(() => w.sent.some((m) => m.to === SUP && m.by === 'instance-b'), { message: 'the supervisor told by the survivor' });
    for (let i = 0; i < 3; i++) await clock.advance(1_000);
    expect(w.sent.filter((m) => m.to === SUP)).toHaveLength(1);
    expect(b.changes.filter((s) => s === 'escalated')).toHaveLength(1);
  }, 90_000);
});
