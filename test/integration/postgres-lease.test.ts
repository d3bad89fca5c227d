import net from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createMetrics } from '../../src/metrics.js';
import { PostgresLease, migratePostgres } from '../../src/storage/postgres/index.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });
const T0 = 1_780_000_000_000;

describe('PostgresLease', () => {
  const cluster = postgresCluster();

  /** two instances of binbridge on one database and one simulated clock; time stands still while a renewal is out */
  async function twoInstances() {
    const url = await freshDatabase(cluster.server);
    const clock = new ManualClock(T0);
    const make = (id: string) => {
      const pool = cluster.pool(url, id);
      const metrics = createMetrics();
      const lease = new PostgresLease({ pool, name: 'timed-work', id, clock, log, metrics });
      return { id, pool, metrics, lease };
    };
    const a = make('instance-a');
    const b = make('instance-b');
    await migratePostgres(a.pool);
    clock.holdWhile(() => a.lease.renewing || b.lease.renewing);
    return { clock, a, b };
  }

  const changes = async (metrics: ReturnType<typeof createMetrics>) =>
    Object.fromEntries((await metrics.leaseChanges.get()).values.map((v) => [String(v.labels.change), v.value]));

  it('is held by one instance at a time; the other sees who holds it', async () => {
    const { clock, a, b } = await twoInstances();
    await a.lease.start();
    await b.lease.start();
    expect([a.lease.holds(), b.lease.holds()]).toEqual([true, false]);
    expect(b.lease.holder()).toBe('instance-a');
    for (let i = 0; i < 12; i++) {
      await clock.advance(1_000);
      expect([a.lease.holds(), b.lease.holds()]).toEqual([true, false]);
    }
    const { rows } = await a.pool.query('SELECT holder, expires_at FROM leases');
    expect(rows).toEqual([{ holder: 'instance-a', expires_at: clock.now() - (clock.now() - T0) % 5_000 + 10_000 }]);
    expect((await a.metrics.leaseHeld.get()).values).toEqual([{ labels: { lease: 'timed-work' }, value: 1 }]);
    expect((await b.metrics.leaseHeld.get()).values).toEqual([{ labels: { lease: 'timed-work' }, value: 0 }]);
    await Promise.all([a.lease.stop(), b.lease.stop()]);
  });

  it('passes to the other instance within 15 s when the holder\'s connections die, and the holder stops regarding itself as holder', async () => {
    const { clock, a, b } = await twoInstances();
    await a.lease.start();
    // b tries half a period after a renews: the holder dies just after a renewal, b finds it expired as late as can be
    await clock.advance(2_500);
    await b.lease.start();
    await clock.advance(2_500);
    expect(a.lease.holds()).toBe(true);
    // the holder's process is gone as far as the database can tell: every connection of its pool closed
    const diedAt = clock.now();
    await a.pool.end();
    let takenAt: number | null = null;
    const b0 = b.lease.onChange((holds) => {
      if (holds) takenAt = clock.now();
    });
    for (let i = 0; i < 30 && takenAt === null; i++) {
      await clock.advance(500);
      expect(a.lease.holds() && b.lease.holds()).toBe(false);
    }
    b0();
    expect(takenAt).not.toBeNull();
    expect(takenAt! - diedAt).toBeLessThanOrEqual(15_000);
    expect(takenAt! - diedAt).toBeGreaterThanOrEqual(10_000 - 5_000);
    expect([a.lease.holds(), b.lease.holds(), a.lease.holder()]).toEqual([false, true, null]);
    expect(await changes(a.metrics)).toEqual({ acquired: 1, lost: 1 });
    expect(await changes(b.metrics)).toEqual({ acquired: 1 });
    await b.lease.stop();
    await a.lease.stop();
  });

  it('lets the lapsed holder\'s clock run out before the other takes it: never two holders', async () => {
    const { clock, a, b } = await twoInstances();
    await a.lease.start();
    await b.lease.start();
    // a's renewals stop reaching the database, but a's connection stays (a hanging network): it must step down by
    // its own clock before b may take over
    const stuck = a.pool.query.bind(a.pool);
    let hang = true;
    a.pool.query = ((...args: Parameters<typeof stuck>) => (hang ? new Promise(() => {}) : stuck(...args))) as typeof a.pool.query;
    clock.holdWhile(() => b.lease.renewing);
    let aLostAt: number | null = null;
    a.lease.onChange((holds) => {
      if (!holds) aLostAt = clock.now();
    });
    for (let i = 0; i < 40 && !b.lease.holds(); i++) {
      await clock.advance(250);
      expect(a.lease.holds() && b.lease.holds()).toBe(false);
    }
    expect(b.lease.holds()).toBe(true);
    expect(aLostAt).toBe(T0 + 8_000);
    hang = false;
    await b.lease.stop();
  });

  it('gives up on a try whose answer never comes (a network gone quiet) and takes the lease once the network is back', async () => {
    const { clock, a } = await twoInstances();
    // b reaches the database through a proxy that can go quiet: connections stay open, nothing gets through
    let quiet = false;
    const proxy = net.createServer((inbound) => {
      const outbound = net.connect(cluster.server.port, '127.0.0.1');
      inbound.on('data', (d) => void (quiet || outbound.write(d)));
      outbound.on('data', (d) => void (quiet || inbound.write(d)));
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL((a.pool as unknown as { options: { connectionString: string } }).options.connectionString);
      url.port = String((proxy.address() as net.AddressInfo).port);
      const pool = cluster.pool(url.toString());
      const b = new PostgresLease({ pool, name: 'timed-work', id: 'instance-b', clock, log });
      await a.lease.start();
      await b.start();
      clock.holdWhile(null);
      quiet = true;
      await a.lease.stop();
      await clock.advance(5_000);
      expect(b.renewing).toBe(true);
      // node-postgres gives up after a period of real time; the try is over and the next one may go
      await waitFor(() => !b.renewing, { timeoutMs: 15_000, message: 'the quiet try given up' });
      expect(b.holds()).toBe(false);
      quiet = false;
      await clock.advance(5_000);
      await waitFor(() => b.holds(), { timeoutMs: 10_000, message: 'b takes the lease once the network is back' });
      await b.stop();
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 40_000);

  it('is released at stop: the other instance takes it at its next try', async () => {
    const { clock, a, b } = await twoInstances();
    await a.lease.start();
    await b.lease.start();
    await clock.advance(1_000);
    await a.lease.stop();
    expect(a.lease.holds()).toBe(false);
    const stoppedAt = clock.now();
    while (!b.lease.holds() && clock.now() - stoppedAt < 10_000) await clock.advance(500);
    expect(clock.now() - stoppedAt).toBeLessThanOrEqual(5_000);
    await b.lease.stop();
  });

  it('is released at stop also after a renewal failed: its row would name it until it runs out', async () => {
    const { clock, a, b } = await twoInstances();
    await a.lease.start(); // the row: a's until T0 + 10 s
    await clock.advance(2_500);
    await b.lease.start(); // b tries at T0 + 2.5, 7.5, 12.5 s
    // a's renewal at T0 + 5 s fails (a connection lost under load): a no longer regards itself as holder, but the row
    // still names it
    const query = a.pool.query.bind(a.pool);
    a.pool.query = ((..._args: Parameters<typeof query>) => {
      a.pool.query = query;
      return Promise.reject(new Error('Connection terminated unexpectedly'));
    }) as typeof a.pool.query;
    await clock.advance(2_500);
    expect([a.lease.holds(), b.lease.holds()]).toEqual([false, false]);
    expect((await a.pool.query('SELECT holder FROM leases')).rows).toEqual([{ holder: 'instance-a' }]);
    await a.lease.stop();
    // b takes it at its next try, not once a's row has run out
    await clock.advance(2_500);
    expect(b.lease.holds()).toBe(true);
    await b.lease.stop();
  });
});
