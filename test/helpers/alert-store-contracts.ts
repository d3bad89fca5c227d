// What every AlertStore must do, whatever keeps the rows (SQLite, PostgreSQL): each implementation runs these cases
// against a fresh, empty store of its own. With `second` (a store on another connection to the same rows: another
// instance), the cases that only a shared store can fail run too.
import { describe, expect, it } from 'vitest';
import type { AlertStore } from '../../src/alerts/index.js';

const T0 = 1_780_000_000_000;
const MIN = 60_000;

export interface AlertStores {
  store: AlertStore;
  second?: AlertStore;
}

export function alertStoreContract(name: string, fresh: () => Promise<AlertStores>, opts: { shared?: boolean } = {}): void {
  describe(`${name} (AlertStore contract)`, () => {
    const full = (binId: string, at: number, extra: Partial<Parameters<AlertStore['open']>[0]> = {}) => ({ binId, zone: 'north', type: 'full', at, message: `${binId} is full`, ...extra });

    it('opens one alert per bin and type: a second is refused until the first is closed', async () => {
      const { store } = await fresh();
      expect(await store.open(full('A', T0, { value: 91, cause: 'threshold', hoursToFull: 1.5 }))).toBe(true);
      expect(await store.open(full('A', T0 + MIN))).toBe(false);
      // another type, another bin: their own
      expect(await store.open({ ...full('A', T0 + MIN), type: 'fire' })).toBe(true);
      expect(await store.open(full('B', T0 + MIN))).toBe(true);
      expect(await store.close('A', 'full', T0 + 2 * MIN)).toBe(true);
      expect(await store.close('A', 'full', T0 + 3 * MIN)).toBe(false);
      expect(await store.open(full('A', T0 + 4 * MIN))).toBe(true);
      const [latest, closed] = await store.list({ bin: 'A', type: 'full' });
      expect(latest).toMatchObject({ bin_id: 'A', status: 'open', opened_at: T0 + 4 * MIN, closed_at: null, value: null, cause: null, hours_to_full: null });
      expect(closed).toMatchObject({ bin_id: 'A', zone: 'north', type: 'full', status: 'closed', opened_at: T0, closed_at: T0 + 2 * MIN, value: 91, message: 'A is full', cause: 'threshold', hours_to_full: 1.5 });
      expect(typeof closed!.id).toBe('number');
    });

    it('lists newest first, by status, zone, type and bin, a page at a time', async () => {
      const { store } = await fresh();
      for (let i = 0; i < 5; i++) await store.open(full(`B${i}`, T0 + i * MIN, { zone: i % 2 === 0 ? 'north' : 'south' }));
      await store.close('B1', 'full', T0 + 10 * MIN);
      expect((await store.list()).map((a) => a.bin_id)).toEqual(['B4', 'B3', 'B2', 'B1', 'B0']);
      expect((await store.list({ status: 'open' })).map((a) => a.bin_id)).toEqual(['B4', 'B3', 'B2', 'B0']);
      expect((await store.list({ zone: 'south' })).map((a) => a.bin_id)).toEqual(['B3', 'B1']);
      expect(await store.list({ type: 'fire' })).toEqual([]);
      expect((await store.list({ bin: 'B2' })).map((a) => a.bin_id)).toEqual(['B2']);
      const page = await store.list({ limit: 2 });
      expect(page.map((a) => a.bin_id)).toEqual(['B4', 'B3']);
      const last = page.at(-1)!;
      expect((await store.list({ limit: 2, after: [last.opened_at, last.id] })).map((a) => a.bin_id)).toEqual(['B2', 'B1']);
    });

    it("closes every open alert of a removed bin and counts the open ones by type", async () => {
      const { store } = await fresh();
      await store.open(full('A', T0));
      await store.open({ ...full('A', T0), type: 'battery_low' });
      await store.open(full('B', T0));
      expect(await store.openCounts()).toEqual(expect.arrayContaining([{ type: 'full', n: 2 }, { type: 'battery_low', n: 1 }]));
      expect(await store.closeAllOf('A', T0 + MIN)).toBe(2);
      expect(await store.closeAllOf('A', T0 + 2 * MIN)).toBe(0);
      expect(await store.openCounts()).toEqual([{ type: 'full', n: 1 }]);
      expect((await store.list({ bin: 'A' })).map((a) => [a.status, a.closed_at])).toEqual([
        ['closed', T0 + MIN],
        ['closed', T0 + MIN],
      ]);
    });

    if (!opts.shared) return;
    it('opens one alert when two instances open the same bin and type at once', async () => {
      const { store, second } = await fresh();
      if (!second) throw new Error('a shared store case needs a second store');
      const tries = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : second).open(full('A', T0 + i))));
      expect(tries.filter(Boolean)).toHaveLength(1);
      expect(await second.list({ bin: 'A', status: 'open' })).toHaveLength(1);
    });
  });
}
