// A reading stamped just inside the future limit (SPEC.md: more than 5 min ahead is refused) must not pin a bin:
// the next real reading is the newest, by what the device sends next, in the API, the rules and the live page.
// InfluxDB keeps every reading at its own time (SPEC.md "Timestamps are the reading's own time").
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { startInfluxd, type Influxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const AHEAD_MS = 4 * 60_000 + 59_000;
const [PINNED, RULED] = cityBins(2) as [string, string];

describe('a reading stamped 4 min 59 s ahead, then real ones (QoS 1, device authentication)', () => {
  let influx: Influxd;
  let bridge: InProcessBridge;
  const clients: MqttClient[] = [];

  const device = async (id: string): Promise<MqttClient> => {
    const client = await connectClient(bridge.mqttUrl, { clientId: id, username: id, password: await bridge.secrets.issue(id) });
    clients.push(client);
    return client;
  };
  const state = async (id: string): Promise<{ fill_pct: number; ts: string; received_at: string } | null> =>
    ((await (await fetch(`${bridge.httpUrl}/api/bins/${id}`)).json()) as { state: { fill_pct: number; ts: string; received_at: string } | null }).state;

  beforeAll(async () => {
    influx = await startInfluxd();
    bridge = await startBridge({ BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_INFLUX_DB: 'binbridge' });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await bridge?.stop();
    await influx?.destroy();
  });

  it('GET /api/bins/{id} shows the next real reading, and InfluxDB has both at their own times', async () => {
    const client = await device(PINNED);
    const aheadTs = Date.now() + AHEAD_MS;
    await publishAcked(client, `bins/${PINNED}/telemetry`, { fill_pct: 10, ts: aheadTs });
    // the PUBACK comes after the commit: the state is there when publishAcked resolves
    expect(await state(PINNED)).toMatchObject({ fill_pct: 10 });

    const before = Date.now();
    await publishAcked(client, `bins/${PINNED}/telemetry`, { fill_pct: 90 });
    const s = await state(PINNED);
    expect(s).toMatchObject({ fill_pct: 90 });
    expect(Date.parse(s!.ts)).toBeGreaterThanOrEqual(before);

    // the points carry the readings' own times: the future stamp as sent, the real reading at its receive time
    const rows = await waitFor(async () => {
      const res = await influx.query(`SELECT fill_pct FROM bin_reading WHERE bin_id = '${PINNED}' ORDER BY time`, 'binbridge', { epoch: 'ms' });
      const values = (res.results[0]?.series?.[0]?.values ?? []) as [number, number][];
      return values.length === 2 ? values : null;
    }, { timeoutMs: 15_000, message: 'two bin_reading points in influxd' });
    expect(rows[0]).toEqual([Date.parse(s!.ts), 90]);
    expect(rows[1]).toEqual([aheadTs, 10]);
  });

  it('the rules count the real readings after it: two at 90 % open a full alert, dated no later than now', async () => {
    const client = await device(RULED);
    await publishAcked(client, `bins/${RULED}/telemetry`, { fill_pct: 40, ts: Date.now() + AHEAD_MS });
    await publishAcked(client, `bins/${RULED}/telemetry`, { fill_pct: 90 });
    await publishAcked(client, `bins/${RULED}/telemetry`, { fill_pct: 90 });
    const alerts = async () =>
      ((await (await fetch(`${bridge.httpUrl}/api/alerts?bin=${RULED}&type=full&status=open`)).json()) as { items: { opened_at: string }[] }).items;
    const open = await waitFor(async () => ((await alerts()).length > 0 ? alerts() : null), { message: 'a full alert for the bin' }).catch(() => alerts());
    expect(open).toHaveLength(1);
    expect(Date.parse(open[0]!.opened_at)).toBeLessThanOrEqual(Date.now());
  });
});
