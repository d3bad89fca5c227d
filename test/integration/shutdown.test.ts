// A shutdown must finish with devices still connected and with an HTTP client that stopped reading, and stop
// taking work before it waits for what is behind the edges.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { cityBins, connectClient, publishAcked, startBridge } from '../helpers/bridge.js';
import { waitFor } from '../helpers/wait.js';

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

  it.each(['inline', 'worker'])('stops taking HTTP requests before it gives InfluxDB its last chance (spool.journal: %s)', async (journal) => {
    // an InfluxDB that takes the connection and never answers: the writer's last pass waits for it
    const sockets = new Set<net.Socket>();
    const influx = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => influx.listen(0, '127.0.0.1', resolve));
    const influxUrl = `http://127.0.0.1:${(influx.address() as net.AddressInfo).port}`;
    try {
      const bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_INFLUX_URL: influxUrl, BINBRIDGE_INFLUX_TIMEOUT_MS: '30000' });
      const id = cityBins(1)[0]!;
      const device = await connectClient(bridge.mqttUrl, { clientId: id });
      await publishAcked(device, `bins/${id}/telemetry`, { fill_pct: 40, battery_pct: 90, ts: Date.now() });
      device.end(true);
      await waitFor(() => sockets.size > 0, { message: 'the writer is waiting for InfluxDB' });
      expect((await fetch(`${bridge.httpUrl}/healthz`)).ok).toBe(true);
      let stopped = false;
      const stopping = bridge.stop().then(() => (stopped = true));
      const refused = (): Promise<boolean> => fetch(`${bridge.httpUrl}/healthz`).then(() => false, () => true);
      await waitFor(refused, { timeoutMs: 4000, message: 'HTTP refusing connections while the writer has its last chance' });
      expect(stopped).toBe(false);
      await stopping;
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => influx.close(resolve));
    }
  });
});
