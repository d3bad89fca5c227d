// The spool's claims on PostgreSQL (SELECT … FOR UPDATE SKIP LOCKED) as two instances' writers meet them: a claim that
// passes points another writer holds is counted (binbridge_spool_claim_conflicts_total), and a connection that breaks
// while a claim is being made fails the claim, not the process.
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { realClock } from '../../src/clock.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { PostgresSpool } from '../../src/storage/postgres/index.js';
import { postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const silent = pino({ level: 'silent' });
const conflicts = async (metrics: Metrics): Promise<number> => (await metrics.spoolClaimConflicts.get()).values[0]?.value ?? 0;

describe('spool claims on PostgreSQL', () => {
  const cluster = postgresCluster();

  const database = (): Promise<{ url: string; pool: pg.Pool }> => cluster.database();
  const spoolOn = (pool: pg.Pool, metrics?: Metrics): PostgresSpool =>
    new PostgresSpool(() => pool, { maxBytes: 1 << 20, clock: realClock, log: silent, countEveryMs: 0, ...(metrics ? { metrics } : {}) });

  it('counts a claim that passed points another instance\'s writer holds, and none that took the oldest', async () => {
    const { url, pool } = await database();
    const other = cluster.pool(url, 'binbridge-test-b');
    const [ma, mb] = [createMetrics(), createMetrics()];
    const [a, b] = [spoolOn(pool, ma), spoolOn(other, mb)];
    await a.insertIn(pool, Array.from({ length: 10 }, (_, i) => `m v=${i} ${1000 + i}`), 1);

    const first = await a.peek(4);
    expect(first?.lines).toHaveLength(4);
    const second = await b.peek(4);
    expect(second?.lines).toEqual(['m v=4 1004', 'm v=5 1005', 'm v=6 1006', 'm v=7 1007']);
    expect([await conflicts(ma), await conflicts(mb)]).toEqual([0, 1]);
    // the first writer's next claim starts at the oldest free point, behind the second's: its own claim is done, so it
    // passed the second writer's points
    await a.ack(first!);
    const third = await a.peek(4);
    expect(third?.lines).toEqual(['m v=8 1008', 'm v=9 1009']);
    expect([await conflicts(ma), await conflicts(mb)]).toEqual([1, 1]);
    // every point held, but the second writer holds a claim of its own: not counted (its points are not another's)
    expect(await b.peek(4)).toBeNull();
    expect(await conflicts(mb)).toBe(1);
    await b.ack(second!);
    await a.ack(third!);
    // nothing left: no conflict
    expect(await b.peek(4)).toBeNull();
    expect([await conflicts(ma), await conflicts(mb)]).toEqual([1, 1]);
    // every point held by another writer: nothing to claim, a conflict
    await a.insertIn(pool, ['m v=10 1010'], 2);
    const held = await a.peek(4);
    expect(await b.peek(4)).toBeNull();
    expect(await conflicts(mb)).toBe(2);
    await a.ack(held!);
    expect((await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM spool')).rows[0]!.n).toBe(0);
  });

  it('fails a claim whose connection breaks while it is made, instead of ending the process', async () => {
    const { pool } = await database();
    const admin = cluster.pool((await database()).url);
    await spoolOn(pool).insertIn(pool, ['m v=1 1000'], 1);
    // the server ends the claim's connection between its first statement and its second (PostgreSQL restarted)
    const breaking = {
      connect: async () => {
        const client = await pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
        let n = 0;
        (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
          if (++n === 2) {
            await admin.query('SELECT pg_terminate_backend($1)', [(client as unknown as { processID: number }).processID]);
            await waitFor(() => (client as unknown as { _ended: boolean })._ended, { message: 'the connection ended' });
          }
          return query(...args);
        };
        return client;
      },
    } as unknown as pg.Pool;
    const spool = new PostgresSpool(() => breaking, { maxBytes: 1 << 20, clock: realClock, log: silent, countEveryMs: 0 });
    await expect(spool.peek(10)).rejects.toThrow();
    // the point is there for the next claim, on a sound connection
    const sound = spoolOn(pool);
    const claim = await sound.peek(10);
    expect(claim?.lines).toEqual(['m v=1 1000']);
    await sound.ack(claim!);
  });
});
