// The alerts and the rules' state rows, in SQLite and in PostgreSQL (two pools on one database are two instances).
import { describe, expect, it } from 'vitest';
import { PostgresAlertStore, PostgresRuleStateRows, SqliteAlertStore } from '../../src/alerts/index.js';
import { alertStoreContract } from '../helpers/alert-store-contracts.js';
import { memoryDb } from '../helpers/db.js';
import { postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

alertStoreContract('SqliteAlertStore', async () => ({ store: new SqliteAlertStore(memoryDb()) }));

const cluster = postgresCluster();

alertStoreContract(
  'PostgresAlertStore',
  async () => {
    const [one, two] = await cluster.twoInstances();
    return { store: new PostgresAlertStore(one), second: new PostgresAlertStore(two) };
  },
  { shared: true },
);

describe('PostgresRuleStateRows', () => {
  it("locks a bin's row for its transaction: the other instance's lock waits for the commit and reads what it wrote", async () => {
    const [one, two] = await cluster.twoInstances();
    const first = await one.connect();
    const second = await two.connect();
    try {
      await first.query('BEGIN');
      // a bin never seen: the row is made to be locked
      expect(await new PostgresRuleStateRows(first).lock(['B', 'A'], 1000)).toEqual(new Map([['A', null], ['B', null]]));
      await second.query('BEGIN');
      let waited = true;
      const locked = new PostgresRuleStateRows(second).lock(['A'], 2000).then((m) => {
        waited = false;
        return m;
      });
      // the second instance waits on the first's row lock
      await waitFor(async () => (await one.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted')).rows[0]!.n > 0, { message: 'a lock waiting' });
      await new PostgresRuleStateRows(first).write([{ binId: 'A', state: '{"v":1}', at: 1000 }]);
      expect(waited).toBe(true);
      await first.query('COMMIT');
      expect(await locked).toEqual(new Map([['A', '{"v":1}']]));
      await second.query('COMMIT');
      expect((await new PostgresRuleStateRows(one).all()).map((r) => [r.bin_id, r.state])).toEqual([['A', '{"v":1}']]);
    } finally {
      first.release();
      second.release();
    }
  });
});
