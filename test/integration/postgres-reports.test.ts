// Residents' reports and conversations on both stores (the contracts), and what two instances on one PostgreSQL
// must get right: one resident's messages apply in turn, one bin reported at both at once makes one report.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ManualClock } from '../../src/clock.js';
import { DecisionWork } from '../../src/decisions.js';
import { PostgresConversationStore, PostgresPhotoStore, PostgresReportStore, Retention, SqliteConversationStore, SqliteReportStore } from '../../src/reports/index.js';
import { Outbox, PostgresInboxStore, PostgresOutboxStore, SqliteContacts, Inbox } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { postgresCluster } from '../helpers/postgres.js';
import { conversationStoreContract, reportStoreContract } from '../helpers/report-store-contracts.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const T0 = 1_780_000_000_000;
const conv = { contact: '31620000009', lang: 'nl', optedOut: false, awaiting: null, candidates: [], pending: {}, updatedAt: T0 };

reportStoreContract('SqliteReportStore', async () => new SqliteReportStore(memoryDb()));
conversationStoreContract('SqliteConversationStore', async () => {
  const db = memoryDb();
  return { store: new SqliteConversationStore(db, sealer), raw: async (p) => db.prepare('SELECT state FROM resident_conversations WHERE pseudonym = ?').pluck().get(p) as Buffer | undefined };
});

describe('reports and conversations in PostgreSQL', () => {
  const cluster = postgresCluster();

  /** A pool on a fresh database at this release's layout. */
  const pool = async (): Promise<pg.Pool> => (await cluster.database()).pool;

  /** `work` in a transaction of its own connection. */
  async function tx<R>(p: pg.Pool, work: (c: pg.PoolClient) => Promise<R>): Promise<R> {
    const c = await p.connect();
    try {
      await c.query('BEGIN');
      const r = await work(c);
      await c.query('COMMIT');
      return r;
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    } finally {
      c.release();
    }
  }

  reportStoreContract('PostgresReportStore', async () => new PostgresReportStore(await pool()));
  conversationStoreContract('PostgresConversationStore', async () => {
    const p = await pool();
    return { store: new PostgresConversationStore(p, sealer), raw: async (ps) => (await p.query<{ state: Buffer }>('SELECT state FROM resident_conversations WHERE pseudonym = $1', [ps])).rows[0]?.state };
  });

  for (const known of [false, true]) {
  it(`holds ${known ? "a resident's conversation" : 'a new resident'} for one transaction at a time: the second (another instance) carries on from the first`, async () => {
    const [a, b] = await cluster.twoInstances();
    const before = known ? 'before' : undefined;
    if (known) await new PostgresConversationStore(a, sealer).put('p_r', { ...conv, pending: { text: 'before' } });
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstHolds!: () => void;
    const firstHeld = new Promise<void>((resolve) => (firstHolds = resolve));
    // a resident's first message at A, their second at B while A's transaction is open: B waits, then sees A's put
    const first = tx(a, async (c) => {
      const s = new PostgresConversationStore(c, sealer);
      expect((await s.hold('p_r'))?.pending.text).toBe(before);
      firstHolds();
      await held;
      await s.put('p_r', { ...conv, pending: { text: 'first' } });
      order.push('first put');
    });
    await firstHeld;
    const second = tx(b, async (c) => {
      const s = new PostgresConversationStore(c, sealer);
      const seen = await s.hold('p_r');
      order.push(`second saw ${seen?.pending.text ?? 'nothing'}`);
      await s.put('p_r', { ...conv, pending: { text: `${seen?.pending.text} second` } });
    });
    // B cannot get past hold while A holds the row: wait until B is seen waiting on the lock
    await expect.poll(async () => (await a.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n, { timeout: 10_000 }).toBe(1);
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first put', 'second saw first']);
    expect((await new PostgresConversationStore(a, sealer).get('p_r'))?.pending.text).toBe('first second');
  });
  }

  it('two residents filing the first report of one bin at two instances at once make one report, the second linked', async () => {
    const [a, b] = await cluster.twoInstances();
    const file = (p: pg.Pool, who: string) =>
      tx(p, async (c) => {
        const reports = new PostgresReportStore(c);
        const open = await reports.openOfBin('UTR-0009');
        const id = open ? open.id : (await reports.create({ bin_id: 'UTR-0009', method: 'code', reporter: who, text: null, lat: null, lon: null, photo: null, source: 'whatsapp', at: T0 })).id;
        await reports.addReporter(id, who, null, 'nl', T0);
        return id;
      });
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => file(i % 2 ? b : a, `p_${i}`)));
    expect(new Set(ids).size).toBe(1);
    const rows = await new PostgresReportStore(a).list({ bin: 'UTR-0009' });
    expect(rows.map((r) => r.reporters)).toEqual([6]);
  });

  it('purges old reports, their photos and idle conversations in PostgreSQL, in one transaction of the decisions', async () => {
    const p = await pool();
    const log = pino({ level: 'silent' });
    const db = memoryDb();
    const clock = new ManualClock(T0);
    const outbox = new Outbox({ store: new PostgresOutboxStore(() => p, sealer), contacts: new SqliteContacts(db, sealer), transport: { send: async () => ({ wamid: 'w' }) }, log });
    const work = new DecisionWork({ db, sealer, outbox, pool: () => p, shared: true, log });
    const photos = new PostgresPhotoStore(() => p, clock);
    const DAY = 86_400_000;
    const base = { bin_id: 'UTR-0001', method: 'code', reporter: 'p_x', text: null, lat: null, lon: null, source: 'whatsapp' };
    const [oldPhoto, newPhoto] = [await photos.save('p_x-1', Buffer.from('old jpeg'), 'image/jpeg'), await photos.save('p_x-2', Buffer.from('new jpeg'), 'image/jpeg')];
    const old = await work.tx(async (t) => {
      const r = await t.reports.create({ ...base, photo: oldPhoto, at: T0 - 181 * DAY });
      await t.reports.create({ ...base, photo: newPhoto, at: T0 - DAY });
      await t.conversations.put('p_idle', { ...conv, updatedAt: T0 - 2 * DAY });
      return r;
    });
    const inbox = new Inbox({ store: new PostgresInboxStore(p, sealer), log });
    const r = await new Retention({ work, photos, retentionDays: 180, inbox, log, clock }).purge();
    expect(r).toMatchObject({ reports: 1, conversations: 1 });
    expect(await work.read.reports.get(old.id)).toBeUndefined();
    expect(await photos.open(oldPhoto)).toBeNull();
    const kept = await photos.open(newPhoto);
    expect(Buffer.concat(await kept!.toArray()).toString()).toBe('new jpeg');
    expect(await work.read.conversations.get('p_idle')).toBeUndefined();
  });
});
