// spool.journal: worker, end to end over MQTT: a worker that dies acknowledges nothing it did not store, comes
// back, and the device's resend is stored once.
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerReadingJournal } from '../../src/storage/index.js';
import { cityBins, connectClient, metricValue, publishAcked, startBridge, streamReadings, type InProcessBridge } from '../helpers/bridge.js';
import { startInfluxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

describe('journal worker', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('gives no PUBACK for the readings a dying worker held, restarts it, and stores the resent reading once', async () => {
    const bridge: InProcessBridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_SPOOL_JOURNAL: 'worker' });
    cleanup.push(() => bridge.stop());
    expect(bridge.journal).toBeInstanceOf(WorkerReadingJournal);
    const [bin] = cityBins(1);
    const base = Date.now() - 3_600_000;
    const stream = streamReadings(bridge.mqttUrl, { bins: [bin!], count: 2, ratePerS: 0, base, clientId: `jw-${process.pid}` });
    cleanup.push(() => stream.end());
    await waitFor(() => stream.client.connected, { message: 'device connected' });

    stream.step(1);
    await waitFor(() => stream.acked === 1, { message: 'first reading acknowledged' });
    // the worker takes the second reading but never commits it, however slow the machine: it dies holding it
    (bridge.journal as WorkerReadingJournal).holdCommits();
    stream.step(1);
    await waitFor(() => bridge.journal.backlog().readings === 1, { message: 'second reading waiting for its commit' });
    await new Promise((r) => setImmediate(r)); // sent to the worker at the end of its turn
    (bridge.journal as WorkerReadingJournal).crashWorker();

    // refused, not acknowledged: the broker closes the connection without a PUBACK
    await waitFor(async () => metricValue(await (await fetch(`${bridge.httpUrl}/metrics`)).text(), 'binbridge_readings_rejected_total', { reason: 'store_error' }) === 1, {
      message: 'the held reading refused',
    });
    expect(stream.acked).toBe(1);

    // the device's session resends it once the worker is back
    await waitFor(() => stream.acked === 2, { timeoutMs: 30_000, message: 'resent reading acknowledged after the restart' });
    const ready = await fetch(`${bridge.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const text = await (await fetch(`${bridge.httpUrl}/metrics`)).text();
    expect(metricValue(text, 'binbridge_journal_worker_restarts_total')).toBe(1);
    expect(metricValue(text, 'binbridge_journal_backlog_readings')).toBe(0);
    expect(bridge.binState.get(bin!)).toMatchObject({ ts: base + 1000 });
    const stored = (await bridge.history.range(bin!, base - 1, base + 10_000)).reduce((n, p) => n + p.readings, 0);
    expect(stored).toBe(2);
  });

  it('says on /readyz while the worker restarts', async () => {
    const bridge = await startBridge({ BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_SPOOL_JOURNAL: 'worker' });
    cleanup.push(() => bridge.stop());
    (bridge.journal as WorkerReadingJournal).crashWorker();
    await waitFor(() => bridge.journal.backlog().state === 'restarting', { intervalMs: 5, message: 'worker died' });
    // asked in the same turn as the death was seen, so the restart cannot have finished in between
    expect(bridge.readiness()).toMatchObject({ ready: false, checks: { journal: 'restarting' } });
    await waitFor(async () => (await fetch(`${bridge.httpUrl}/readyz`)).status === 200, { timeoutMs: 30_000, message: 'ready again' });
  });

  it('at shutdown commits what it took, gives the writer in the worker its last chance, then closes', async () => {
    const influx = await startInfluxd();
    cleanup.push(() => influx.destroy());
    // the writer would wait a minute for a batch: only the shutdown's last chance writes these points
    const bridge = await startBridge({
      BINBRIDGE_SPOOL_JOURNAL: 'worker',
      BINBRIDGE_MQTT_AUTH: 'none',
      BINBRIDGE_INFLUX_URL: influx.url,
      BINBRIDGE_INFLUX_API: 'v1',
      BINBRIDGE_INFLUX_FLUSH_INTERVAL_MS: '60000',
    });
    const [bin] = cityBins(1);
    const device = await connectClient(bridge.mqttUrl);
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < 3; i++) await publishAcked(device, `bins/${bin}/telemetry`, { fill_pct: 10 + i, ts: base + i * 1000 });
    device.end(true);
    expect(bridge.spool!.stats().depth).toBeGreaterThanOrEqual(3);
    expect(await influx.count('SELECT count(fill_pct) FROM bin_reading')).toBe(0);
    await bridge.stop();
    expect(await influx.count('SELECT count(fill_pct) FROM bin_reading')).toBe(3);
    expect(bridge.spool!.stats().depth).toBe(0);
    expect(bridge.journal.backlog().state).toBe('stopped');
  });
});
