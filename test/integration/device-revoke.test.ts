// Revoking or rotating a device's secret ends the session it opened with the old one, whether the operator uses
// the command line (another process, writing the same SQLite file) or the admin API.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';

const [A, B, C, D] = cityBins(4) as [string, string, string, string];
const TOKEN = 'ops-token-rev';

/** Watches for the server closing the client's connection; `within` resolves with the ms from its call to the close (0 when closed already). */
function watchClose(client: MqttClient): { within: (timeoutMs: number) => Promise<number> } {
  let closedAt: number | null = null;
  const closed = new Promise<void>((resolve) =>
    client.once('close', () => {
      closedAt = Date.now();
      resolve();
    }),
  );
  return {
    within: async (timeoutMs) => {
      const from = Date.now();
      let t: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`the session is still open ${timeoutMs} ms later`)), timeoutMs)));
      await Promise.race([closed, late]).finally(() => clearTimeout(t));
      return Math.max(0, closedAt! - from);
    },
  };
}

describe('revoking and rotating device secrets', () => {
  let bridge: InProcessBridge;
  const login = (bin: string, password: string) => connectClient(bridge.mqttUrl, { clientId: bin, username: bin, password });
  const api = (method: string, path: string, token = TOKEN) => fetch(`${bridge.httpUrl}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_API_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('devices revoke, run as its own process, closes the connected device at once; its old secret is refused', async () => {
    const secret = await bridge.secrets.issue(A);
    const device = await login(A, secret);
    await publishAcked(device, `bins/${A}/telemetry`, { fill_pct: 10 });
    const close = watchClose(device);
    const r = await cli(['devices', 'revoke', A], { BINBRIDGE_DATA_DIR: bridge.dataDir });
    expect(r.stdout).toContain(`revoked ${A}`);
    // the bridge looks for changes by other processes once a second
    const ms = await close.within(3000);
    console.log(`revoke by the CLI: the session closed ${ms} ms after the CLI exited`);
    await expect(login(A, secret)).rejects.toMatchObject({ code: 4 });
    expect(metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_mqtt_refused_total', { reason: 'revoked' })).toBe(1);
    device.end(true);
  });

  it('devices secret (rotation), run as its own process, ends the session of the old secret; the new one logs in', async () => {
    const old = await bridge.secrets.issue(B);
    const device = await login(B, old);
    const other = await login(C, await bridge.secrets.issue(C));
    const close = watchClose(device);
    const r = await cli(['devices', 'secret', B], { BINBRIDGE_DATA_DIR: bridge.dataDir });
    const [, fresh] = r.stdout.trim().split(' ');
    await close.within(3000);
    await expect(login(B, old)).rejects.toMatchObject({ code: 4 });
    const again = await login(B, fresh!);
    await publishAcked(again, `bins/${B}/telemetry`, { fill_pct: 11 });
    // the other devices keep their sessions
    expect(other.connected).toBe(true);
    await publishAcked(other, `bins/${C}/telemetry`, { fill_pct: 12 });
    for (const c of [device, again, other]) c.end(true);
  });

  it('DELETE /api/devices/{id}/secret revokes and disconnects at once, behind the API token', async () => {
    const secret = await bridge.secrets.issue(D);
    const device = await login(D, secret);
    const close = watchClose(device);
    const res = await api('DELETE', `/api/devices/${D}/secret`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ bin_id: D, revoked: true, disconnected: 1 });
    // at once, not at the next look for other processes' changes
    await close.within(500);
    await expect(login(D, secret)).rejects.toMatchObject({ code: 4 });
    const again = await api('DELETE', `/api/devices/${D}/secret`);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ status: 404, title: 'Not Found' });
    const other = await bridge.secrets.issue(D);
    expect((await api('DELETE', `/api/devices/${D}/secret`, 'wrong')).status).toBe(401);
    expect((await api('DELETE', `/api/devices/${D}/secret`, '')).status).toBe(401);
    await login(D, other).then((c) => c.end(true));
    device.end(true);
  });
});
