// What every DispatchStore must do, whatever keeps the rows (SQLite, PostgreSQL): each implementation runs these
// cases against a fresh, empty store of its own. `work` gives a transaction where the store needs one (its locks).
import { describe, expect, it } from 'vitest';
import type { Dispatch, DispatchStore, NewJob } from '../../src/dispatch/index.js';

export function job(binIds: string[], status: Dispatch['status'], over: Partial<NewJob> = {}): NewJob {
  return { zone: 'z', crew_id: null, status, urgent: false, bin_ids: binIds, created_at: 1, sent_at: null, accepted_at: null, done_at: null, escalated_at: null, cancelled_at: null, error: null, map_url: '', ...over };
}

export interface DispatchStoreUnderTest {
  store: DispatchStore;
  /** runs `fn` with the store bound to one transaction */
  tx<R>(fn: (store: DispatchStore) => Promise<R>): Promise<R>;
}

export function dispatchStoreContract(name: string, fresh: () => Promise<DispatchStoreUnderTest>): void {
  describe(`${name} (DispatchStore contract)`, () => {
    it('openJobBins lists the uncollected bins of open jobs only, as inOpenJob answers bin by bin', async () => {
      const { store } = await fresh();
      await store.insert(job(['B-1', 'B-2'], 'sent', { id: 'J-OPEN1' }));
      await store.insert(job(['B-3'], 'done', { id: 'J-DONE1' }));
      await store.insert(job(['B-4'], 'cancelled', { id: 'J-CANC1' }));
      await store.insert(job(['B-5', 'B-1'], 'accepted', { id: 'J-ACC01' }));
      expect(await store.markCollected('B-2', 5)).toEqual([]);
      expect([...(await store.openJobBins())].sort()).toEqual(['B-1', 'B-5']);
      const open = await store.openJobBins();
      for (const id of ['B-1', 'B-2', 'B-3', 'B-4', 'B-5']) expect(await store.inOpenJob(id)).toBe(open.has(id));
    });

    it('draws a short id per job, keeps its stops in route order and its reasons', async () => {
      const { store } = await fresh();
      const id = await store.insert(job(['B-2', 'B-1'], 'pending', { stops: [{ bin_id: 'B-1', reason: 'alert', cause: 'threshold', hours_to_full: 1.5 }] }));
      expect(id).toMatch(/^J-[0-9A-Z]{5}$/);
      const got = await store.get(id);
      expect(got).toMatchObject({ id, status: 'pending', urgent: false, bin_ids: ['B-2', 'B-1'], created_at: 1, crew_id: null });
      expect(got!.stops).toEqual([
        { bin_id: 'B-2', reason: null, cause: null, hours_to_full: null },
        { bin_id: 'B-1', reason: 'alert', cause: 'threshold', hours_to_full: 1.5 },
      ]);
      const ids = new Set([id]);
      for (let i = 0; i < 20; i++) ids.add(await store.insert(job([`X-${i}`], 'done')));
      expect(ids.size).toBe(21);
      // a given id that is taken is an error, not a silent second job
      await expect(store.insert(job(['B-9'], 'pending', { id }))).rejects.toThrow();
    });

    it('queues a bin once; an urgent request upgrades a waiting one, a later ordinary one does not downgrade it', async () => {
      const { store } = await fresh();
      await store.enqueue('B-2', 'z', 20, false, 'full', 'threshold');
      await store.enqueue('B-1', 'z', 10, false, 'full');
      await store.enqueue('B-2', 'z', 30, true, 'fire!', 'fire');
      await store.enqueue('B-2', 'z', 40, false, 'full again', 'threshold');
      expect(await store.queue()).toEqual([
        { binId: 'B-1', zone: 'z', queuedAt: 10, urgent: false, reason: 'full', cause: null },
        { binId: 'B-2', zone: 'z', queuedAt: 20, urgent: true, reason: 'fire!', cause: 'fire' },
      ]);
      await store.dequeue(['B-1', 'B-3']);
      expect((await store.queue()).map((q) => q.binId)).toEqual(['B-2']);
      await store.dequeue([]);
      expect(await store.queue()).toHaveLength(1);
    });

    it('finishes a job when its last bin is collected, once', async () => {
      const { store, tx } = await fresh();
      const id = await store.insert(job(['B-1', 'B-2'], 'sent'));
      expect(await tx((s) => s.markCollected('B-1', 5))).toEqual([]);
      expect(await tx((s) => s.markCollected('B-2', 6))).toEqual([id]);
      // collected again (or the job closed meanwhile): nothing more to finish
      expect(await tx((s) => s.markCollected('B-2', 7))).toEqual([]);
      await store.update(id, { status: 'done', done_at: 6 });
      expect(await store.inOpenJob('B-1')).toBe(false);
    });

    it('updates, lists with filters and pages, counts, and finds what is due', async () => {
      const { store, tx } = await fresh();
      const a = await store.insert(job(['B-1'], 'sent', { zone: 'centrum', crew_id: 'day', created_at: 100, sent_at: 100 }));
      const b = await store.insert(job(['B-2'], 'pending', { zone: 'oost', created_at: 200 }));
      const c = await store.insert(job(['B-3', 'B-1'], 'accepted', { zone: 'centrum', crew_id: 'day', created_at: 300 }));
      expect((await store.list()).map((d) => d.id)).toEqual([c, b, a]);
      expect((await store.list({ zone: 'centrum' })).map((d) => d.id)).toEqual([c, a]);
      expect((await store.list({ bin: 'B-1' })).map((d) => d.id)).toEqual([c, a]);
      expect((await store.list({ status: 'pending' })).map((d) => d.id)).toEqual([b]);
      expect((await store.list({ limit: 1, after: [300, c] })).map((d) => d.id)).toEqual([b]);
      expect((await store.latestOfCrew('day', ['sent', 'accepted']))?.id).toBe(c);
      expect((await store.latestOfCrew('day', ['sent']))?.id).toBe(a);
      expect((await store.unaccepted(150)).map((d) => d.id)).toEqual([a]);
      expect(await store.unaccepted(99)).toEqual([]);
      expect((await store.unassigned()).map((d) => d.id)).toEqual([b]);
      await store.update(b, { crew_id: 'night', error: '131047 re-engagement' });
      expect(await store.get(b)).toMatchObject({ crew_id: 'night', error: '131047 re-engagement', status: 'pending' });
      expect(await store.unassigned()).toEqual([]);
      expect((await store.countByStatus()).sort((x, y) => x.status.localeCompare(y.status))).toEqual([
        { status: 'accepted', n: 1 },
        { status: 'pending', n: 1 },
        { status: 'sent', n: 1 },
      ]);
      expect(await tx(async (s) => (await s.lock(a))?.id)).toBe(a);
      expect(await tx((s) => s.lock('J-NONE0'))).toBeUndefined();
      await tx((s) => s.lockZone('centrum'));
      expect(await store.get('J-NONE0')).toBeUndefined();
    });
  });
}
