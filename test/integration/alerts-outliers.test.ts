// Issue 10: a lone spurious echo is an outlier (counted, shown on the bin, no alert, no fill level for the rules),
// and an alert records what it was opened on (cause, and the forecast's hours to full).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { openEventStream } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const [ECHO_BIN, RISING_BIN] = cityBins(2) as [string, string];
const QUARTER = 15 * 60_000;

describe('outliers and what alerts were based on', () => {
  let bridge: InProcessBridge;
  const api = async <T>(p: string): Promise<T> => (await (await fetch(`${bridge.httpUrl}/api${p}`, { headers: { authorization: 'Bearer t0ken' } })).json()) as T;
  const outliersCounted = async (): Promise<number> => metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_readings_outliers_total');
  /** publishes fills of one bin, one every `stepMs` ending an hour ago, each acknowledged (committed) before the next */
  const publishFills = async (binId: string, fills: number[], stepMs: number): Promise<number[]> => {
    const c = await connectClient(bridge.mqttUrl, { clientId: binId, username: binId, password: await bridge.secrets.issue(binId) });
    const start = Date.now() - 3_600_000 - fills.length * stepMs;
    const times = fills.map((_, i) => start + i * stepMs);
    for (const [i, fill] of fills.entries()) await publishAcked(c, `bins/${binId}/telemetry`, { fill_pct: fill, ts: times[i] });
    c.end();
    return times;
  };

  beforeAll(async () => {
    bridge = await startBridge({ BINBRIDGE_HTTP_API_TOKEN: 't0ken' });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  it('counts a lone echo in the metric and on the bin, opens nothing, and keeps it out of the fill the rules act on', async () => {
    const before = await outliersCounted();
    const times = await publishFills(ECHO_BIN, [30, 30.5, 31, 88, 31.5, 32], QUARTER);
    await waitFor(async () => (await outliersCounted()) === before + 1, { message: 'the outlier counted' });

    const bin = await api<{ state: { fill_pct: number; last_outlier_at: string | null; outliers: number } }>(`/bins/${ECHO_BIN}`);
    expect(bin.state).toMatchObject({ fill_pct: 32, last_outlier_at: new Date(times[3]!).toISOString(), outliers: 1 });
    const alerts = await api<{ items: unknown[] }>(`/alerts?bin=${ECHO_BIN}`);
    expect(alerts.items).toEqual([]);
    // the reading itself was stored as it came (nothing acknowledged is lost)
    const history = await api<{ items: { fill_max_pct: number }[] }>(`/bins/${ECHO_BIN}/readings?hours=6`);
    expect(history.items.map((p) => p.fill_max_pct)).toContain(88);
  });

  it('gives a forecast full alert its cause and hours to full in GET /api/alerts and on the live page\'s stream', async () => {
    const stream = await openEventStream(`${bridge.httpUrl}/api/events?token=t0ken`);
    try {
      await publishFills(RISING_BIN, [65, 67.5, 70, 72.5, 75], 30 * 60_000);
      const open = await waitFor(async () => (await api<{ items: Record<string, unknown>[] }>(`/alerts?bin=${RISING_BIN}&type=full`)).items[0], {
        message: 'a full alert',
      });
      expect(open).toMatchObject({ type: 'full', status: 'open', cause: 'forecast', value: 75, hours_to_full: 2 });
      const event = await waitFor(() => stream.events.find((e) => e.type === 'alert' && (e.data as { opens: string | null }).opens === 'full'), {
        message: 'the full alert on the event stream',
      });
      expect(event.data).toMatchObject({ bin_id: RISING_BIN, type: 'full', opens: 'full', cause: 'forecast', hours_to_full: 2 });
    } finally {
      stream.close();
    }
  });
});
