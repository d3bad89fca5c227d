import { describe, expect, it } from 'vitest';
import { createMetrics, refreshGauges, type GaugeSources } from '../../src/metrics.js';

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
    refreshGauges(m, sources());
    expect(await value(m, 'binbridge_devices_online')).toBe(7);
    expect(await value(m, 'binbridge_alerts_open', { type: 'full' })).toBe(3);
    expect(await value(m, 'binbridge_dispatches', { status: 'pending' })).toBe(2);
    expect(await value(m, 'binbridge_spool_oldest_age_seconds')).toBe(30);

    refreshGauges(m, sources({ alerts: { openCounts: () => [] }, dispatches: { countByStatus: () => [{ status: 'sent', n: 2 }] } }));
    expect(await value(m, 'binbridge_alerts_open', { type: 'full' })).toBeUndefined();
    expect(await value(m, 'binbridge_dispatches', { status: 'pending' })).toBe(0);
    expect(await value(m, 'binbridge_dispatches', { status: 'sent' })).toBe(2);
  });

  it('leaves the spool gauges alone while InfluxDB is off', async () => {
    const m = createMetrics();
    refreshGauges(m, sources({ spool: null }));
    expect(await value(m, 'binbridge_spool_depth_points')).toBe(0);
    expect(await value(m, 'binbridge_devices_online')).toBe(7);
  });
});
