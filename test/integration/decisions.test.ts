// The decisions' unit of work on both stores: what a transaction adds to the outbox commits with it or not at all,
// the send loop is woken only after the commit, and a rolled-back decision leaves no message behind.
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionWork } from '../../src/decisions.js';
import { migratePostgres, openPool } from '../../src/storage/postgres/index.js';
import { Outbox, PostgresOutboxStore, SqliteContacts, SqliteOutboxStore, textMessage, type MessageTransport } from '../../src/whatsapp/index.js';
import { memoryDb } from '../helpers/db.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startPostgres, type Postgres } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const silent = pino({ level: 'silent' });
const TO = '31611112222';

/** A transport that records what reached "Meta". */
function wire(): MessageTransport & { sent: string[] } {
  const sent: string[] = [];
  let n = 0;
  return {
    sent,
    send: async (m) => {
      sent.push(m.type === 'text' ? m.text.body : m.type);
      return { wamid: `wamid.D${++n}` };
    },
  };
}

describe('DecisionWork', () => {
  let server: Postgres;
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await server?.destroy();
  });

  const stores = {
    sqlite: async () => {
      const db = memoryDb();
      return { db, store: new SqliteOutboxStore(db, sealer), pool: null };
    },
    postgres: async () => {
      const url = await freshDatabase(server);
      const pool = openPool({ url, applicationName: 'binbridge-test' });
      pools.push(pool);
      await migratePostgres(pool);
      return { db: memoryDb(), store: new PostgresOutboxStore(() => pool, sealer), pool };
    },
  };

  for (const kind of ['sqlite', 'postgres'] as const) {
    describe(`on ${kind}`, () => {
      async function setup() {
        const { db, store, pool } = await stores[kind]();
        const transport = wire();
        // a poll far away: only a wake after the commit sends at once
        const outbox = new Outbox({ store, contacts: new SqliteContacts(db, sealer), transport, log: silent, pairIntervalMs: 0, pollMs: 3_600_000 });
        const work = new DecisionWork({ db, sealer, outbox, pool: () => pool, shared: pool !== null, log: silent });
        outbox.start();
        return { work, outbox, transport };
      }

      it('sends a message added in a transaction once it has committed', async () => {
        const { work, outbox, transport } = await setup();
        try {
          const added = await work.tx(async (t) => {
            const a = await t.outbox.add({ to: TO, message: textMessage(TO, 'committed'), key: 'k1' });
            expect(await t.outbox.unfinished([a.id])).toBe(1);
            return a;
          });
          expect(added.created).toBe(true);
          await waitFor(() => transport.sent.includes('committed'));
          expect(await work.read.outbox.unfinished([added.id])).toBe(0);
          // the same key again names the first message
          expect(await work.tx((t) => t.outbox.add({ to: TO, message: textMessage(TO, 'again'), key: 'k1' }))).toEqual({ id: added.id, created: false });
        } finally {
          await outbox.stop();
        }
      });

      it('leaves no message behind when the decision is rolled back, and runs nothing after it', async () => {
        const { work, outbox, transport } = await setup();
        let ran = false;
        try {
          await expect(
            work.tx(async (t) => {
              await t.outbox.add({ to: TO, message: textMessage(TO, 'undone'), key: 'k2' });
              t.afterCommit(() => (ran = true));
              throw new Error('the decision failed');
            }),
          ).rejects.toThrow('the decision failed');
          expect(ran).toBe(false);
          expect(await outbox.backlog()).toBe(0);
          // the key is free again: the retried decision adds its message
          expect((await work.tx((t) => t.outbox.add({ to: TO, message: textMessage(TO, 'retried'), key: 'k2' }))).created).toBe(true);
          await waitFor(() => transport.sent.includes('retried'));
          expect(transport.sent).not.toContain('undone');
        } finally {
          await outbox.stop();
        }
      });
    });
  }
});
