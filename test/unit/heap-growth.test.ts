import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapGrowthFlags } from '../../src/heap-growth.js';

describe('the V8 heap growth binbridge start sets', () => {
  it('limits the old generation to 1.5 × live unless node was given its own growth', () => {
    expect(HEAP_GROWING_PERCENT).toBe(50);
    expect(heapGrowthFlags([])).toEqual(['--heap-growing-percent=50']);
    expect(heapGrowthFlags(['--cpu-prof', '--max-old-space-size=512'])).toEqual(['--heap-growing-percent=50']);
    expect(heapGrowthFlags(['--heap-growing-percent=0'])).toEqual([]);
    expect(heapGrowthFlags(['--heap_growing_percent=50'])).toEqual([]);
  });
});
