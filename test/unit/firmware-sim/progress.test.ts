import { describe, expect, it } from 'vitest';
import type { DeviceSnapshot } from '../../../firmware-sim/device.js';
import { formatProgress, sumSnapshots } from '../../../firmware-sim/progress.js';

const snap = (over: Partial<DeviceSnapshot>): DeviceSnapshot => ({
  connected: true, refused: false, silent: false, sent: 0, acked: 0, buffered: 0, inflight: 0, dropped: 0, faults: [], ...over,
});

describe('progress line', () => {
  it('sums the devices into one line', () => {
    const totals = sumSnapshots([
      snap({ sent: 10, acked: 9, inflight: 1, faults: ['fire'] }),
      snap({ connected: false, refused: true, buffered: 4, dropped: 2 }),
    ]);
    expect(formatProgress(totals, Date.parse('2026-11-25T16:00:12.345Z'))).toBe(
      'connected 1/2  sent 10  acked 9  buffered 4  dropped 2  refused 1  faults 1  sim 2026-11-25 16:00:12Z',
    );
  });
});
