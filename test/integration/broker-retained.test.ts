// What the broker keeps as retained messages: the short online/offline status of registered bins, nothing else,
// in every auth mode — so that no client can grow the broker's memory by publishing retained messages.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

const [A, B, C, D] = cityBins(4) as [string, string, string, string];
const BIG = 'x'.repeat(7000);

function publishRetained(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1, retain: true }, (err) => (err ? reject(err) : resolve())));
}

/**
 * The retained messages a new subscriber to bins/# gets. Waits for the ones expected, then for its own
 * message on a fresh topic to come back, by which time the broker has long sent every retained one it has.
 */
async function retainedSeen(url: string, expected: string[], login: { clientId: string; username?: string; password?: string; filter: string; marker: string }): Promise<Map<string, string>> {
  const c = await connectClient(url, { clientId: login.clientId, username: login.username, password: login.password });
  const retained = new Map<string, string>();
  let markerBack = false;
  c.on('message', (topic, payload, packet) => {
    if (packet.retain) retained.set(topic, payload.length > 32 ? `(${payload.length} bytes)` : payload.toString());
    else if (topic === login.marker) markerBack = true;
  });
  await new Promise<void>((resolve, reject) => c.subscribe(login.filter, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  await waitFor(() => expected.every((t) => retained.has(t)), { message: `retained ${expected.join(', ')}` });
  await publishAcked(c, login.marker, 'online');
  await waitFor(() => markerBack, { message: 'own message back' });
  c.end(true);
  return retained;
}

describe('retained messages with mqtt.auth: none', () => {
  let bridge: InProcessBridge;
  const refused = async (reason: string): Promise<number> => metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_mqtt_refused_total', { reason });

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it("retains only registered bins' online/offline status: not unknown bins, not big payloads, not telemetry, not wills", async () => {
    const c = await connectClient(bridge.mqttUrl, { clientId: 'flooder' });
    for (let i = 0; i < 50; i++) await publishRetained(c, `bins/NOPE-${i}/status`, BIG);
    await publishRetained(c, 'bins/NOPE-online/status', 'online');
    await publishRetained(c, `bins/${A}/status`, BIG);
    await publishRetained(c, `bins/${B}/telemetry`, JSON.stringify({ fill_pct: 12 }));
    await publishRetained(c, `bins/${C}/status`, 'online');
    // a last will on an unknown bin's status topic, fired by a lost connection
    const watcher = await connectClient(bridge.mqttUrl, { clientId: 'watcher' });
    let willSeen = false;
    watcher.on('message', (topic) => (willSeen ||= topic === 'bins/NOPE-WILL/status'));
    await new Promise<void>((resolve) => watcher.subscribe('bins/NOPE-WILL/status', { qos: 1 }, () => resolve()));
    const dying = await connectClient(bridge.mqttUrl, { clientId: 'dying', will: { topic: 'bins/NOPE-WILL/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    dying.stream.destroy();
    await waitFor(() => willSeen, { message: 'the will fired' });
    watcher.end(true);
    c.end(true);

    const retained = await retainedSeen(bridge.mqttUrl, [`bins/${C}/status`], { clientId: 'fresh', filter: 'bins/#', marker: `bins/${D}/telemetry` });
    expect([...retained.entries()]).toEqual([[`bins/${C}/status`, 'online']]);
    expect(bridge.binState.get(C)?.status).toBe('online');
    expect(await refused('retain_unknown_bin')).toBe(52);
    expect(await refused('retain_bad_status')).toBe(1);
    expect(await refused('retain_telemetry')).toBe(1);
    // the refused ones were still acknowledged, and the telemetry recorded
    expect(bridge.binState.get(B)?.fill_pct).toBe(12);
  });

  it("forgets a bin's retained status when the bin is removed (DELETE /api/bins/{id})", async () => {
    const c = await connectClient(bridge.mqttUrl, { clientId: 'remover' });
    await publishRetained(c, `bins/${D}/status`, 'online');
    c.end(true);
    const before = await retainedSeen(bridge.mqttUrl, [`bins/${D}/status`], { clientId: 'fresh-2', filter: `bins/${D}/#`, marker: `bins/${D}/telemetry` });
    expect(before.get(`bins/${D}/status`)).toBe('online');
    expect((await fetch(`${bridge.httpUrl}/api/bins/${D}`, { method: 'DELETE' })).status).toBe(200);
    // the marker is a registered bin's telemetry: D is no longer one
    const after = await retainedSeen(bridge.mqttUrl, [], { clientId: 'fresh-3', filter: 'bins/#', marker: `bins/${A}/telemetry` });
    expect(after.has(`bins/${D}/status`)).toBe(false);
  });
});

describe('retained messages with device authentication', () => {
  let bridge: InProcessBridge;
  const secrets: Record<string, string> = {};
  beforeAll(async () => {
    bridge = await startBridge();
    for (const id of [A, B]) secrets[id] = await bridge.secrets.issue(id);
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it("retains a device's own online/offline status and its last will, not a big status or telemetry", async () => {
    const a = await connectClient(bridge.mqttUrl, { clientId: A, username: A, password: secrets[A], will: { topic: `bins/${A}/status`, payload: Buffer.from(BIG), qos: 1, retain: true } });
    await publishRetained(a, `bins/${A}/status`, 'online');
    await publishRetained(a, `bins/${A}/telemetry`, JSON.stringify({ fill_pct: 30 }));
    a.stream.destroy(); // its will (a big payload) replaces nothing
    const b = await connectClient(bridge.mqttUrl, { clientId: B, username: B, password: secrets[B], will: { topic: `bins/${B}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } });
    await publishRetained(b, `bins/${B}/status`, BIG);
    await publishRetained(b, `bins/${B}/status`, 'online');
    b.stream.destroy();
    await waitFor(() => bridge.binState.get(B)?.status === 'offline', { message: "B's will" });

    const seen = await retainedSeen(bridge.mqttUrl, [`bins/${A}/status`], { clientId: A, username: A, password: secrets[A], filter: `bins/${A}/#`, marker: `bins/${A}/telemetry` });
    // A may follow only its own topics
    expect([...seen.entries()]).toEqual([[`bins/${A}/status`, 'online']]);
    const seenB = await retainedSeen(bridge.mqttUrl, [`bins/${B}/status`], { clientId: B, username: B, password: secrets[B], filter: `bins/${B}/#`, marker: `bins/${B}/telemetry` });
    expect([...seenB.entries()]).toEqual([[`bins/${B}/status`, 'offline']]);
  });
});
