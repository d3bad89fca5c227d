// LoRaWAN network servers' feeds through an external broker (issue 6): a real Mosquitto started here, uplinks in
// the shapes The Things Stack v3 and ChirpStack v4 publish (fields binbridge does not read included), readings in
// a real influxd. binbridge's own MQTT listener is off (mqtt.port -1): everything comes from upstream.
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { mosquittoPub, startInfluxd, startMosquitto, type Influxd, type Mosquitto } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

// CITY-n with a sensor: device_id and DevEUI as the network server knows them; CITY-9.. have none (device id = bin id)
const BINS = [
  'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm,device_id,dev_eui',
  ...Array.from({ length: 8 }, (_, i) => `CITY-${i + 1},52.09${i},5.11${i},Oudegracht ${i + 1},centrum,rest,1100,1000,50,em310-${i + 1},24E124713D00000${i + 1}`),
  ...Array.from({ length: 4 }, (_, i) => `CITY-${i + 9},52.08${i},5.12${i},Neude ${i + 1},centrum,paper,1100,1000,50,,`),
].join('\n');

const eui = (n: number): string => `24E124713D00000${n}`;
const base = Date.now() - 3_600_000;
let tsSeq = 0;
/** a fresh reading time, one second after the previous one, an hour back */
const nextTs = (): string => new Date(base + ++tsSeq * 1000).toISOString();

function ttnUplink(deviceId: string, devEui: string, decoded: unknown, receivedAt = nextTs()): string {
  return JSON.stringify({
    end_device_ids: { device_id: deviceId, application_ids: { application_id: 'city-bins' }, dev_eui: devEui, join_eui: '24E124C0002A0001', dev_addr: '260BABCD' },
    correlation_ids: ['as:up:01HX6YGQ7E0V83YRZ7K4S5J4ZN', 'gs:conn:01HX6Y0000', 'gs:uplink:01HX6YGQ7AS3VTM5W5W36YV1F1', 'ns:uplink:01HX6YGQ7A'],
    received_at: receivedAt,
    uplink_message: {
      session_key_id: 'AWNbm/4zfqx0jZ5q1NlBmw==',
      f_port: 85,
      f_cnt: tsSeq,
      frm_payload: 'AXVkA2cBAQQCAAA=',
      ...(decoded === undefined ? {} : { decoded_payload: decoded }),
      rx_metadata: [
        { gateway_ids: { gateway_id: 'gw-dom', eui: 'AA555A0000000101' }, time: receivedAt, timestamp: 3895211423, rssi: -101, channel_rssi: -101, snr: 1.5 },
        { gateway_ids: { gateway_id: 'gw-station', eui: 'AA555A0000000102' }, time: receivedAt, rssi: -74, channel_rssi: -74, snr: 8.25, uplink_token: 'ChIKEAoOZ3c=' },
      ],
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 9, coding_rate: '4/5' } }, frequency: '868100000', timestamp: 3895211423 },
      received_at: receivedAt,
      consumed_airtime: '0.205824s',
      version_ids: { brand_id: 'milesight-iot', model_id: 'em310-udl', hardware_version: '1.0', firmware_version: '1.0', band_id: 'EU_863_870' },
      network_ids: { net_id: '000013', tenant_id: 'ttn', cluster_id: 'eu1', cluster_address: 'eu1.cloud.thethings.network' },
    },
  });
}

function chirpstackUplink(devEui: string, name: string, object: unknown, time = nextTs()): string {
  return JSON.stringify({
    deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
    time,
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'Gemeente',
      applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97',
      applicationName: 'bins',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'ultrasonic',
      deviceName: name,
      devEui: devEui.toLowerCase(),
      tags: {},
    },
    devAddr: '00189440',
    adr: true,
    dr: 3,
    fCnt: tsSeq,
    fPort: 85,
    data: 'AXVkA2cBAQQCAAA=',
    ...(object === undefined ? {} : { object }),
    rxInfo: [{ gatewayId: '0016c001f153a14c', uplinkId: 4217106255, rssi: -88, snr: 6.5, channel: 2, context: 'E3OWOQ==', metadata: { region_common_name: 'EU868' } }],
    txInfo: { frequency: 867100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 9, codeRate: 'CR_4_5' } } },
  });
}

const ttnTopic = (deviceId: string, event = 'up'): string => `v3/city-bins@ttn/devices/${deviceId}/${event}`;
const csTopic = (devEui: string, event = 'up'): string => `application/17c82e96-be03-4f38-aef3-f83d48582d97/device/${devEui.toLowerCase()}/event/${event}`;

