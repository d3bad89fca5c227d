// Readings published over MQTT (MQTT.js and mosquitto_pub, device authentication on) reach a real influxd
// through the v1 write API and a real VictoriaMetrics through the official client's v2 write API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBinsFile } from '../../src/registry/index.js';
import { CITY, cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { mosquittoPub, startInfluxd, startVictoriaMetrics, type Influxd, type Victoria } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const BASE = Date.now() - 6 * 3_600_000;
const bins = cityBins(4);
const byId = new Map(readBinsFile(CITY).map((b) => [b.id, b]));

describe('telemetry into influxd (v1 write API)', () => {
  let influx: Influxd;
  let bridge: InProcessBridge;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    influx = await startInfluxd();
    bridge = await startBridge({ BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_INFLUX_DB: 'binbridge' });
    for (const id of bins) secrets[id] = await bridge.secrets.issue(id);
  });
  afterAll(async () => {
    await bridge?.stop();
    await influx?.destroy();
  });

  it('stores every QoS 1 reading an MQTT.js device publishes, with the schema of SPEC.md', async () => {
    const id = bins[0]!;
    const client = await connectClient(bridge.mqttUrl, { clientId: id, username: id, password: secrets[id] });
    for (let i = 0; i < 200; i++) {
      await publishAcked(client, `bins/${id}/telemetry`, { distance_mm: 1000 - i, battery_pct: 90, temperature_c: 12.5, tilt: false, ts: BASE + i * 1000, rssi: -71 });
    }
    client.end();
    const n = await waitFor(async () => (await influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${id}'`)) === 200 || undefined, {
      timeoutMs: 15_000,
      message: '200 readings in influxd',
    });
    expect(n).toBe(true);
    const bin = byId.get(id)!;
    const res = await influx.query(`SELECT * FROM bin_reading WHERE bin_id = '${id}' ORDER BY time LIMIT 1`, 'binbridge', { epoch: 'ms' });
    const s = res.results[0].series[0];
    const row = Object.fromEntries(s.columns.map((c: string, i: number) => [c, s.values[0][i]]));
    expect(row).toMatchObject({ time: BASE, bin_id: id, zone: bin.zone, kind: bin.kind, distance_mm: 1000, battery_pct: 90, temperature_c: 12.5, tilt: false, rssi: -71 });
    // distance -> fill with the bin's own geometry
    const expected = Math.round(Math.min(100, Math.max(0, (100 * (bin.depth_mm - (1000 - bin.sensor_offset_mm))) / bin.depth_mm)) * 10) / 10;
    expect(row.fill_pct).toBeCloseTo(expected, 5);
    // the latest state per bin, and a bin_state point for Grafana's map
    const api = (await (await fetch(`${bridge.httpUrl}/api/bins/${id}`)).json()) as { state: { fill_pct: number; ts: string } };
    expect(api.state.ts).toBe(new Date(BASE + 199_000).toISOString());
    expect(await influx.count(`SELECT count(fill_pct) FROM bin_state WHERE bin_id = '${id}'`)).toBeGreaterThan(0);
  });

  it('stores what mosquitto_pub (a client we did not write) sends', async () => {
    const id = bins[1]!;
    const lines = Array.from({ length: 150 }, (_, i) => JSON.stringify({ fill_pct: i % 100, ts: new Date(BASE + i * 1000).toISOString() })).join('\n');
    const r = await mosquittoPub(['-h', '127.0.0.1', '-p', String(bridge.ports.mqtt), '-q', '1', '-V', 'mqttv311', '-i', id, '-u', id, '-P', secrets[id]!, '-t', `bins/${id}/telemetry`, '-l'], lines + '\n');
    expect(r.code, r.stderr).toBe(0);
    await waitFor(async () => (await influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${id}'`)) === 150, {
      timeoutMs: 15_000,
      message: '150 readings from mosquitto_pub',
    });
  });

  it('answers /readyz with the writer healthy and /metrics with the counts', async () => {
    const ready = (await (await fetch(`${bridge.httpUrl}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
    expect(ready).toEqual({ ready: true, checks: { broker: 'ok', store: 'ok', influx: 'ok' }, instance: bridge.lease.holder(), lease: { name: 'timed-work', holder: bridge.lease.holder(), this_instance: true } });
    const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(text).toMatch(/^binbridge_readings_accepted_total\{source="mqtt"\} 350$/m);
    expect(text).toMatch(/^binbridge_spool_depth_points 0$/m);
  });
});

describe('telemetry into VictoriaMetrics (v2 write API, official client)', () => {
  let vm: Victoria;
  let bridge: InProcessBridge;

  beforeAll(async () => {
    vm = await startVictoriaMetrics();
    bridge = await startBridge({
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_INFLUX_URL: vm.url,
      BINBRIDGE_INFLUX_API: 'v2',
      BINBRIDGE_INFLUX_ORG: 'city',
      BINBRIDGE_INFLUX_BUCKET: 'binbridge',
      BINBRIDGE_INFLUX_TOKEN: 'test-token',
    });
  });
  afterAll(async () => {
    await bridge?.stop();
    await vm?.destroy();
  });

  it('delivers every reading, gzipped batches included', async () => {
    const client = await connectClient(bridge.mqttUrl, { clientId: 'vm-test' });
    const id = bins[2]!;
    await Promise.all(Array.from({ length: 500 }, (_, i) => publishAcked(client, `bins/${id}/telemetry`, { fill_pct: (i % 100) + 0.5, battery_pct: 77, ts: BASE + i * 1000 })));
    client.end();
    await waitFor(async () => (await vm.countSamples('bin_reading_fill_pct')) === 500, { timeoutMs: 20_000, message: '500 samples in VictoriaMetrics' });
    const [series] = await vm.exportSeries('bin_reading_battery_pct');
    expect(series!.metric).toMatchObject({ bin_id: id, zone: byId.get(id)!.zone, kind: byId.get(id)!.kind });
    expect(series!.timestamps[0]).toBe(BASE);
  });
});
