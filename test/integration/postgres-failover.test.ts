// Two binbridge processes on one PostgreSQL and one influxd, devices spread over both, QoS 1 under load: the lease
// holder is killed with -9 mid-load. Every acknowledged reading is in InfluxDB exactly once and each bin's state is
// its newest reading; the devices carry on at the survivor, which holds the lease within 15 s (the figure is printed).
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDeviceSecrets, loadDeviceKey } from '../../src/broker/index.js';
import { migratePostgres, openPool } from '../../src/storage/postgres/index.js';
import { cityBins } from '../helpers/bridge.js';
import { lastReading, startFleet } from '../helpers/devices.js';
import { dataFolder, spawnInstance, type Instance } from '../helpers/instance.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { startInfluxd, type Influxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const DEVICES = 20;
const PER_DEVICE = 150;
const RATE_PER_DEVICE = 20;

/** Every stored point of bin_reading as "bin ts", and how many points there are. */
async function storedKeys(influx: Influxd, db: string): Promise<{ keys: Set<string>; points: number; values: Map<string, number> }> {
  const body = (await influx.query('SELECT fill_pct, bin_id FROM bin_reading', db, { epoch: 'ms' })) as { results: { series?: { values: [number, number, string][] }[] }[] };
  const rows = body.results[0]?.series?.[0]?.values ?? [];
  const values = new Map(rows.map(([t, fill, bin]) => [`${bin} ${t}`, fill]));
  return { keys: new Set(values.keys()), points: rows.length, values };
}

