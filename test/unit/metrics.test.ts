import { describe, expect, it } from 'vitest';
import { LAG_MAX_METRIC, RSS_METRIC, metricSample } from '../../fuzz/monitor.js';
import { createMetrics } from '../../src/metrics.js';

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
