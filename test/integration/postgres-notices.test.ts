// Two instances on one PostgreSQL database, each with its own pool, outbox send loop, DecisionWork and Notices, as
// two binbridge processes run them: a subscription made at one is seen and ended at the other, a notice reaches each
// subscriber once while both send, also when both believe they hold the lease (a handover's overlap), and a notice
// scheduled at one instance is started and finished by the lease holder only.
import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DecisionWork } from '../../src/decisions.js';
import { Notices } from '../../src/notices/index.js';
import { SqliteBinRegistry, readBinsFile } from '../../src/registry/index.js';
import { Outbox, PostgresContacts, recipientOf, PostgresOutboxStore, type InboundMessage, type MessageTransport } from '../../src/whatsapp/index.js';
import { CITY, startInstances, type InProcessBridge } from '../helpers/bridge.js';
import { memoryDb } from '../helpers/db.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const bins = readBinsFile(CITY);
const CENTRUM = bins.filter((b) => b.zone === 'centrum');
const phone = (n: number) => `3166000${String(n).padStart(4, '0')}`;
let seq = 0;
const says = (n: number, text: string): InboundMessage => ({ id: `wamid.pg-notices.${++seq}`, from: phone(n), timestamp: Date.now(), type: 'text', text });

interface Instance {
  name: string;
  notices: Notices;
  outbox: Outbox;
  /** the notices' messages that reached "Meta" from this instance: recipient per message */
  noticeSends: string[];
  /** what this instance logged */
  lines: string[];
  /** whether this instance holds the lease, and when it was asked (each look asks) */
  lease: { held: boolean; asked: number[] };
}

