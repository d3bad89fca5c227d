// Everything the broker must refuse (SPEC.md "MQTT interface"), each refused as the spec says, nothing stored,
// and the broker keeps serving a well-behaved device throughout.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, closed, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { rawConnect } from '../helpers/raw-mqtt.js';
import { mosquittoPub, startInfluxd, type Influxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const [GOOD, OTHER, VICTIM] = cityBins(3) as [string, string, string];
const BASE = Date.now() - 3_600_000;

describe('refusals with device authentication', () => {
  let influx: Influxd;
  let bridge: InProcessBridge;
  let secret: string;
  let otherSecret: string;
  let good: MqttClient;
  let goodSent = 0;

  const metrics = async (): Promise<string> => (await fetch(`${bridge.httpUrl}/metrics`)).text();
  const stored = (bin: string): Promise<number> => influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${bin}'`);
  /** the well-behaved device still gets its readings through */
  const goodStillServed = async (): Promise<void> => {
    await publishAcked(good, `bins/${GOOD}/telemetry`, { fill_pct: 40, ts: BASE + goodSent++ * 1000 });
  };

  beforeAll(async () => {
    influx = await startInfluxd();
    bridge = await startBridge({ BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_MQTT_MAX_PACKET_BYTES: '1024' });
    secret = await bridge.secrets.issue(GOOD);
    otherSecret = await bridge.secrets.issue(OTHER);
    good = await connectClient(bridge.mqttUrl, { clientId: GOOD, username: GOOD, password: secret });
  });
  afterAll(async () => {
    good?.end(true);
    await bridge?.stop();
    await influx?.destroy();
  });

  it('refuses an anonymous client (CONNACK 5, not authorized)', async () => {
    await expect(connectClient(bridge.mqttUrl, { clientId: 'anon' })).rejects.toMatchObject({ code: 5 });
    const r = await mosquittoPub(['-h', '127.0.0.1', '-p', String(bridge.ports.mqtt), '-q', '1', '-t', `bins/${GOOD}/telemetry`, '-m', '{"fill_pct":50}']);
    expect(r.code).not.toBe(0);
    await goodStillServed();
  });

  it('refuses a wrong password (CONNACK 4) and blocks a guesser after repeated failures', async () => {
    await expect(connectClient(bridge.mqttUrl, { clientId: VICTIM, username: VICTIM, password: 'guess' })).rejects.toMatchObject({ code: 4 });
    await expect(connectClient(bridge.mqttUrl, { clientId: GOOD, username: GOOD, password: 'wrong-secret' })).rejects.toMatchObject({ code: 4 });
    for (let i = 0; i < 10; i++) await connectClient(bridge.mqttUrl, { clientId: VICTIM, username: VICTIM, password: `guess${i}` }).catch(() => undefined);
    await expect(connectClient(bridge.mqttUrl, { clientId: VICTIM, username: VICTIM, password: 'one-more' })).rejects.toMatchObject({ code: 5 });
    expect(metricValue(await metrics(), 'binbridge_mqtt_refused_total', { reason: 'auth_blocked' })).toBeGreaterThan(0);
    await goodStillServed();
  });

  it('refuses a device that uses another client id (no session take-over)', async () => {
    await expect(connectClient(bridge.mqttUrl, { clientId: 'someone-else', username: OTHER, password: otherSecret })).rejects.toMatchObject({ code: 2 });
  });

  it("closes the connection of a device publishing to another bin's topic, stores nothing", async () => {
    const other = await connectClient(bridge.mqttUrl, { clientId: OTHER, username: OTHER, password: otherSecret });
    await expect(publishAcked(other, `bins/${VICTIM}/telemetry`, { fill_pct: 99, ts: BASE })).rejects.toThrow(/closed/);
    expect(await closed(other)).toBe(true);
    other.end(true);
    await goodStillServed();
    expect(await stored(VICTIM)).toBe(0);
    expect(metricValue(await metrics(), 'binbridge_mqtt_refused_total', { reason: 'foreign_topic' })).toBe(1);
  });

  it('denies $SYS: publishing closes the connection, subscribing gets SUBACK 0x80', async () => {
    const other = await connectClient(bridge.mqttUrl, { clientId: OTHER, username: OTHER, password: otherSecret });
    const suback = new Promise<number[]>((resolve) =>
      other.on('packetreceive', (p) => p.cmd === 'suback' && resolve((p as unknown as { granted: number[] }).granted)),
    );
    const refusal = await new Promise<Error | null>((resolve) => other.subscribe('$SYS/#', { qos: 0 }, (err) => resolve(err ?? null)));
    expect(refusal?.message).toMatch(/Subscribe error/);
    expect(await suback).toEqual([128]);
    await expect(publishAcked(other, '$SYS/broker/fake', 'x')).rejects.toThrow(/closed/);
    other.end(true);
    await goodStillServed();
  });

  it('refuses a last will on a topic the device may not publish to (CONNACK 5)', async () => {
    await expect(
      connectClient(bridge.mqttUrl, { clientId: OTHER, username: OTHER, password: otherSecret, will: { topic: `bins/${VICTIM}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } }),
    ).rejects.toMatchObject({ code: 5 });
    await expect(
      connectClient(bridge.mqttUrl, { clientId: OTHER, username: OTHER, password: otherSecret, will: { topic: '$SYS/x', payload: Buffer.from('x'), qos: 0, retain: false } }),
    ).rejects.toMatchObject({ code: 5 });
  });

  it('closes a connection that sends a packet over max_packet_bytes', async () => {
    const socket = net.connect(bridge.ports.mqtt!, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: OTHER, keepalive: 30, username: OTHER, password: Buffer.from(otherSecret) }));
    await new Promise((r) => socket.once('data', r)); // CONNACK
    const closedP = new Promise((r) => socket.once('close', r));
    socket.write(mqttPacket.generate({ cmd: 'publish', topic: `bins/${OTHER}/telemetry`, payload: Buffer.alloc(4000, 0x20), qos: 1, messageId: 7, retain: false, dup: false }));
    await closedP;
    expect(metricValue(await metrics(), 'binbridge_mqtt_refused_total', { reason: 'oversize' })).toBe(1);
    await goodStillServed();
  });

  it('acknowledges and drops invalid readings with a counted reason; stores none of them', async () => {
    const other = await connectClient(bridge.mqttUrl, { clientId: OTHER, username: OTHER, password: otherSecret });
    const future = Date.now() + 3_600_000;
    const bad: [string, string][] = [
      ['not json', 'bad_json'],
      ['[1,2]', 'bad_json'],
      ['{"fill_pct":150}', 'out_of_range'],
      ['{"fill_pct":-3}', 'out_of_range'],
      ['{"fill_pct":"abc"}', 'invalid'],
      ['{}', 'no_fill'],
      ['{"battery_pct":50}', 'no_fill'],
      [`{"fill_pct":50,"ts":${future}}`, 'future_ts'],
      ['{"fill_pct":50,"ts":"last tuesday"}', 'bad_ts'],
    ];
    for (const [payload] of bad) await publishAcked(other, `bins/${OTHER}/telemetry`, payload);
    other.end();
    const text = await metrics();
    for (const reason of new Set(bad.map(([, r]) => r))) {
      expect(metricValue(text, 'binbridge_readings_rejected_total', { reason }), reason).toBe(bad.filter(([, r]) => r === reason).length);
    }
    await goodStillServed();
    await waitFor(async () => (await stored(GOOD)) === goodSent, { timeoutMs: 10_000, message: 'good readings stored' });
    expect(await stored(OTHER)).toBe(0);
    expect(bridge.binState.get(OTHER)?.ts ?? null).toBeNull();
  });
});

describe('refusals with mqtt.auth: none', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('counts readings of unknown bins and never records them', async () => {
    const c = await connectClient(bridge.mqttUrl, { clientId: 'anyone' });
    await publishAcked(c, 'bins/NOPE-0001/telemetry', { fill_pct: 50 });
    await publishAcked(c, `bins/${GOOD}/telemetry`, { fill_pct: 50 });
    c.end();
    const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metricValue(text, 'binbridge_readings_rejected_total', { reason: 'unknown_bin' })).toBe(1);
    expect(bridge.binState.get('NOPE-0001')).toBeUndefined();
    expect(bridge.binState.get(GOOD)?.fill_pct).toBe(50);
  });

  it('still denies $SYS', async () => {
    const c = await connectClient(bridge.mqttUrl, { clientId: 'anyone2' });
    await expect(publishAcked(c, '$SYS/x', 'y')).rejects.toThrow(/closed/);
    c.end(true);
  });
});

describe('connection-rate limit', () => {
  it('refuses connections past mqtt.connect_rate_per_ip per second and serves again after', async () => {
    const bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: '3' });
    try {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => connectClient(bridge.mqttUrl, { clientId: `burst-${i}` })));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok.length).toBe(3);
      for (const r of ok) (r as PromiseFulfilledResult<MqttClient>).value.end(true);
      const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
      expect(metricValue(text, 'binbridge_mqtt_refused_total', { reason: 'connect_rate' })).toBe(5);
      // the limiter's window is a second of wall time (rate-limiter-flexible): served again once it has passed
      const after = await waitFor(() => connectClient(bridge.mqttUrl, { clientId: 'after' }), { timeoutMs: 5000, intervalMs: 250, message: 'a connection served after the window' });
      after.end(true);
    } finally {
      await bridge.stop();
    }
  });

  it("lets a city's own devices behind one address all back in at once past the limit; logins that prove no secret stay limited", async () => {
    const bridge = await startBridge({ BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: '3' });
    try {
      const bins = cityBins(8);
      const secrets = await Promise.all(bins.map((b) => bridge.secrets.issue(b)));
      const code = (bin: string, password: string | undefined, from: string): Promise<number> =>
        rawConnect(bridge.ports.mqtt!, { clientId: bin, username: password === undefined ? undefined : bin, password }, { localAddress: from }).then(
          (c) => {
            c.end();
            return c.connack.returnCode ?? -1;
          },
          () => -1, // closed without a CONNACK: the connection-rate limit
        );
      // behind a carrier's NAT, after a restart: every device reconnects in the same second
      expect(await Promise.all(bins.map((b, i) => code(b, secrets[i], '127.0.0.11')))).toEqual(Array(8).fill(0));
      // wrong secrets and anonymous logins from one address: the limit holds
      const guesses = await Promise.all(bins.map((b, i) => code(b, i % 2 ? undefined : 'a-guess', '127.0.0.12')));
      expect(guesses.filter((c) => c === -1)).toHaveLength(5);
      const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
      expect(metricValue(text, 'binbridge_mqtt_refused_total', { reason: 'connect_rate' })).toBe(5);
    } finally {
      await bridge.stop();
    }
  });
});
