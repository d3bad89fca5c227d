import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { cityBins, connectClient, publishAcked, startBridge, type InProcessBridge } from '../helpers/bridge.js';
import { commitCounter } from '../helpers/event-loop.js';

const [BIN] = cityBins(1) as [string];
const MIN = 60_000;

const stored = (bridge: InProcessBridge): { lastTs: number | null; lastFill: number | null } | undefined => {
  const json = bridge.db.prepare('SELECT state FROM rule_state WHERE bin_id = ?').pluck().get(BIN) as string | undefined;
  return json === undefined ? undefined : (JSON.parse(json) as { lastTs: number | null; lastFill: number | null });
};

// the rules' memory of each bin rides in the journal's commits: no transaction of its own on the event loop
describe.each(['inline', 'worker'] as const)('rule state (spool.journal: %s)', (journal) => {
  let bridge: InProcessBridge | undefined;
  let client: MqttClient | undefined;
  afterEach(async () => {
    client?.end(true);
    await bridge?.stop();
  });

  it('costs no transaction of its own for readings that open or close nothing, and is stored by the next commit and at shutdown', async () => {
    bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal });
    client = await connectClient(bridge.mqttUrl, { clientId: BIN, username: BIN, password: await bridge.secrets.issue(BIN) });
    const t0 = Date.now() - 10 * MIN;
    await publishAcked(client, `bins/${BIN}/telemetry`, { fill_pct: 30, ts: t0 });
    await bridge.journal.settled();
    const commits = commitCounter(bridge.db);
    for (let i = 1; i <= 5; i++) {
      await publishAcked(client, `bins/${BIN}/telemetry`, { fill_pct: 30 + i, ts: t0 + i * MIN });
      await bridge.journal.settled();
    }
    // the rules ran on every reading without a commit on the event loop's connection
    expect(commits.commits).toBe(0);
    // a flush stores what they made of the last one
    await bridge.journal.flush();
    expect(stored(bridge)).toMatchObject({ lastTs: t0 + 5 * MIN, lastFill: 35 });
    expect(commits.commits).toBe(0);

    // a restart finds the rules' memory as it was
    const dataDir = bridge.dataDir;
    await publishAcked(client, `bins/${BIN}/telemetry`, { fill_pct: 37, ts: t0 + 7 * MIN });
    client.end(true);
    client = undefined;
    await bridge.stop();
    bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal }, dataDir);
    expect(stored(bridge)).toMatchObject({ lastTs: t0 + 7 * MIN, lastFill: 37 });
  });

  it("stores an alert that opens, the bin's state and what the dispatcher makes of it in one commit", async () => {
    bridge = await startBridge({ BINBRIDGE_SPOOL_JOURNAL: journal });
    client = await connectClient(bridge.mqttUrl, { clientId: BIN, username: BIN, password: await bridge.secrets.issue(BIN) });
    const inTransaction: boolean[] = [];
    const db = bridge.db;
    const store = bridge.dispatcher.store;
    const enqueue = store.enqueue.bind(store);
    store.enqueue = async (...args) => {
      inTransaction.push(db.inTransaction);
      await enqueue(...args);
    };
    const t0 = Date.now() - 10 * MIN;
    for (const [i, fill] of [40, 95, 96].entries()) await publishAcked(client, `bins/${BIN}/telemetry`, { fill_pct: fill, ts: t0 + i * MIN });
    await bridge.journal.settled();
    expect(await bridge.alerts.list({ bin: BIN, status: 'open', type: 'full' })).toHaveLength(1);
    expect((await bridge.dispatcher.store.queue()).map((q) => q.binId)).toContain(BIN);
    // the dispatcher's queue row joined the rules' transaction: one fsync for the alert, the state and the request
    expect(inTransaction).toEqual([true]);
  });
});
