import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics.js';
import { LocalLease } from '../../../src/storage/index.js';

describe('LocalLease (one instance on its own SQLite file)', () => {
  it('holds from start to stop, telling its listeners and the metrics', async () => {
    const metrics = createMetrics();
    const lease = new LocalLease('timed-work', 'here', metrics);
    const heard: boolean[] = [];
    lease.onChange((holds) => {
      heard.push(holds);
      throw new Error('a listener that fails');
    });
    lease.onChange((holds) => heard.push(holds));
    expect([lease.holds(), lease.holder()]).toEqual([false, null]);
    await lease.start();
    expect([lease.holds(), lease.holder()]).toEqual([true, 'here']);
    expect((await metrics.leaseHeld.get()).values).toEqual([{ labels: { lease: 'timed-work' }, value: 1 }]);
    await lease.stop();
    expect(lease.holds()).toBe(false);
    expect(heard).toEqual([true, true, false, false]);
    expect((await metrics.leaseChanges.get()).values.map((v) => [v.labels.change, v.value])).toEqual([['acquired', 1], ['lost', 1]]);
  });
});