describe('two instances on PostgreSQL, the lease holder killed with -9 under load', () => {
  const cluster = postgresCluster();
  let influx: Influxd;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    influx = await startInfluxd();
  }, 60_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await influx?.destroy();
  });

  it('stores every acknowledged reading once, keeps each bin\'s newest, moves the devices and the lease to the survivor', async () => {
    const t0 = performance.now();
    const phases: string[] = [];
    const phase = (name: string): void => void phases.push(`${name} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const url = await freshDatabase(cluster.server);
    await influx.query('CREATE DATABASE failover', '');
    const env = {
      BINBRIDGE_STORE_URL: url,
      BINBRIDGE_INFLUX_URL: influx.url,
      BINBRIDGE_INFLUX_API: 'v1',
      BINBRIDGE_INFLUX_DB: 'failover',
      BINBRIDGE_INFLUX_FLUSH_INTERVAL_MS: '100',
      BINBRIDGE_MQTT_AUTH: 'devices',
      // every device comes from 127.0.0.1, and half of them reconnect at once
      BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: '5000',
    };
    const bins = cityBins(DEVICES);
    // the secrets go into the shared database under the first folder's device key, which the second folder gets a copy
    // of (as `binbridge devices provision` with the store.url would do it, without a process of its own)
    const firstDir = dataFolder();
    const pool = openPool({ url });
    const secrets: Record<string, string> = {};
    try {
      await migratePostgres(pool);
      const store = new PostgresDeviceSecrets(() => pool, loadDeviceKey(firstDir).key);
      await store.load();
      for (const bin of bins) secrets[bin] = await store.issue(bin);
    } finally {
      await pool.end();
    }
    phase('provisioned');
    const instances: Instance[] = [];
    cleanups.push(async () => {
      for (const i of instances) await i.kill9();
    });
    // started together (the device key is there already): either may take the lease
    const started = await Promise.allSettled([spawnInstance('a', env, firstDir), spawnInstance('b', env, dataFolder(firstDir))]);
    for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    phase('both started');

    const states = await Promise.all(instances.map((i) => i.readyz()));
    expect(states.map((s) => s.status)).toEqual([200, 200]);
    expect(states.map((s) => s.body.lease.this_instance).filter(Boolean)).toHaveLength(1);
    const holderIndex = states.findIndex((s) => s.body.lease.this_instance);
    const [holder, survivor] = [instances[holderIndex]!, instances[1 - holderIndex]!];
    const survivorId = states[1 - holderIndex]!.body.instance;

    const base = Date.now() - 3_600_000;
    const fleet = startFleet({ bins, ports: instances.map((i) => i.mqttPort), perDevice: PER_DEVICE, ratePerS: RATE_PER_DEVICE, base, secrets });
    cleanups.push(() => fleet.end());
    const total = DEVICES * PER_DEVICE;
    await waitFor(() => fleet.ports().filter((p) => p === holder.mqttPort).length === DEVICES / 2 && fleet.acked >= total / 3, {
      timeoutMs: 20_000,
      message: 'half the devices on the lease holder, a third of the readings acknowledged',
    });
    expect(fleet.ports().filter((p) => p === survivor.mqttPort)).toHaveLength(DEVICES / 2);

    phase('load under way');
    await holder.kill9();
    const killedAt = performance.now();
    const ackedAtKill = fleet.acked;
    const takeover = await waitFor(
      async () => {
        const { body } = await survivor.readyz();
        return body.lease.this_instance && body.lease.holder === survivorId ? performance.now() - killedAt : null;
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'the survivor holds the lease' },
    );
    console.log(`failover: the survivor held the lease ${(takeover / 1000).toFixed(1)} s after kill -9 of the holder (${ackedAtKill} of ${total} readings acknowledged at the kill)`);
    expect(takeover).toBeLessThan(15_000);

    phase('lease taken over');
    await fleet.done;
    phase('every reading acknowledged');
    expect(fleet.acked).toBe(total);
    expect(ackedAtKill).toBeLessThan(total);
    // every device carries on at the survivor
    await waitFor(() => fleet.ports().every((p) => p === survivor.mqttPort), { message: 'every device at the survivor' });

    // InfluxDB: every acknowledged reading, once (one point per bin and time), with the value sent; nothing else
    const stored = await waitFor(
      async () => {
        const s = await storedKeys(influx, 'failover');
        return s.points >= total ? s : null;
      },
      { timeoutMs: 30_000, message: `${total} points in InfluxDB` },
    ).catch(async (err: Error) => {
      const s = await storedKeys(influx, 'failover');
      throw new Error(`${err.message}: ${s.points} stored, ${[...fleet.ackedKeys].filter((k) => !s.keys.has(k)).length} acknowledged missing`);
    });
    phase('every reading in InfluxDB');
    console.log(`failover test: ${phases.join(', ')}`);
    expect([...fleet.ackedKeys].filter((k) => !stored.keys.has(k))).toEqual([]);
    expect(stored.points).toBe(total);
    expect([...stored.values].filter(([key, fill]) => fill !== (Number(key.split(' ')[1]) - base) / 1000 % 100)).toEqual([]);

    // bin state: each bin's newest reading, in the table and as the survivor serves it
    const last = lastReading({ perDevice: PER_DEVICE, base });
    const table = new pg.Client({ connectionString: url });
    await table.connect();
    try {
      const { rows } = await table.query<{ bin_id: string; ts: number; fill_pct: number }>('SELECT bin_id, ts::float8 AS ts, fill_pct FROM bin_state ORDER BY bin_id');
      expect(rows).toEqual([...bins].sort().map((bin_id) => ({ bin_id, ...last })));
      // the killed instance's spool claims went back with its connections: the survivor's writer drained them
      await waitFor(async () => (await table.query<{ n: number }>('SELECT count(*)::int AS n FROM spool')).rows[0]!.n === 0, { timeoutMs: 15_000, message: 'the spool drained' });
    } finally {
      await table.end();
    }
    for (const bin of bins) {
      const { state } = (await (await fetch(`${survivor.httpUrl}/api/bins/${bin}`)).json()) as { state: { fill_pct: number; ts: string } | null };
      expect(state?.fill_pct, bin).toBe(last.fill_pct);
    }
    const ready = await survivor.readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.lease).toEqual({ name: 'timed-work', holder: survivorId, this_instance: true });
  }, 120_000);
});
