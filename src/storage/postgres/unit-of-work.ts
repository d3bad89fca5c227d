import type pg from 'pg';
import { TxScope, type UnitOfWork } from '../unit-of-work.js';

/**
 * The unit of work on PostgreSQL: each `tx` takes a connection of the pool for itself (BEGIN … COMMIT, READ
 * COMMITTED), so transactions run side by side; what must not interleave (a bin's readings, its rule state) is
 * ordered by row locks the bound stores take (`SELECT … FOR UPDATE`). A connection whose ROLLBACK failed (the server
 * went away) is destroyed rather than handed back to the pool.
 */
export class PostgresUnitOfWork<T> implements UnitOfWork<T> {
  private readonly scope = new TxScope();

  constructor(
    private readonly pool: pg.Pool,
    private readonly bind: (client: pg.PoolClient) => T,
  ) {}

  async tx<R>(work: (t: T) => Promise<R>): Promise<R> {
    this.scope.check();
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // a connection that breaks while checked out says so here (and fails the statement in flight), not as an
    // uncaught 'error' event; it is destroyed on release
    const onError = (err: Error): void => void (broken ??= err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await this.scope.run(() => work(this.bind(client)));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken ??= e));
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}
