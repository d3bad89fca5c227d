// A binbridge process on PostgreSQL while the database is restarted under QoS 1 load: while it is down no new reading
// is acknowledged (the devices keep them), the webhook answers 503 (Meta delivers again) and /readyz says unreachable;
// once it is back nothing acknowledged is missing from InfluxDB, the spool drains, /readyz is ready and the readings
// flow again.
import { createHmac } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, metricValue } from '../helpers/bridge.js';
import { lastReading, startFleet } from '../helpers/devices.js';
import { spawnInstance, type Instance } from '../helpers/instance.js';
import { freshDatabase } from '../helpers/postgres.js';
import { startInfluxd, startPostgres, type Influxd, type Postgres } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const DEVICES = 10;
const PER_DEVICE = 200;
const RATE_PER_DEVICE = 20;
const APP_SECRET = 'restart-test-app-secret';

/** A delivery status for a message the bridge never sent: recorded (and deduplicated) in PostgreSQL, no other effect. */
function statusBody(id: string): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', statuses: [{ id, status: 'delivered', timestamp: '1750000000', recipient_id: '31600000001' }] } }] }],
  });
}

async function webhook(instance: Instance, raw: string): Promise<number> {
  const res = await fetch(`${instance.httpUrl}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', APP_SECRET).update(raw).digest('hex')}` },
    body: raw,
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

const rejected = async (instance: Instance): Promise<number> =>
  metricValue(await (await fetch(`${instance.httpUrl}/metrics`)).text(), 'binbridge_readings_rejected_total', { reason: 'store_error' });

describe('PostgreSQL restarted under load', () => {
  let server: Postgres;
  let influx: Influxd;
  let down = false;
  const cleanups: (() => unknown)[] = [];
  beforeAll(async () => {
    [server, influx] = await Promise.all([startPostgres(), startInfluxd()]);
  }, 60_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    if (down) await server.start();
    down = false;
  });
  afterAll(async () => {
    await server?.destroy();
    await influx?.destroy();
  });

  it('acknowledges nothing new while it is down, loses nothing acknowledged, and nothing is stuck once it is back', async () => {
    const url = await freshDatabase(server);
    await influx.query('CREATE DATABASE restart', '');
    const instance = await spawnInstance('a', {
      BINBRIDGE_STORE_URL: url,
      BINBRIDGE_INFLUX_URL: influx.url,
      BINBRIDGE_INFLUX_API: 'v1',
      BINBRIDGE_INFLUX_DB: 'restart',
      BINBRIDGE_INFLUX_FLUSH_INTERVAL_MS: '100',
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: '5000',
      // the webhook (cloud mode); nothing is sent, so the Graph API address is never asked
      BINBRIDGE_WHATSAPP_MODE: 'cloud',
      BINBRIDGE_WHATSAPP_GRAPH_URL: 'http://127.0.0.1:9',
      BINBRIDGE_WHATSAPP_PHONE_NUMBER_ID: '100000000000001',
      BINBRIDGE_WHATSAPP_ACCESS_TOKEN: 'restart-test-access-token',
      BINBRIDGE_WHATSAPP_APP_SECRET: APP_SECRET,
    });
    cleanups.push(() => instance.kill9());
    expect(await webhook(instance, statusBody('wamid.BEFORE'))).toBe(200);

    const bins = cityBins(DEVICES);
    const base = Date.now() - 3_600_000;
    const fleet = startFleet({ bins, ports: [instance.mqttPort], perDevice: PER_DEVICE, ratePerS: RATE_PER_DEVICE, base });
    cleanups.push(() => fleet.end());
    const total = DEVICES * PER_DEVICE;
    await waitFor(() => fleet.acked >= total / 4, { timeoutMs: 20_000, message: 'a quarter of the readings acknowledged' });

    await server.stop();
    down = true;
    const stoppedAt = performance.now();
    await waitFor(
      async () => {
        const { status, body } = await instance.readyz();
        return status === 503 && body.checks.postgres === 'unreachable' && !body.ready;
      },
      { timeoutMs: 10_000, message: '/readyz: PostgreSQL unreachable' },
    );
    const unreadyAfter = performance.now() - stoppedAt;
    // what was committed before the stop has been acknowledged by now; from here on nothing is
    const ackedWhileDown = fleet.acked;
    const refusedBefore = await rejected(instance);
    await waitFor(async () => (await rejected(instance)) >= refusedBefore + 50, { timeoutMs: 10_000, message: 'new readings refused while PostgreSQL is down' });
    expect(await webhook(instance, statusBody('wamid.DURING'))).toBe(503);
    expect(fleet.acked).toBe(ackedWhileDown);
    expect(ackedWhileDown).toBeLessThan(total);

    await server.start();
    down = false;
    const startedAt = performance.now();
    await waitFor(async () => (await instance.readyz()).status === 200, { timeoutMs: 15_000, message: '/readyz ready again' });
    const readyAfter = performance.now() - startedAt;
    console.log(`PostgreSQL restart: /readyz 503 ${(unreadyAfter / 1000).toFixed(1)} s after the stop, 200 ${(readyAfter / 1000).toFixed(1)} s after the start`);
    // Meta delivers again what was refused
    expect(await webhook(instance, statusBody('wamid.DURING'))).toBe(200);

    // the devices' readings flow again: every one acknowledged, each stored once in InfluxDB, the spool empty
    await fleet.done;
    expect(fleet.acked).toBe(total);
    const count = (): Promise<number> => influx.count('SELECT count(fill_pct) FROM bin_reading', 'restart');
    await waitFor(async () => (await count()) === total, { timeoutMs: 30_000, message: `${total} points in InfluxDB` }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await count()} stored`);
    });
    const table = new pg.Client({ connectionString: url });
    await table.connect();
    try {
      await waitFor(async () => (await table.query<{ n: number }>('SELECT count(*)::int AS n FROM spool')).rows[0]!.n === 0, { timeoutMs: 15_000, message: 'the spool drained' });
      const { rows } = await table.query<{ bin_id: string; ts: number; fill_pct: number }>('SELECT bin_id, ts::float8 AS ts, fill_pct FROM bin_state ORDER BY bin_id');
      expect(rows).toEqual([...bins].sort().map((bin_id) => ({ bin_id, ...lastReading({ perDevice: PER_DEVICE, base }) })));
      const { rows: deliveries } = await table.query<{ n: number }>('SELECT count(*)::int AS n FROM whatsapp_statuses');
      expect(deliveries[0]!.n).toBe(2);
    } finally {
      await table.end();
    }
    const ready = await instance.readyz();
    expect([ready.status, ready.body.checks.postgres, ready.body.lease.this_instance]).toEqual([200, 'ok', true]);
  }, 120_000);
});
