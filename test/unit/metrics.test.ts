import { describe, expect, it } from 'vitest';
import { LAG_MAX_METRIC, RSS_METRIC, metricSample } from '../../fuzz/monitor.js';
import { ManualClock } from '../../src/clock.js';
import { SCRAPE_STORE_WAIT_MS, createMetrics, refreshGauges, type GaugeSources } from '../../src/metrics.js';

const sources = (over: Partial<GaugeSources> = {}): GaugeSources => ({
  binState: { onlineCount: () => 7 },
  alerts: { openCounts: () => [{ type: 'full', n: 3 }] },
  dispatches: { countByStatus: () => [{ status: 'pending', n: 2 }] },
  spool: { stats: () => ({ depth: 5, bytes: 500, oldestMs: 10_000, full: false }) },
  now: () => 40_000,
  ...over,
});

const value = async (m: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
  const metric = await m.registry.getSingleMetric(name)!.get();
  return metric.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
};

describe('refreshGauges', () => {
  it('counts from the stores, and a type or status with none left reads 0 or disappears, not its last count', async () => {
    const m = createMetrics();
    await refreshGauges(m, sources());
    expect(await value(m, 'binbridge_devices_online')).toBe(7);
    expect(await value(m, 'binbridge_alerts_open', { type: 'full' })).toBe(3);
    expect(await value(m, 'binbridge_dispatches', { status: 'pending' })).toBe(2);
    expect(await value(m, 'binbridge_spool_oldest_age_seconds')).toBe(30);

    await refreshGauges(m, sources({ alerts: { openCounts: () => [] }, dispatches: { countByStatus: () => [{ status: 'sent', n: 2 }] } }));
    expect(await value(m, 'binbridge_alerts_open', { type: 'full' })).toBeUndefined();
    expect(await value(m, 'binbridge_dispatches', { status: 'pending' })).toBe(0);
    expect(await value(m, 'binbridge_dispatches', { status: 'sent' })).toBe(2);
  });

  it('keeps the alerts\' and jobs\' last counts when the store fails or does not answer, and sets the rest', async () => {
    const m = createMetrics();
    await refreshGauges(m, sources());
    const failed = await refreshGauges(m, sources({ binState: { onlineCount: () => 9 }, dispatches: { countByStatus: () => Promise.reject(new Error('connection refused')) } }));
    expect(failed).toMatchObject({ counted: false, cause: new Error('connection refused') });
    expect(await value(m, 'binbridge_devices_online')).toBe(9);
    expect(await value(m, 'binbridge_dispatches', { status: 'pending' })).toBe(2);

    const clock = new ManualClock(0);
    const silent = refreshGauges(m, sources({ binState: { onlineCount: () => 11 }, alerts: { openCounts: () => new Promise(() => {}) }, clock }));
    await clock.advance(SCRAPE_STORE_WAIT_MS);
    expect(await silent).toMatchObject({ counted: false });
    expect(await value(m, 'binbridge_devices_online')).toBe(11);
    expect(await value(m, 'binbridge_alerts_open', { type: 'full' })).toBe(3);
  });

  it('leaves the spool gauges alone while InfluxDB is off', async () => {
    const m = createMetrics();
    await refreshGauges(m, sources({ spool: null }));
    expect(await value(m, 'binbridge_spool_depth_points')).toBe(0);
    expect(await value(m, 'binbridge_devices_online')).toBe(7);
  });
});


describe('process metrics', () => {
  it('carry one binbridge_ prefix on prom-client names (binbridge_process_resident_memory_bytes), and the fuzz monitor reads them', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).not.toContain('process_process_');
    expect(text).not.toContain('binbridge_process_nodejs_');
    expect(metricSample(text, 'binbridge_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(/^binbridge_nodejs_eventloop_lag_max_seconds /m);
    expect(RSS_METRIC).toBe('binbridge_process_resident_memory_bytes');
    expect(metricSample(text, RSS_METRIC)).toBeGreaterThan(0);
    expect(metricSample(text, LAG_MAX_METRIC)).toBeGreaterThanOrEqual(0);
  });
});
