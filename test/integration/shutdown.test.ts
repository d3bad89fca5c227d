// A shutdown must finish with devices still connected and with an HTTP client that stopped reading.
import { describe, expect, it } from 'vitest';
import { connectClient, startBridge } from '../helpers/bridge.js';

describe('shutdown', () => {
  it('stops with MQTT devices connected and a half-read HTTP response', async () => {
    const bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none' });
    const device = await connectClient(bridge.mqttUrl, { clientId: 'still-here', reconnectPeriod: 0 });
    const ws = await connectClient(`ws://127.0.0.1:${bridge.ports.http}/mqtt`, { clientId: 'ws-still-here', reconnectPeriod: 0 });
    // a large file whose body is never read
    const res = await fetch(`${bridge.httpUrl}/vendor/leaflet/leaflet-src.js`);
    expect(res.status).toBe(200);
    const outcome = await Promise.race([bridge.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 20_000))]);
    expect(outcome).toBe('stopped');
    device.end(true);
    ws.end(true);
  });
});
