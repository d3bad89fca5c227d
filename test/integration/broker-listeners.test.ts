// The other listeners (WebSocket at /mqtt, TLS) and the online/offline status kept from the last will.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const [A, B, C] = cityBins(3) as [string, string, string];

describe('broker listeners and device status', () => {
  let bridge: InProcessBridge;
  const secrets: Record<string, string> = {};
  let cert: string;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-tls-'));
    cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    bridge = await startBridge({ BINBRIDGE_MQTT_TLS_PORT: String(await freePort()), BINBRIDGE_MQTT_TLS_CERT: cert, BINBRIDGE_MQTT_TLS_KEY: key });
    for (const id of [A, B, C]) secrets[id] = await bridge.secrets.issue(id);
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('takes readings over MQTT over WebSocket at /mqtt on the HTTP port', async () => {
    const c = await connectClient(`ws://127.0.0.1:${bridge.ports.http}/mqtt`, { clientId: A, username: A, password: secrets[A] });
    await publishAcked(c, `bins/${A}/telemetry`, { fill_pct: 61 });
    c.end();
    expect(bridge.binState.get(A)?.fill_pct).toBe(61);
  });

  it('takes readings over TLS when a certificate is configured', async () => {
    expect(bridge.ports.mqttTls).toBeGreaterThan(0);
    const c = await connectClient(`mqtts://127.0.0.1:${bridge.ports.mqttTls}`, { clientId: B, username: B, password: secrets[B], ca: fs.readFileSync(cert) });
    await publishAcked(c, `bins/${B}/telemetry`, { fill_pct: 62 });
    c.end();
    expect(bridge.binState.get(B)?.fill_pct).toBe(62);
  });

  it('keeps bins/{id}/status online/offline from the device and its last will', async () => {
    const c = await connectClient(bridge.mqttUrl, {
      clientId: C,
      username: C,
      password: secrets[C],
      will: { topic: `bins/${C}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await publishAcked(c, `bins/${C}/status`, 'online');
    expect(bridge.binState.get(C)?.status).toBe('online');
    const online = async (): Promise<number> => metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_devices_online');
    expect(await online()).toBe(1);
    // the device loses power: no DISCONNECT, so the broker publishes its will [MQTT-3.1.2-8]
    c.stream.destroy();
    await waitFor(() => bridge.binState.get(C)?.status === 'offline', { timeoutMs: 5000, message: 'offline from the will' });
    const api = (await (await fetch(`${bridge.httpUrl}/api/bins/${C}`)).json()) as { state: { status: string } };
    expect(api.state.status).toBe('offline');
    expect(await online()).toBe(0);
  });
});