describe('notices on two instances sharing PostgreSQL', () => {
  const cluster = postgresCluster();
  let running: Instance[] = [];
  afterEach(async () => {
    for (const i of running) {
      await i.notices.stop();
      await i.outbox.stop();
    }
    running = [];
  });

  async function instance(name: string, url: string, held: boolean): Promise<Instance> {
    const pool = cluster.pool(url, `binbridge-${name}`);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => void (lines.push(chunk.toString()), done()) }));
    const noticeSends: string[] = [];
    let n = 0;
    const transport: MessageTransport = {
      send: async (m) => {
        // the residents have not written to "Meta" (no inbox here): notices go as the template, answers as text
        if (m.type === 'template') noticeSends.push(recipientOf(m));
        return { wamid: `wamid.${name}.${++n}` };
      },
    };
    const db = memoryDb();
    const registry = new SqliteBinRegistry(db);
    registry.upsert(bins);
    const outbox = new Outbox({ store: new PostgresOutboxStore(() => pool, sealer), contacts: new PostgresContacts(() => pool, sealer), transport, log, pairIntervalMs: 0, pollMs: 50 });
    const decisions = new DecisionWork({ db, sealer, outbox, pool: () => pool, shared: true, log });
    const lease = { held, asked: [] as number[] };
    const notices = new Notices({
      decisions,
      lease: {
        holds: () => {
          lease.asked.push(Date.now());
          return lease.held;
        },
      },
      sealer,
      registry,
      zones: () => [
        { id: 'centrum', name: 'Centrum' },
        { id: 'west', name: 'West' },
      ],
      outbox,
      template: { name: 'bin_notice', lang: 'en' },
      limits: { quietHours: '00:00-00:00', maxPerResidentPerWeek: 10, timeZone: 'Europe/Amsterdam' },
      pollMs: 100,
      log,
    });
    outbox.onResult((r) => void notices.onResult(r));
    outbox.start();
    notices.start();
    const it = { name, notices, outbox, noticeSends, lines, lease };
    running.push(it);
    return it;
  }

  async function twoInstances(aHolds: boolean, bHolds: boolean): Promise<[Instance, Instance]> {
    const { url } = await cluster.database();
    return [await instance('a', url, aHolds), await instance('b', url, bHolds)];
  }

  /** Residents 1..n subscribe to centrum, alternately at each instance. */
  async function subscribe(at: readonly Instance[], n: number): Promise<void> {
    for (let i = 1; i <= n; i++) expect(await at[i % at.length]!.notices.handleMessage(says(i, `subscribe ${CENTRUM[i % CENTRUM.length]!.id}`))).toBe(true);
  }

  const once = (sends: readonly string[], n: number) => {
    expect(sends.length).toBe(n);
    expect(new Set(sends)).toEqual(new Set(Array.from({ length: n }, (_, i) => phone(i + 1))));
  };

  it('sees at one instance a subscription made at the other, and STOP at the other ends it', async () => {
    const [a, b] = await twoInstances(true, false);
    await subscribe([a], 1);
    expect(await b.notices.counts()).toEqual([{ zone: 'centrum', lang: 'en', subscribers: 1 }]);
    // STOP ends it and goes on to the reports' conversation (not handled here)
    expect(await b.notices.handleMessage(says(1, 'STOP'))).toBe(false);
    expect(await a.notices.counts()).toEqual([]);
    expect((await a.notices.consents()).map((c) => c.endReason)).toEqual(['stop']);
  });

  it('sends a notice created at the lease holder to each subscriber once while the other instance sends too', async () => {
    const [a, b] = await twoInstances(true, false);
    await subscribe([a, b], 40);
    const made = await a.notices.create({ kind: 'emergency', title: 'Storm', text: { en: 'Bins stay in.' }, target: { zones: ['centrum'] } });
    expect(made).toMatchObject({ status: 'sending', targeted: 40 });
    await waitFor(async () => (await b.notices.get(made.id))?.status === 'sent', { message: 'notice sent', timeoutMs: 20_000 });
    await waitFor(async () => (await b.notices.view(made.id))?.figures.sent === 40, { message: 'every send recorded' });
    // from whichever send loop claimed each message first
    once([...a.noticeSends, ...b.noticeSends], 40);
  });

  it('reaches each subscriber once when both instances believe they hold the lease (a handover overlapping)', async () => {
    const [a, b] = await twoInstances(true, true);
    await subscribe([a, b], 60);
    const made = await a.notices.create({ kind: 'emergency', title: 'Storm', text: { en: 'Bins stay in.' }, target: { all: true } });
    // both look at it at once: each batch is queued under the notice's row lock, by one of them
    b.notices.wake();
    await waitFor(async () => (await a.notices.get(made.id))?.status === 'sent', { message: 'notice sent', timeoutMs: 20_000 });
    await waitFor(async () => (await a.notices.view(made.id))?.figures.sent === 60, { message: 'every send recorded' });
    once([...a.noticeSends, ...b.noticeSends], 60);
  });

  it('starts a notice scheduled at another instance from the lease holder only, once', async () => {
    const [a, b] = await twoInstances(false, false);
    await subscribe([a, b], 10);
    const made = await b.notices.create({ kind: 'emergency', title: 'Later', text: { en: 'Bins stay in.' }, target: { zones: ['centrum'] }, sendAt: Date.now() + 300 });
    expect(made.status).toBe('scheduled');
    // nobody holds the lease: due or not, it waits, however often both instances look
    const lookedAfterDue = (i: Instance) => i.lease.asked.filter((t) => t > made.sendAt).length >= 2;
    await waitFor(() => lookedAfterDue(a) && lookedAfterDue(b), { message: 'both looked twice after it was due' });
    expect((await a.notices.get(made.id))?.status).toBe('scheduled');
    a.lease.held = true;
    a.notices.wake();
    await waitFor(async () => (await b.notices.get(made.id))?.status === 'sent', { message: 'notice sent', timeoutMs: 20_000 });
    once([...a.noticeSends, ...b.noticeSends], 10);
    const finished = (lines: string[]) => lines.filter((l) => l.includes('notice sent to every recipient')).length;
    expect(finished(a.lines)).toBe(1);
    expect(finished(b.lines)).toBe(0);
  });
});

describe('two bridges on one PostgreSQL store', () => {
  const cluster = postgresCluster();
  let bridges: InProcessBridge[] = [];
  afterAll(async () => {
    for (const b of bridges) await b.stop();
  });

  it('a resident who subscribes by a message to one is subscribed, and in the 24-hour window, at the other', async () => {
    const SECRET = 'notices-two-bridges';
    const url = await freshDatabase(cluster.server);
    bridges = await startInstances(2, { BINBRIDGE_STORE_URL: url, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: 'admin', BINBRIDGE_WHATSAPP_APP_SECRET: SECRET });
    const [a, b] = bridges as [InProcessBridge, InProcessBridge];
    const from = '31620000088';
    const raw = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', contacts: [{ wa_id: from, profile: { name: 'Ann' } }], messages: [{ from, id: 'wamid.PGSUB', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'subscribe UTR-0002' } }] } }] }],
    });
    const signature = 'sha256=' + createHmac('sha256', SECRET).update(raw).digest('hex');
    const posted = await fetch(`${a.httpUrl}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body: raw });
    expect(posted.status).toBe(200);
    const subscriptions = async () => (await (await fetch(`${b.httpUrl}/api/subscriptions`, { headers: { authorization: 'Bearer admin' } })).json()) as { total: number };
    await waitFor(async () => (await subscriptions()).total === 1, { message: 'the subscription at the other bridge' });
    expect(await b.outbox.inWindow(from, Date.now())).toBe(true);
    expect(await a.outbox.inWindow(from, Date.now())).toBe(true);
  }, 60_000);
});
