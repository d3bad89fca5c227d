// /readyz with a postgres:// store.url: whether PostgreSQL answers and who holds the lease for timed work, from
// the last probe, so that no request waits for a database that went away.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { DatabaseProbe, openPool } from '../../src/storage/postgres/index.js';
import { startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

interface Ready {
  ready: boolean;
  checks: Record<string, string>;
  instance: string;
  lease: { name: string; holder: string | null; this_instance: boolean };
}

/** /readyz, answered within a second or the test fails: no request may hang on the database */
async function readyz(bridge: InProcessBridge): Promise<{ status: number; body: Ready; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${bridge.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
  return { status: res.status, body: (await res.json()) as Ready, ms: performance.now() - t0 };
}

describe('/readyz on PostgreSQL', () => {
  // its own cluster: a test here stops and starts the server
  const cluster = postgresCluster({ own: true });

  it('says the database answers and who holds the lease; 503 within seconds of the server stopping; ready again once it is back', async () => {
    const url = await freshDatabase(cluster.server);
    const first = await startBridge({ BINBRIDGE_STORE_URL: url });
    const second = await startBridge({ BINBRIDGE_STORE_URL: url });
    let down = false;
    try {
      const holder = first.lease.holder()!;
      const a = await readyz(first);
      expect(a.status).toBe(200);
      expect(a.body).toEqual({
        ready: true,
        checks: { broker: 'ok', store: 'ok', influx: 'off', postgres: 'ok' },
        instance: holder,
        lease: { name: 'timed-work', holder, this_instance: true },
      });
      const b = await readyz(second);
      expect(b.status).toBe(200);
      expect(b.body.instance).not.toBe(holder);
      expect(b.body.lease).toEqual({ name: 'timed-work', holder, this_instance: false });

      await cluster.server.stop();
      down = true;
      const stoppedAt = performance.now();
      const slowest = { ms: 0 };
      await waitFor(
        async () => {
          const r = await readyz(first);
          slowest.ms = Math.max(slowest.ms, r.ms);
          return r.status === 503 && r.body.checks.postgres === 'unreachable' && !r.body.ready;
        },
        { timeoutMs: 15_000, intervalMs: 100, message: '/readyz 503 once PostgreSQL is gone' },
      );
      expect(performance.now() - stoppedAt).toBeLessThan(6_000);
      await waitFor(async () => (await readyz(second)).status === 503, { timeoutMs: 6_000, message: 'the second instance too' });
      expect(slowest.ms).toBeLessThan(1_000);

      await cluster.server.start();
      down = false;
      await waitFor(async () => (await readyz(first)).status === 200 && (await readyz(second)).status === 200, { timeoutMs: 15_000, intervalMs: 100, message: 'ready again' });
      const back = await readyz(first);
      expect(back.body.checks.postgres).toBe('ok');
      // the lease is held again, by one of them, and both say by whom
      await waitFor(async () => (await readyz(first)).body.lease.holder !== null && first.lease.holder() === second.lease.holder(), { timeoutMs: 15_000, message: 'the lease held again' });
      const [l1, l2] = [(await readyz(first)).body.lease, (await readyz(second)).body.lease];
      expect(l1.holder).toBe(l2.holder);
      expect([l1.this_instance, l2.this_instance].filter(Boolean)).toHaveLength(1);
    } finally {
      await first.stop();
      await second.stop();
      if (down) await cluster.server.start();
    }
  }, 90_000);

  it('counts a probe whose answer does not come in time as unreachable, by the injected clock, and never sends two at once', async () => {
    const url = await freshDatabase(cluster.server);
    const pool = openPool({ url });
    const clock = new ManualClock(1_780_000_000_000);
    const probe = new DatabaseProbe({ pool, url, clock, log: pino({ level: 'silent' }), everyMs: 2_000, timeoutMs: 1_500 });
    try {
      probe.start();
      await clock.advance(2_000);
      await waitFor(() => !probe.probing, { message: 'the first probe answered' });
      expect(probe.state).toBe('ok');
      // the network goes quiet: queries are sent and never answered
      const real = pool.query.bind(pool);
      const hung: ((result: unknown) => void)[] = [];
      pool.query = ((..._args: unknown[]) => new Promise((resolve) => hung.push(resolve))) as typeof pool.query;
      await clock.advance(2_000);
      expect([probe.probing, probe.state]).toEqual([true, 'ok']);
      await clock.advance(1_499);
      expect(probe.state).toBe('ok');
      await clock.advance(1);
      expect(probe.state).toBe('unreachable');
      await clock.advance(10_000);
      expect(hung).toHaveLength(1);
      // the network is back: the late answer comes, and the next probe finds the database
      pool.query = real;
      hung[0]!({ rows: [] });
      await waitFor(() => !probe.probing, { message: 'the hung probe over' });
      expect(probe.state).toBe('unreachable');
      // time stands still while the next probe is out, as the database answers in no simulated time
      clock.holdWhile(() => probe.probing);
      await clock.advance(2_000);
      expect(probe.state).toBe('ok');
    } finally {
      await probe.stop();
      await pool.end();
    }
  });

  it('with store.url empty (SQLite) has no postgres check, and this instance holds the lease', async () => {
    const bridge = await startBridge();
    try {
      const r = await readyz(bridge);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        ready: true,
        checks: { broker: 'ok', store: 'ok', influx: 'off' },
        instance: bridge.lease.holder(),
        lease: { name: 'timed-work', holder: bridge.lease.holder(), this_instance: true },
      });
    } finally {
      await bridge.stop();
    }
  });
});
