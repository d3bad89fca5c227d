// docs/operations.md lists every metric binbridge defines (prom-client's process and Node.js metrics aside), so a
// new metric cannot go unmentioned where operators look for it.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics.js';

describe('docs/operations.md, Metrics', () => {
  it('names every metric of binbridge', async () => {
    const page = fs.readFileSync('docs/operations.md', 'utf8');
    const section = page.slice(page.indexOf('## Metrics'), page.indexOf('\n## ', page.indexOf('## Metrics') + 1));
    const own = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !/^binbridge_(process|nodejs)_/.test(n));
    expect(own.length).toBeGreaterThan(20);
    expect(own.filter((n) => !new RegExp(`\`${n}[{\`]`).test(section))).toEqual([]);
  });
});