let influx: Influxd;
let mosquitto: Mosquitto;
let dir: string;
let binsFile: string;
const bridges: InProcessBridge[] = [];

/** QoS 1 publishes of one message per line (mosquitto_pub -l), all on one topic. */
async function publish(topic: string, ...payloads: string[]): Promise<void> {
  const r = await mosquittoPub(['-p', String(mosquitto.port), '-q', '1', '-t', topic, '-l'], `${payloads.join('\n')}\n`);
  expect(r.code, r.stderr).toBe(0);
}

function writeConfig(name: string, sharedGroup = ''): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      'mqtt:',
      '  port: -1',
      '  upstreams:',
      `    - url: ${mosquitto.url}`,
      '      format: ttn',
      // the whole device tree, so that joins and downlink events arrive too and must be told apart
      '      topics: ["v3/+/devices/#"]',
      `      shared_group: "${sharedGroup}"`,
      `    - url: ${mosquitto.url}`,
      '      format: chirpstack',
      '      topics: ["application/+/device/+/event/+"]',
      `      shared_group: "${sharedGroup}"`,
      '',
    ].join('\n'),
  );
  return file;
}

async function bridge(config: string, dataDir?: string): Promise<InProcessBridge> {
  const b = await startBridge(
    {
      BINBRIDGE_CONFIG: config,
      BINBRIDGE_MQTT_PORT: '-1',
      BINBRIDGE_INFLUX_URL: influx.url,
      BINBRIDGE_INFLUX_API: 'v1',
      BINBRIDGE_REGISTRY_BINS_FILE: binsFile,
    },
    dataDir,
  );
  bridges.push(b);
  await waitFor(async () => metricValue(await b.metrics.registry.metrics(), 'binbridge_upstream_connected') === 2, {
    timeoutMs: 15_000,
    message: 'both upstreams connected and subscribed',
  });
  return b;
}

async function stopBridge(b: InProcessBridge): Promise<void> {
  bridges.splice(bridges.indexOf(b), 1);
  await b.stop();
}

const metrics = async (b: InProcessBridge): Promise<string> => b.metrics.registry.metrics();
const stored = (binId: string): Promise<number> => influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${binId}'`);

