import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresUnitOfWork, type PoolClient } from '../../src/storage/postgres/index.js';
import { postgresCluster } from '../helpers/postgres.js';
import { unitOfWorkContract, type Tally } from '../helpers/unit-of-work-contracts.js';

function tally(client: PoolClient): Tally {
  const read = async (sql: string, key: string): Promise<number | null> => {
    const { rows } = await client.query<{ value: string }>(sql, [key]);
    return rows.length === 0 ? null : Number(rows[0]!.value);
  };
  return {
    get: (key) => read('SELECT value FROM meta WHERE key = $1', key),
    getForUpdate: (key) => read('SELECT value FROM meta WHERE key = $1 FOR UPDATE', key),
    set: async (key, n) => void (await client.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, String(n)])),
    fail: async () => void (await client.query("INSERT INTO meta (key, value) VALUES ('f', NULL)")),
  };
}

describe('PostgresUnitOfWork', () => {
  const cluster = postgresCluster();
  const migrated = (): Promise<{ pool: pg.Pool; url: string }> => cluster.database();

  // one migrated database for the contract's cases, emptied before each (they run one after the other)
  let shared: pg.Pool | null = null;
  unitOfWorkContract('PostgreSQL', async () => {
    shared ??= (await migrated()).pool;
    const pool = shared;
    await pool.query('TRUNCATE meta');
    const uow = new PostgresUnitOfWork(pool, tally);
    const blocked = async (): Promise<boolean> => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      return rows[0]!.n > 0;
    };
    return { uow, blocked };
  });

  it('rolls back and drops the connection when the server ends it mid-transaction; the next transaction works', async () => {
    const { pool } = await migrated();
    const uow = new PostgresUnitOfWork(pool, (client) => ({ client, ...tally(client) }));
    const err = await uow
      .tx(async (t) => {
        await t.set('a', 1);
        const { rows } = await t.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // another session ends this one, as a restart or a failover of the server would
        await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await t.set('b', 2);
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/terminat|Connection/i);
    expect(await uow.tx(async (t) => [await t.get('a'), await t.get('b')])).toEqual([null, null]);
    await uow.tx((t) => t.set('c', 3));
    expect(await uow.tx((t) => t.get('c'))).toBe(3);
    expect(pool.totalCount).toBeLessThanOrEqual(2);
  });

  it('shows each connection under the application name', async () => {
    const { pool } = await migrated();
    const { rows } = await pool.query<{ name: string }>('SELECT application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()');
    expect(rows).toEqual([{ name: 'binbridge-test' }]);
  });
});
