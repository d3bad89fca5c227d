// PUBLISH packets at the edges of MQTT 3.1.1 that a client library does not send, written byte by byte:
// a QoS 1 packet with packet id 0, and a QoS 2 packet re-sent with DUP before its handshake completes.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, metricValue, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { publishPacket, rawConnect } from '../helpers/raw-mqtt.js';
import { waitFor } from '../helpers/wait.js';

const [A, B, C, D] = cityBins(4) as [string, string, string, string];
const BASE = Date.now() - 3_600_000;

/** the server closed the connection within the time, or the test fails saying so */
async function closedBy(c: { closed: Promise<void> }, timeoutMs = 5000): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs)));
  await Promise.race([c.closed, timeout]).finally(() => clearTimeout(t));
}

describe('PUBLISH packet ids and QoS 2 re-sends', () => {
  let bridge: InProcessBridge;
  const secrets: Record<string, string> = {};
  const metrics = async (): Promise<string> => (await fetch(`${bridge.httpUrl}/metrics`)).text();
  const accepted = async (): Promise<number> => metricValue(await metrics(), 'binbridge_readings_accepted_total', { source: 'mqtt' });
  const login = (bin: string, clean = true) => rawConnect(bridge.ports.mqtt!, { clientId: bin, username: bin, password: secrets[bin], clean });

  beforeAll(async () => {
    bridge = await startBridge();
    for (const id of [A, B, C, D]) secrets[id] = await bridge.secrets.issue(id);
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('closes the connection on a QoS 1 PUBLISH with packet id 0 [MQTT-2.3.1-1]; no PUBACK, nothing stored', async () => {
    const c = await login(A);
    expect(c.connack.returnCode).toBe(0);
    c.send(publishPacket(`bins/${A}/telemetry`, JSON.stringify({ fill_pct: 55, ts: BASE }), { qos: 1, messageId: 0 }));
    await closedBy(c);
    expect(c.received.filter((p) => p.cmd === 'puback')).toEqual([]);
    expect(bridge.binState.get(A)?.fill_pct ?? null).toBeNull();
    expect(metricValue(await metrics(), 'binbridge_mqtt_refused_total', { reason: 'packet_id_zero' })).toBe(1);
  });

  it('also for QoS 2', async () => {
    const c = await login(A);
    c.send(publishPacket(`bins/${A}/telemetry`, JSON.stringify({ fill_pct: 56, ts: BASE }), { qos: 2, messageId: 0 }));
    await closedBy(c);
    expect(c.received.filter((p) => p.cmd === 'pubrec')).toEqual([]);
    expect(bridge.binState.get(A)?.fill_pct ?? null).toBeNull();
    expect(metricValue(await metrics(), 'binbridge_mqtt_refused_total', { reason: 'packet_id_zero' })).toBe(2);
  });

  it('counts a QoS 2 reading re-sent with DUP before PUBREL once, in one chunk or one by one', async () => {
    const before = await accepted();
    const c = await login(B);
    const reading = JSON.stringify({ fill_pct: 61, ts: BASE + 1000 });
    const first = publishPacket(`bins/${B}/telemetry`, reading, { qos: 2, messageId: 77 });
    const again = publishPacket(`bins/${B}/telemetry`, reading, { qos: 2, messageId: 77, dup: true });
    // three in one write: aedes handles the packets of one chunk side by side
    c.send(first);
    c.send(again);
    c.send(again);
    await waitFor(() => c.received.filter((p) => p.cmd === 'pubrec').length === 3, { message: 'three PUBRECs' });
    // and once more after PUBREC, as a device does that lost the PUBREC
    c.send(again);
    await waitFor(() => c.received.filter((p) => p.cmd === 'pubrec').length === 4, { message: 'a fourth PUBREC' });
    expect((await accepted()) - before).toBe(1);
    c.send({ cmd: 'pubrel', messageId: 77 });
    await c.next((p) => p.cmd === 'pubcomp');
    expect((await accepted()) - before).toBe(1);
    // after PUBCOMP the id is free again [MQTT-2.3.1-4]: a new reading under it counts
    c.send(publishPacket(`bins/${B}/telemetry`, JSON.stringify({ fill_pct: 62, ts: BASE + 2000 }), { qos: 2, messageId: 77 }));
    await waitFor(() => c.received.filter((p) => p.cmd === 'pubrec').length === 5, { message: 'PUBREC of the new reading' });
    expect((await accepted()) - before).toBe(2);
    expect(bridge.binState.get(B)?.fill_pct).toBe(62);
    c.end();
  });

  it('counts a QoS 2 reading once when the device re-sends it in a resumed session', async () => {
    const before = await accepted();
    const reading = publishPacket(`bins/${C}/telemetry`, JSON.stringify({ fill_pct: 63, ts: BASE + 3000 }), { qos: 2, messageId: 9 });
    const c1 = await login(C, false);
    c1.send(reading);
    await c1.next((p) => p.cmd === 'pubrec');
    c1.end(); // the PUBREC is lost with the connection, as far as the device knows
    await c1.closed;
    const c2 = await login(C, false);
    c2.send({ ...reading, dup: true });
    await c2.next((p) => p.cmd === 'pubrec');
    c2.send({ cmd: 'pubrel', messageId: 9 });
    await c2.next((p) => p.cmd === 'pubcomp');
    expect((await accepted()) - before).toBe(1);
    c2.end();
  });

  it('still acknowledges ordinary QoS 1 and QoS 2 readings', async () => {
    const before = await accepted();
    const c = await login(D);
    c.send(publishPacket(`bins/${D}/telemetry`, JSON.stringify({ fill_pct: 20, ts: BASE }), { qos: 1, messageId: 1 }));
    await c.next((p) => p.cmd === 'puback');
    c.send(publishPacket(`bins/${D}/telemetry`, JSON.stringify({ fill_pct: 21, ts: BASE + 1000 }), { qos: 2, messageId: 2 }));
    await c.next((p) => p.cmd === 'pubrec');
    c.send({ cmd: 'pubrel', messageId: 2 });
    await c.next((p) => p.cmd === 'pubcomp');
    expect((await accepted()) - before).toBe(2);
    c.end();
  });

  it('acknowledges packet ids across their range, with no cache of a buffer per packet id (7.5 MB) in the writer', async () => {
    const c = await login(D);
    for (const messageId of [1, 255, 256, 65_535]) {
      c.send(publishPacket(`bins/${D}/telemetry`, JSON.stringify({ fill_pct: 30, ts: BASE + messageId }), { qos: 1, messageId }));
      // each answered with its own id (a wrong id would leave it unanswered: the wait fails)
      await c.next((p) => p.cmd === 'puback' && p.messageId === messageId);
    }
    c.end();
    // the mqtt-packet aedes writes with: by default it fills 65,536 two-byte Buffers at its first packet
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
    const numbers = fromAedes('mqtt-packet/numbers') as { cache: Record<number, Buffer> };
    expect(Object.keys(numbers.cache).length).toBe(0);
  });
});