beforeAll(async () => {
  [influx, mosquitto] = await Promise.all([startInfluxd(), startMosquitto({ persistence: true })]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-upstream-'));
  binsFile = path.join(dir, 'bins.csv');
  fs.writeFileSync(binsFile, `${BINS}\n`);
});

afterEach(async () => {
  for (const b of bridges.splice(0)) await b.stop();
});

afterAll(async () => {
  await Promise.all([influx?.destroy(), mosquitto?.destroy()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('upstream brokers', () => {
  it('stores TTN and ChirpStack uplinks, mapped to bins by DevEUI, device id or bin id, with the embedded listener off', async () => {
    const b = await bridge(writeConfig('plain'));
    expect(b.ports.mqtt).toBeNull();
    const t1 = nextTs();
    await publish(ttnTopic('em310-1'), ttnUplink('em310-1', eui(1), { distance: 412, battery: 88, temperature: 21.4, position: 'normal' }, t1));
    await publish(ttnTopic('city-9'), ttnUplink('city-9', 'A84041000000F009', { fill: 35, battery: 3.3, temperature: 7 }));
    await publish(csTopic(eui(2)), chirpstackUplink(eui(2), 'whatever-name', { distance_cm: 21.2, batteryVoltage: 3.54, temperature_c: 6.5, tilt: true }));

    await waitFor(async () => (await stored('CITY-1')) === 1 && (await stored('CITY-9')) === 1 && (await stored('CITY-2')) === 1, { message: 'three readings in influxd' });
    const r1 = await influx.query(`SELECT fill_pct, distance_mm, battery_pct, temperature_c, tilt, rssi FROM bin_reading WHERE bin_id = 'CITY-1'`, 'binbridge', { epoch: 'ms' });
    const row = r1.results[0].series[0];
    expect(Object.fromEntries(row.columns.map((c: string, i: number) => [c, row.values[0][i]]))).toEqual({
      time: Date.parse(t1),
      fill_pct: 63.8,
      distance_mm: 412,
      battery_pct: 88,
      temperature_c: 21.4,
      tilt: false,
      rssi: -74,
    });
    const r2 = await influx.query(`SELECT fill_pct, battery_pct, tilt, rssi FROM bin_reading WHERE bin_id = 'CITY-2'`);
    expect(r2.results[0].series[0].values[0].slice(1)).toEqual([83.8, 90, true, -88]);
    const r9 = await influx.query(`SELECT battery_pct FROM bin_reading WHERE bin_id = 'CITY-9'`);
    expect(r9.results[0].series[0].values[0][1]).toBe(50);

    const text = await metrics(b);
    expect(metricValue(text, 'binbridge_readings_accepted_total', { source: 'ttn' })).toBe(2);
    expect(metricValue(text, 'binbridge_readings_accepted_total', { source: 'chirpstack' })).toBe(1);
    // the same path as the embedded broker's readings: bin state (and from there the rules) too
    expect(b.binState.get('CITY-1')?.fill_pct).toBe(63.8);
  });

  it('refuses bad uplinks with a counted reason and stores nothing of them', async () => {
    const b = await bridge(writeConfig('bad'));
    await publish(ttnTopic('em310-3'), ttnUplink('em310-3', eui(3), undefined)); // no payload formatter
    await publish(ttnTopic('stranger'), ttnUplink('stranger', '0000000000000BAD', { distance: 500 }));
    await publish(ttnTopic('em310-3'), ttnUplink('em310-3', eui(3), { distance: 'far', battery: '3.3 V' }));
    await publish(ttnTopic('em310-3', 'join'), JSON.stringify({ end_device_ids: { device_id: 'em310-3', dev_eui: eui(3) }, received_at: nextTs(), join_accept: { session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==', received_at: nextTs() } }));
    await publish(ttnTopic('em310-3', 'down/queued'), JSON.stringify({ end_device_ids: { device_id: 'em310-3' }, downlink_queued: { f_port: 1, frm_payload: 'vu8=', priority: 'NORMAL' } }));
    await publish(csTopic(eui(4), 'join'), JSON.stringify({ deduplicationId: 'c9dbe358', time: nextTs(), deviceInfo: { devEui: eui(4).toLowerCase(), deviceName: 'em310-4' }, devAddr: '00189440' }));
    await publish(csTopic(eui(4)), chirpstackUplink(eui(4), 'em310-4', undefined)); // no codec in the device profile
    await publish(csTopic(eui(4)), chirpstackUplink(eui(4), 'em310-4', { fill_pct: '55%' }));

    await waitFor(async () => metricValue(await metrics(b), 'binbridge_readings_rejected_total') === 8, { message: 'eight refusals counted' });
    const text = await metrics(b);
    const reasons = Object.fromEntries(
      ['no_decoded_payload', 'unknown_device', 'invalid', 'not_an_uplink'].map((reason) => [reason, metricValue(text, 'binbridge_readings_rejected_total', { reason })]),
    );
    expect(reasons).toEqual({ no_decoded_payload: 2, unknown_device: 1, invalid: 2, not_an_uplink: 3 });

    // a good one after the bad ones arrives alone (messages of one subscription are handled in order)
    await publish(ttnTopic('em310-3'), ttnUplink('em310-3', eui(3), { distance: 900 }));
    await publish(csTopic(eui(4)), chirpstackUplink(eui(4), 'em310-4', { fill_pct: 55 }));
    await waitFor(async () => (await stored('CITY-3')) === 1 && (await stored('CITY-4')) === 1, { message: 'the good uplinks stored' });
    // handled in order, so every bad uplink before them has been judged: none of them was taken
    expect(metricValue(await metrics(b), 'binbridge_readings_accepted_total')).toBe(2);
  });

  it('gets every QoS 1 uplink published while it was away, across a Mosquitto restart', async () => {
    const config = writeConfig('restart');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-upstream-data-'));
    // the first start makes the persistent sessions and their subscriptions
    await stopBridge(await bridge(config, dataDir));

    const ttn = Array.from({ length: 5 }, () => ttnUplink('em310-5', eui(5), { distance: 600 }));
    const cs = Array.from({ length: 5 }, () => chirpstackUplink(eui(6), 'em310-6', { fill_pct: 20 }));
    await publish(ttnTopic('em310-5'), ...ttn);
    await publish(csTopic(eui(6)), ...cs);
    await mosquitto.stop();
    await mosquitto.start();

    const b = await bridge(config, dataDir);
    await waitFor(async () => (await stored('CITY-5')) === 5 && (await stored('CITY-6')) === 5, { timeoutMs: 20_000, message: 'ten queued uplinks stored' });
    expect(metricValue(await metrics(b), 'binbridge_readings_accepted_total')).toBe(10);
  });

  it('splits one feed between two instances on a shared group, each uplink stored once', async () => {
    const config = writeConfig('shared', 'binbridge');
    const [a, b] = await Promise.all([bridge(config), bridge(config)]);
    const n = 20;
    await Promise.all([
      publish(ttnTopic('em310-7'), ...Array.from({ length: n }, () => ttnUplink('em310-7', eui(7), { distance: 700 }))),
      publish(csTopic(eui(8)), ...Array.from({ length: n }, () => chirpstackUplink(eui(8), 'em310-8', { fill_pct: 30 }))),
    ]);
    await waitFor(async () => (await stored('CITY-7')) === n && (await stored('CITY-8')) === n, { timeoutMs: 20_000, message: 'all uplinks stored' });
    const accepted = await waitFor(
      async () => {
        const each = await Promise.all([a, b].map(async (x) => metricValue(await metrics(x), 'binbridge_readings_accepted_total')));
        return each[0]! + each[1]! >= 2 * n ? each : null;
      },
      { message: 'both instances counted what they took' },
    );
    expect(accepted[0]! + accepted[1]!).toBe(2 * n);
    expect(Math.min(...accepted)).toBeGreaterThan(0);
    expect([await stored('CITY-7'), await stored('CITY-8')]).toEqual([n, n]);
  });

  it('does not acknowledge what it could not record (spool full): the broker sends it again', async () => {
    const own = await startInfluxd();
    try {
      await own.stop();
      // a spool of ~5 kB: a few dozen points
      const b = await startBridge({
        BINBRIDGE_CONFIG: writeConfig('full'),
        BINBRIDGE_MQTT_PORT: '-1',
        BINBRIDGE_INFLUX_URL: own.url,
        BINBRIDGE_INFLUX_API: 'v1',
        BINBRIDGE_SPOOL_MAX_MB: '0.005',
        BINBRIDGE_REGISTRY_BINS_FILE: binsFile,
      });
      bridges.push(b);
      await waitFor(async () => metricValue(await metrics(b), 'binbridge_upstream_connected') === 2, { message: 'connected' });
      const n = 80;
      await publish(ttnTopic('city-11'), ...Array.from({ length: n }, () => ttnUplink('city-11', 'A84041000000F011', { distance: 500 })));
      await waitFor(async () => metricValue(await metrics(b), 'binbridge_readings_rejected_total', { reason: 'spool_full' }) > 0, { message: 'spool full' });
      expect(metricValue(await metrics(b), 'binbridge_readings_accepted_total')).toBeLessThan(n);

      await own.start();
      await waitFor(async () => (await own.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = 'CITY-11'`)) === n, {
        timeoutMs: 45_000,
        message: 'every uplink stored once influxd is back',
      });
    } finally {
      for (const b of bridges.splice(0)) await b.stop();
      await own.destroy();
    }
  });

  it('falls back to MQTT 3.1.1 when the upstream broker refuses MQTT 5, and reads native payloads', async () => {
    const aedes = await Aedes.createBroker();
    const server = net.createServer((s) => aedes.handle(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const file = path.join(dir, 'native.yaml');
      fs.writeFileSync(file, ['mqtt:', '  upstreams:', `    - url: ${url}`, '      format: native', '      topics: ["bins/+/telemetry"]', ''].join('\n'));
      const b = await startBridge({ BINBRIDGE_CONFIG: file, BINBRIDGE_MQTT_PORT: '-1', BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_REGISTRY_BINS_FILE: binsFile });
      bridges.push(b);
      await waitFor(async () => metricValue(await metrics(b), 'binbridge_upstream_connected') === 1, { message: 'connected over 3.1.1' });
      const device = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'CITY-10' });
      await device.publishAsync('bins/CITY-10/telemetry', JSON.stringify({ fill_pct: 42, ts: nextTs() }), { qos: 1 });
      await device.endAsync();
      await waitFor(async () => (await stored('CITY-10')) === 1, { message: 'native reading stored' });
      expect(metricValue(await metrics(b), 'binbridge_readings_accepted_total', { source: 'upstream' })).toBe(1);
    } finally {
      for (const b of bridges.splice(0)) await b.stop();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      server.close();
    }
  });
});
