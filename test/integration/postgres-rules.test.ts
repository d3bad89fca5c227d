// Two bridges on one PostgreSQL (store.url): the rules keep one state per bin, whichever instance receives a bin's
// readings. A reading is acknowledged once its rules are applied, so the next one, at either instance, is judged
// after it; the offline check runs on the lease's holder, from every instance's readings.
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AppliedEvent } from '../../src/alerts/index.js';
import { cityBins, connectClient, publishAcked, startInstances, type InProcessBridge } from '../helpers/bridge.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const [ALTERNATING, ONE_INSTANCE, SILENT] = cityBins(3) as [string, string, string];
const MIN = 60_000;
/** full_pct 85 (the default), debounce 3: the third reading at or above it opens 'full' */
const FILLS = [40, 88, 89, 90, 91];

describe('two bridges on one PostgreSQL share the rules\' state', () => {
  const cluster = postgresCluster();
  let url: string;
  let a: InProcessBridge;
  let b: InProcessBridge;
  let sql: pg.Client;
  const clients: MqttClient[] = [];

  const device = async (bridge: InProcessBridge, bin: string, secret: string): Promise<MqttClient> => {
    const c = await connectClient(bridge.mqttUrl, { clientId: bin, username: bin, password: secret, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };
  const openFull = async (bridge: InProcessBridge, bin: string): Promise<Alert[]> => bridge.alerts.list({ bin, type: 'full', status: 'open' });

  beforeAll(async () => {
    url = await freshDatabase(cluster.server);
    [a, b] = (await startInstances(2, { BINBRIDGE_STORE_URL: url, BINBRIDGE_RULES_DEBOUNCE: '3' })) as [InProcessBridge, InProcessBridge];
    sql = new pg.Client({ connectionString: url });
    await sql.connect();
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await sql?.end();
    await a?.stop();
    await b?.stop();
  });

  it('a bin whose readings alternate between the instances opens full after debounce readings, as one instance does', async () => {
    const t0 = Date.now() - 10 * MIN;
    const secret = await a.secrets.issue(ALTERNATING);
    await waitFor(() => b.secrets.has(ALTERNATING), { message: 'B knows the secret' });
    const at = [await device(a, ALTERNATING, secret), await device(b, ALTERNATING, secret)];
    for (const [i, fill] of FILLS.entries()) {
      // even readings through A, odd ones through B
      await publishAcked(at[i % 2]!, `bins/${ALTERNATING}/telemetry`, { fill_pct: fill, ts: t0 + i * MIN });
      // acknowledged once its rules are applied: no waiting, at either instance
      const expected = i >= 3 ? 1 : 0;
      expect(await openFull(a, ALTERNATING), `after reading ${i + 1}`).toHaveLength(expected);
      expect(await openFull(b, ALTERNATING), `after reading ${i + 1}`).toHaveLength(expected);
    }
    const [alternating] = await openFull(b, ALTERNATING);
    expect(alternating).toMatchObject({ opened_at: t0 + 3 * MIN, value: 90, cause: 'threshold' });
    const rows = await sql.query<{ state: string }>('SELECT state FROM rule_state WHERE bin_id = $1', [ALTERNATING]);
    expect(rows.rows).toHaveLength(1);
    expect(JSON.parse(rows.rows[0]!.state)).toMatchObject({ lastFill: 91 });

    // the same stream through one instance gives the same alert
    const one = await device(b, ONE_INSTANCE, await b.secrets.issue(ONE_INSTANCE));
    for (const [i, fill] of FILLS.entries()) await publishAcked(one, `bins/${ONE_INSTANCE}/telemetry`, { fill_pct: fill, ts: t0 + i * MIN });
    const single = await openFull(a, ONE_INSTANCE);
    expect(single).toHaveLength(1);
    const same = (x: Alert) => ({ type: x.type, opened_at: x.opened_at, value: x.value, cause: x.cause, message: x.message });
    expect(same(single[0]!)).toEqual(same(alternating!));
  }, 60_000);

  it("the offline check raises offline once, on the lease's holder only, from readings the other instance received", async () => {
    const holder = (): InProcessBridge | null => (a.lease.holds() ? a : b.lease.holds() ? b : null);
    const first = await waitFor(holder, { message: 'one instance holds the lease' });
    const other = first === a ? b : a;
    // the silent bin's only reading reaches the instance that does not hold the lease
    const c = await device(other, SILENT, await other.secrets.issue(SILENT));
    await publishAcked(c, `bins/${SILENT}/telemetry`, { fill_pct: 20, ts: Date.now() });
    c.end(true);
    const later = Date.now() + 3 * 3_600_000;
    const offline = (applied: readonly AppliedEvent[]) => applied.filter((e) => e.binId === SILENT).map((e) => [e.type, e.opened]);
    // an instance without the lease checks nothing (asked while it did not hold it before or after: on a loaded
    // machine a renewal may come late and the lease change hands)
    const without = await other.rules.checkSilence(later);
    if (!other.lease.holds()) expect(without).toEqual([]);
    // the holder, reading the states every instance wrote, raises it
    const raised = await waitFor(async () => {
      const h = holder();
      const r = h ? offline(await h.rules.checkSilence(later)) : [];
      return r.length > 0 ? r : null;
    }, { message: 'the holder raises offline' });
    expect(raised).toEqual([['offline', true]]);
    // once: checked again, by either
    expect(offline(await a.rules.checkSilence(later + MIN))).toEqual([]);
    expect(offline(await b.rules.checkSilence(later + MIN))).toEqual([]);
    expect((await a.alerts.list({ bin: SILENT, type: 'offline' })).map((x) => x.status)).toEqual(['open']);
  }, 60_000);
});
