// What every ReportStore and ConversationStore must do, whatever keeps the rows (SQLite, PostgreSQL): each
// implementation runs these cases against fresh, empty stores of its own.
import { describe, expect, it } from 'vitest';
import type { Conversation, ConversationStore, NewReport, ReportStore } from '../../src/reports/index.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const T0 = 1_780_000_000_000;
const DAY = 86_400_000;
const base: NewReport = { bin_id: 'UTR-0001', method: 'code', reporter: 'p_a', text: 'vol', lat: 52.09, lon: 5.12, photo: null, source: 'whatsapp', at: T0 };

export function reportStoreContract(name: string, fresh: () => Promise<ReportStore>): void {
  describe(`${name} (ReportStore contract)`, () => {
    it('files a report under a fresh reference, found by id, by reference in any case and as the open one of its bin', async () => {
      const store = await fresh();
      const r = await store.create({ ...base, photo: 'p_a-1.jpg' });
      expect(r).toMatchObject({ bin_id: 'UTR-0001', status: 'open', reporters: 1, service_code: 'overflowing-bin', created_at: T0, updated_at: T0, closed_at: null, lat: 52.09, photo: 'p_a-1.jpg' });
      expect(r.reference).toMatch(/^R-[0-9A-Z]{4}$/);
      expect(typeof r.id).toBe('number');
      const other = await store.create({ ...base, at: T0 + 1 });
      expect(other.reference).not.toBe(r.reference);
      expect(await store.get(r.id)).toEqual(r);
      expect(await store.byReference(r.reference.toLowerCase())).toEqual(r);
      expect(await store.byReference('R-NONE')).toBeUndefined();
      expect((await store.openOfBin('UTR-0001'))?.id).toBe(r.id);
      expect(await store.openOfBin('UTR-0002')).toBeUndefined();
    });

    it('links a resident once, counts the reporters and wipes a number no longer needed', async () => {
      const store = await fresh();
      const r = await store.create(base);
      expect(await store.addReporter(r.id, 'p_a', sealer.seal('31620000001'), 'nl', T0)).toBe(true);
      expect(await store.addReporter(r.id, 'p_a', null, 'nl', T0 + 5)).toBe(false);
      expect(await store.addReporter(r.id, 'p_b', sealer.seal('31620000002'), 'en', T0 + 10)).toBe(true);
      expect(await store.get(r.id)).toMatchObject({ reporters: 2, updated_at: T0 + 10 });
      const reporters = await store.reportersOf(r.id);
      expect(reporters.map((x) => [x.reporter, x.lang, x.contact && sealer.openText(x.contact)]).sort()).toEqual([
        ['p_a', 'nl', '31620000001'],
        ['p_b', 'en', '31620000002'],
      ]);
      await store.forgetContact(r.id, 'p_a');
      expect((await store.reportersOf(r.id)).find((x) => x.reporter === 'p_a')?.contact).toBeNull();
    });

    it('dispatches and closes a report with the zone and crew that emptied it; a closed one is no longer the open one', async () => {
      const store = await fresh();
      const r = await store.create(base);
      await store.setStatus(r.id, 'dispatched', T0 + 100);
      expect(await store.get(r.id)).toMatchObject({ status: 'dispatched', updated_at: T0 + 100, closed_at: null });
      await store.close(r.id, T0 + 200, { zone: 'centrum', crew: 'crew-1' });
      expect(await store.get(r.id)).toMatchObject({ status: 'closed', closed_at: T0 + 200, closed_zone: 'centrum', closed_crew: 'crew-1' });
      expect(await store.openOfBin('UTR-0001')).toBeUndefined();
      await store.setStatus(r.id, 'closed', T0 + 300);
      expect((await store.get(r.id))?.closed_at).toBe(T0 + 300);
    });

    it('keeps the first answer of a resident who was asked, its reason after a 👎, and counts them per zone and crew', async () => {
      const store = await fresh();
      const r = await store.create(base);
      const s = await store.create({ ...base, bin_id: 'UTR-0002' });
      for (const [report, who] of [[r, 'p_a'], [r, 'p_b'], [r, 'p_c'], [s, 'p_d']] as const) await store.addReporter(report.id, who, null, 'nl', T0);
      expect(await store.answer(r.id, 'p_a', 'up', T0 + 1)).toBe(false);
      expect(await store.mayAnswer(r.reference, 'p_a')).toBe(false);
      await store.asked(r.id, 'p_a', T0 + 1);
      await store.asked(r.id, 'p_b', T0 + 1);
      await store.asked(r.id, 'p_c', T0 + 1);
      await store.asked(s.id, 'p_d', T0 + 1);
      expect(await store.mayAnswer(r.reference.toLowerCase(), 'p_a')).toBe(true);
      expect(await store.answer(r.id, 'p_a', 'up', T0 + 2)).toBe(true);
      expect(await store.answer(r.id, 'p_a', 'down', T0 + 3)).toBe(false);
      expect(await store.mayAnswer(r.reference, 'p_a')).toBe(false);
      expect(await store.reason(r.id, 'p_a', 'no reason after a 👍')).toBe(false);
      expect(await store.answer(r.id, 'p_b', 'down', T0 + 4)).toBe(true);
      expect(await store.reason(r.id, 'p_b', 'the lid was left open')).toBe(true);
      expect(await store.reason(r.id, 'p_b', 'a second reason')).toBe(false);
      expect(await store.feedbackOf(r.id)).toEqual([
        { answer: 'up', at: T0 + 2, reason: null },
        { answer: 'down', at: T0 + 4, reason: 'the lid was left open' },
      ]);
      await store.close(r.id, T0 + 10, { zone: 'centrum', crew: 'crew-1' });
      await store.close(s.id, T0 + 20, { zone: null, crew: null });
      expect(await store.satisfaction()).toEqual([
        { zone: null, crew: null, asked: 1, up: 0, down: 0 },
        { zone: 'centrum', crew: 'crew-1', asked: 3, up: 1, down: 1 },
      ]);
      expect(await store.satisfaction(T0 + 15)).toEqual([{ zone: null, crew: null, asked: 1, up: 0, down: 0 }]);
      expect(await store.satisfaction(T0, T0 + 15)).toEqual([{ zone: 'centrum', crew: 'crew-1', asked: 3, up: 1, down: 1 }]);
    });

    it('lists newest first, by status, bin, channel and time, a page after a [created_at, id] key', async () => {
      const store = await fresh();
      const a = await store.create({ ...base, at: T0 });
      const b = await store.create({ ...base, bin_id: 'UTR-0002', source: 'open311', service_code: 'litter', at: T0 + 10 });
      const c = await store.create({ ...base, bin_id: 'UTR-0003', at: T0 + 10 });
      await store.setStatus(a.id, 'dispatched', T0 + 20);
      const refs = (rows: { reference: string }[]) => rows.map((r) => r.reference);
      expect(refs(await store.list())).toEqual([c, b, a].map((r) => r.reference));
      expect(refs(await store.list({ status: 'dispatched' }))).toEqual([a.reference]);
      expect(refs(await store.list({ bin: 'UTR-0002' }))).toEqual([b.reference]);
      expect(refs(await store.list({ service_code: 'litter' }))).toEqual([b.reference]);
      expect(refs(await store.list({ since: T0 + 1 }))).toEqual([c.reference, b.reference]);
      expect(refs(await store.list({ until: T0 + 10 }))).toEqual([a.reference]);
      expect(refs(await store.list({ limit: 1 }))).toEqual([c.reference]);
      expect(refs(await store.list({ after: [c.created_at, c.id] }))).toEqual([b.reference, a.reference]);
    });

    it('purges reports created before the cutoff with their residents, and names their photos', async () => {
      const store = await fresh();
      const old = await store.create({ ...base, photo: 'old.jpg', at: T0 - 200 * DAY });
      await store.create({ ...base, photo: null, at: T0 - 190 * DAY });
      const kept = await store.create({ ...base, photo: 'kept.jpg', at: T0 - DAY });
      await store.addReporter(old.id, 'p_a', sealer.seal('31620000001'), 'nl', T0 - 200 * DAY);
      expect(await store.purge(T0 - 180 * DAY)).toEqual({ deleted: 2, photos: ['old.jpg'] });
      expect(await store.get(old.id)).toBeUndefined();
      expect(await store.reportersOf(old.id)).toEqual([]);
      expect(await store.get(kept.id)).toBeDefined();
      expect(await store.purge(T0 - 180 * DAY)).toEqual({ deleted: 0, photos: [] });
    });
  });
}

