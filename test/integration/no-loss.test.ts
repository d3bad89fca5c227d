// Nothing acknowledged is lost: an InfluxDB outage, a kill -9 of the bridge and a full spool each end with
// every acknowledged reading in InfluxDB exactly once, with the journal on the event loop and in its worker.
import { afterEach, describe, expect, it } from 'vitest';
import { cityBins, metricValue, spawnBridge, startBridge, streamReadings, type ChildBridge, type InProcessBridge, type Stream } from '../helpers/bridge.js';
import { startInfluxd, type Influxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const bins = cityBins(5);
const count = (influx: Influxd): Promise<number> => influx.count('SELECT count(fill_pct) FROM bin_reading');

describe.each(['inline', 'worker'])('no loss (spool.journal: %s)', (journal) => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('spools while influxd is down and replays in order when it is back', async () => {
    const influx = await startInfluxd();
    cleanup.push(() => influx.destroy());
    const bridge: InProcessBridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1' });
    cleanup.push(() => bridge.stop());
    const stream: Stream = streamReadings(bridge.mqttUrl, { bins, count: 3000, ratePerS: 600, base: Date.now() - 4 * 3_600_000 });
    cleanup.push(() => stream.end());

    await waitFor(() => stream.acked > 500, { timeoutMs: 10_000, message: '500 acked' });
    await influx.stop();
    await waitFor(() => stream.acked > 1500, { timeoutMs: 10_000, message: 'readings acked while influxd is down' });
    // the spool holds what could not be written, and says so
    expect(bridge.spool!.stats().depth).toBeGreaterThan(0);
    const ready = (await (await fetch(`${bridge.httpUrl}/readyz`)).json()) as { checks: { influx: string } };
    expect(ready.checks.influx).toBe('spooling');
    await influx.start();

    await stream.done;
    await waitFor(async () => (await count(influx)) === 3000, { timeoutMs: 30_000, message: '3000 readings in influxd' });
    expect(stream.acked).toBe(3000);
    await waitFor(() => bridge.spool!.stats().depth === 0, { message: 'spool drained' });
    const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metricValue(text, 'binbridge_influx_write_failures_total')).toBeGreaterThan(0);
  });

  it('loses nothing when the bridge is killed with -9 mid-stream, and duplicates nothing on replay', async () => {
    const influx = await startInfluxd();
    cleanup.push(() => influx.destroy());
    const env = { BINBRIDGE_SPOOL_JOURNAL: journal, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_INFLUX_FLUSH_INTERVAL_MS: '200' };
    let bridge: ChildBridge = await spawnBridge(env);
    cleanup.push(() => bridge.kill9());
    const stream = streamReadings(`mqtt://127.0.0.1:${bridge.mqttPort}`, { bins, count: 3000, ratePerS: 600, base: Date.now() - 5 * 3_600_000 });
    cleanup.push(() => stream.end());

    await waitFor(() => stream.acked > 1000, { timeoutMs: 15_000, message: '1000 acked' });
    await bridge.kill9();
    const ackedAtKill = stream.acked;
    bridge = await spawnBridge(env, bridge);
    await stream.done;
    await waitFor(async () => (await count(influx)) === 3000, { timeoutMs: 30_000, message: '3000 readings in influxd after restart' });
    expect(ackedAtKill).toBeLessThan(3000);
    // exactly once, bin by bin: 3000 readings round-robin over 5 bins
    for (const id of bins) expect(await influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${id}'`)).toBe(600);
    // MQTT.js replays a session's unacknowledged readings one at a time, each after the last one's PUBACK: some 2,000
    // round trips, a few ms longer each through the worker thread on a loaded machine
  }, 120_000);

  it('refuses to acknowledge when the spool is full, says so loudly, and loses nothing', async () => {
    const influx = await startInfluxd();
    cleanup.push(() => influx.destroy());
    await influx.stop();
    // a spool of ~20 kB: roughly 150 points
    const bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_SPOOL_MAX_MB: '0.02' });
    cleanup.push(() => bridge.stop());
    const stream = streamReadings(bridge.mqttUrl, { bins, count: 400, ratePerS: 400, base: Date.now() - 2 * 3_600_000 });
    cleanup.push(() => stream.end());

    await waitFor(() => bridge.spool!.full, { timeoutMs: 10_000, message: 'spool full' });
    // the device has sent all it has, and what came after the spool filled was refused, not acknowledged
    const text = await waitFor(
      async () => {
        const t = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
        return stream.sent === 400 && metricValue(t, 'binbridge_readings_rejected_total', { reason: 'spool_full' }) > 0 ? t : null;
      },
      { timeoutMs: 10_000, message: 'all sent, and a reading refused for the full spool' },
    );
    expect(stream.acked).toBeLessThan(400);
    expect(metricValue(text, 'binbridge_spool_full')).toBe(1);
    expect(metricValue(text, 'binbridge_readings_rejected_total', { reason: 'spool_full' })).toBeGreaterThan(0);
    const ready = await fetch(`${bridge.httpUrl}/readyz`);
    expect(ready.status).toBe(503);

    await influx.start();
    await stream.done;
    await waitFor(async () => (await count(influx)) === 400, { timeoutMs: 30_000, message: 'all 400 readings stored once influxd is back' });
  });

  it('resends the readings MQTT.js gave back when a refusal closed the connection while it replayed its session', async () => {
    const influx = await startInfluxd();
    cleanup.push(() => influx.destroy());
    await influx.stop();
    const bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_SPOOL_MAX_MB: '0.02' });
    cleanup.push(() => bridge.stop());
    const stream = streamReadings(bridge.mqttUrl, { bins, count: 2000, ratePerS: 0, base: Date.now() - 3 * 3_600_000, clientId: `replay-${process.pid}` });
    cleanup.push(() => stream.end());
    await waitFor(() => stream.client.connected, { message: 'device connected' });
    // 20 readings every 50 ms until the spool is full and a reading is refused
    await waitFor(
      async () => {
        stream.step(20);
        return metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_readings_rejected_total', { reason: 'spool_full' }) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'a reading refused for the full spool' },
    );
    // The interleaving: after a reconnect MQTT.js replays its unacknowledged readings one by one, and holds new
    // publishes in a queue until the replay ends. The spool is still full, so the broker refuses the replayed
    // reading and closes the connection; MQTT.js then fails every held publish with "Connection closed" and
    // forgets it (it is not in its outgoing store). The last 20 readings are published exactly then.
    const mq = stream.client as unknown as { _storeProcessing: boolean; _storeProcessingQueue: unknown[] };
    let held = -1;
    stream.client.on('packetsend', (packet) => {
      if (held >= 0 || packet.cmd !== 'publish' || !mq._storeProcessing) return;
      stream.step(20);
      held = mq._storeProcessingQueue.length;
    });
    await waitFor(() => held >= 0 && !stream.client.connected, { timeoutMs: 10_000, message: 'readings published during a replay that was refused' });
    expect(held).toBe(20);
    const sent = stream.sent;

    await influx.start();
    await waitFor(() => stream.acked === sent, { timeoutMs: 20_000, message: 'every reading sent acknowledged once influxd is back' }).catch((err: Error) => {
      throw new Error(`${err.message}: ${stream.acked} of ${sent}`);
    });
    await waitFor(async () => (await count(influx)) === sent, { timeoutMs: 30_000, message: 'every reading sent stored' });
  });
});