export function conversationStoreContract(name: string, fresh: () => Promise<{ store: ConversationStore; raw: (pseudonym: string) => Promise<Buffer | undefined> }>): void {
  describe(`${name} (ConversationStore contract)`, () => {
    const conv = (over: Partial<Conversation> = {}): Conversation => ({ contact: '31620000009', lang: 'nl', optedOut: false, awaiting: null, candidates: [], pending: {}, updatedAt: T0, ...over });

    it('keeps a conversation sealed whole, by pseudonym; the last put stands', async () => {
      const { store, raw } = await fresh();
      expect(await store.get('p_a')).toBeUndefined();
      await store.put('p_a', conv({ pending: { text: 'de bak is vol' } }));
      await store.put('p_a', conv({ awaiting: 'location', pending: { text: 'de bak is vol', lat: 52.1 } }));
      expect(await store.get('p_a')).toEqual(conv({ awaiting: 'location', pending: { text: 'de bak is vol', lat: 52.1 } }));
      const row = (await raw('p_a'))!;
      expect(row.toString('latin1')).not.toContain('31620000009');
      expect(row.toString('latin1')).not.toContain('vol');
    });

    it('holds a resident with no conversation yet as none, and one with a conversation as it stands', async () => {
      const { store } = await fresh();
      expect(await store.hold('p_new')).toBeUndefined();
      expect(await store.get('p_new')).toBeUndefined();
      await store.put('p_new', conv({ lang: 'en' }));
      expect(await store.hold('p_new')).toEqual(conv({ lang: 'en' }));
    });

    it('forgets idle conversations and their numbers, keeps an opt-out without the number, leaves an active one', async () => {
      const { store } = await fresh();
      await store.put('p_idle', conv({ updatedAt: T0 - 2 * DAY }));
      await store.put('p_stop', conv({ contact: '31620000008', optedOut: true, pending: { text: 'x' }, updatedAt: T0 - 2 * DAY }));
      await store.put('p_active', conv({ contact: '31620000007', updatedAt: T0 - 3_600_000 }));
      expect(await store.purgeIdle(T0 - DAY)).toBe(2);
      expect(await store.get('p_idle')).toBeUndefined();
      expect(await store.get('p_stop')).toEqual(conv({ contact: '', optedOut: true, updatedAt: T0 - 2 * DAY }));
      expect((await store.get('p_active'))?.contact).toBe('31620000007');
    });
  });
}
