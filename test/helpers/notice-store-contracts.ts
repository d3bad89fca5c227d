// What every NoticeStore and Contacts must do, whatever keeps the rows (SQLite, PostgreSQL): each implementation
// runs these cases against a fresh, empty store of its own. With `second` (a store of another instance on the same
// database, through its own connections), the cases two instances share run too.
import { describe, expect, it } from 'vitest';
import type { NewSubscription, NoticeStore } from '../../src/notices/index.js';
import { SERVICE_WINDOW_MS, type Contacts } from '../../src/whatsapp/index.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const T0 = 1_780_000_000_000;
const DAY = 24 * 3600_000;
const phone = (n: number) => `3165000${String(n).padStart(4, '0')}`;
const who = (n: number) => sealer.pseudonym(phone(n));

const subscription = (n: number, zone = 'centrum', lang = 'en', at = T0): NewSubscription => ({
  pseudonym: who(n),
  contact: phone(n),
  zone,
  lang,
  lat: 52.37,
  lon: 4.89,
  consentVersion: 'notices-v1',
  consentText: 'the consent',
  inboundId: `wamid.sub.${n}.${zone}.${at}`,
  at,
});

const notice = (over: { kind?: 'service' | 'emergency'; sendAt?: number; status?: 'scheduled' } = {}) => ({
  kind: over.kind ?? ('emergency' as const),
  title: 'Storm',
  text: { en: 'Bins stay in.', nl: 'Containers blijven binnen.' },
  target: { zones: ['centrum'] },
  sendAt: over.sendAt ?? T0,
  status: 'scheduled' as const,
  targeted: 0,
  createdAt: T0,
});

export interface NoticeStores {
  store: NoticeStore;
  /** the same database through another instance's connections (PostgreSQL) */
  second?: NoticeStore;
}

export function noticeStoreContract(name: string, fresh: () => NoticeStores | Promise<NoticeStores>, opts: { shared?: boolean } = {}): void {
  describe(`${name} (NoticeStore contract)`, () => {
    it('subscribes a resident to a zone once, refreshing the number and language, and keeps the consent first given', async () => {
      const { store } = await fresh();
      expect(await store.subscribe(subscription(1))).toBe(true);
      expect(await store.subscribe(subscription(2, 'west', 'nl'))).toBe(true);
      expect(await store.subscribe({ ...subscription(1, 'centrum', 'nl', T0 + 5), consentText: 'another text' })).toBe(false);
      expect(await store.subscribe(subscription(1, 'west'))).toBe(true);
      expect(await store.counts()).toEqual([
        { zone: 'centrum', lang: 'nl', subscribers: 1 },
        { zone: 'west', lang: 'en', subscribers: 1 },
        { zone: 'west', lang: 'nl', subscribers: 1 },
      ]);
      const active = await store.active();
      expect(active.map((s) => [s.pseudonym, s.zone, s.lang])).toEqual([
        [who(1), 'centrum', 'nl'],
        [who(2), 'west', 'nl'],
        [who(1), 'west', 'en'],
      ]);
      // the number only sealed; opened it is the resident's
      expect(active[0]!.contactSealed.toString('latin1')).not.toContain(phone(1));
      expect(sealer.openText(active[0]!.contactSealed)).toBe(phone(1));
      const consents = await store.consents();
      expect(consents).toHaveLength(3);
      expect(consents[0]).toMatchObject({ pseudonym: who(1), zone: 'centrum', consentVersion: 'notices-v1', consentText: 'the consent', createdAt: T0, endedAt: null, endReason: null });
      expect(consents[0]!.inbound).not.toContain('wamid');
    });

    it('ends every subscription of a resident, forgets a pending pin, and marks the notices sent in the last 24 h', async () => {
      const { store } = await fresh();
      await store.subscribe(subscription(1));
      await store.subscribe(subscription(1, 'west'));
      await store.subscribe(subscription(2));
      const id = await store.createNotice(notice());
      await store.startSending(id, await store.active(), T0);
      await store.recordSent(id, who(1), T0 + 1000);
      await store.askedForPin(who(1), 'en', T0);
      expect(await store.unsubscribe(who(1), 'stop', T0 + 2000)).toEqual([id]);
      // once: a second STOP finds nothing more to mark
      expect(await store.unsubscribe(who(1), 'stop', T0 + 3000)).toEqual([]);
      expect(await store.takePendingPin(who(1), T0)).toBeNull();
      expect((await store.active()).map((s) => s.pseudonym)).toEqual([who(2)]);
      expect((await store.consents()).filter((c) => c.pseudonym === who(1)).map((c) => [c.endedAt, c.endReason])).toEqual([
        [T0 + 2000, 'stop'],
        [T0 + 2000, 'stop'],
      ]);
      expect((await store.figures(id, 3)).unsubscribed).toBe(1);
      // subscribing again after ending is a new subscription
      expect(await store.subscribe(subscription(1, 'centrum', 'en', T0 + 4000))).toBe(true);
    });

    it('takes a pending pin once, and only when it was asked for since the given time', async () => {
      const { store } = await fresh();
      await store.askedForPin(who(1), 'nl', T0);
      await store.askedForPin(who(1), 'en', T0 + 10);
      expect(await store.takePendingPin(who(1), T0)).toBe('en');
      expect(await store.takePendingPin(who(1), T0)).toBeNull();
      await store.askedForPin(who(2), 'en', T0);
      expect(await store.takePendingPin(who(2), T0 + 1)).toBeNull();
      expect(await store.takePendingPin(who(2), 0)).toBeNull();
    });

    it('keeps notices: newest first by pages, by status, moved only from the statuses given', async () => {
      const { store } = await fresh();
      const a = await store.createNotice(notice());
      const b = await store.createNotice(notice({ kind: 'service', sendAt: T0 + 10 }));
      const c = await store.createNotice(notice({ sendAt: T0 + 5 }));
      expect(await store.get(a)).toMatchObject({ id: a, kind: 'emergency', title: 'Storm', text: { en: 'Bins stay in.' }, target: { zones: ['centrum'] }, sendAt: T0, status: 'scheduled', startedAt: null });
      expect(await store.get(c + 100)).toBeNull();
      expect((await store.list(2)).map((n) => n.id)).toEqual([c, b]);
      expect((await store.list(2, b)).map((n) => n.id)).toEqual([a]);
      expect((await store.withStatus('scheduled')).map((n) => n.id)).toEqual([a, c, b]);
      expect(await store.setStatus(b, 'cancelled', T0 + 1, ['scheduled', 'sending'])).toBe(true);
      expect(await store.setStatus(b, 'sent', T0 + 2, ['sending'])).toBe(false);
      expect(await store.get(b)).toMatchObject({ status: 'cancelled', cancelledAt: T0 + 1, finishedAt: null });
      expect((await store.lock(a))?.id).toBe(a);
    });

    it('snapshots the recipients once with the move to sending, and follows each to its outcome', async () => {
      const { store } = await fresh();
      for (let i = 1; i <= 4; i++) await store.subscribe(subscription(i, 'centrum', i === 2 ? 'nl' : 'en'));
      const id = await store.createNotice(notice());
      const everyone = await store.active();
      await store.startSending(id, everyone, T0);
      // a second start (another look, another instance) changes nothing
      await store.startSending(id, everyone.slice(0, 1), T0 + 1);
      expect(await store.get(id)).toMatchObject({ status: 'sending', startedAt: T0, targeted: 4 });
      const batch = await store.unqueued(id, 10);
      expect(batch.map((r) => r.contact).sort()).toEqual([phone(1), phone(2), phone(3), phone(4)]);
      expect(batch.find((r) => r.contact === phone(2))!.lang).toBe('nl');
      expect(await store.unqueued(id, 2)).toHaveLength(2);
      await store.markQueued(id, who(1), T0 + 10, 101);
      await store.markQueued(id, who(2), T0 + 10, 102);
      await store.markQueued(id, who(3), T0 + 10, 103);
      await store.markSkipped(id, who(4), 'capped');
      expect(await store.unqueued(id, 10)).toEqual([]);
      expect(await store.inFlight(id, 0)).toEqual({ outboxIds: [101, 102, 103], untracked: 0 });
      expect(await store.waiting(id)).toBe(3);
      await store.recordSent(id, who(1), T0 + 20);
      await store.recordSent(id, who(2), T0 + 21);
      await store.recordDelivery(id, who(3), 'failed', 131026);
      // statuses out of order: `read` stays read
      await store.recordDelivery(id, who(1), 'read', null);
      await store.recordDelivery(id, who(1), 'delivered', null);
      await store.recordDelivery(id, who(2), 'delivered', null);
      expect((await store.inFlight(id, 0)).outboxIds).toEqual([]);
      expect(await store.waiting(id)).toBe(0);
      // a reply within 24 h counts once
      expect(await store.recordReply(who(1), T0 + 1000)).toEqual([id]);
      expect(await store.recordReply(who(1), T0 + 2000)).toEqual([]);
      expect(await store.recordReply(who(2), T0 + 21 + DAY + 1)).toEqual([]);
      expect(await store.figures(id, 4)).toEqual({
        targeted: 4,
        queued: 3,
        sent: 2,
        delivered: 2,
        read: 1,
        failed: 1,
        failed_by_code: { '131026': 1 },
        replied: 1,
        unsubscribed: 0,
        response_rate: 0.5,
        capped: 1,
      });
    });

    it("counts a resident's service notices of the last 7 days, other than the one asked about", async () => {
      const { store } = await fresh();
      await store.subscribe(subscription(1));
      const ids: number[] = [];
      for (const kind of ['service', 'service', 'emergency', 'service'] as const) {
        const id = await store.createNotice(notice({ kind }));
        await store.startSending(id, await store.active(), T0);
        ids.push(id);
      }
      await store.markQueued(ids[0]!, who(1), T0 - 8 * DAY, 1);
      await store.markQueued(ids[1]!, who(1), T0 - DAY, 2);
      await store.markQueued(ids[2]!, who(1), T0 - DAY, 3);
      expect(await store.serviceWeek(who(1), T0, ids[3]!)).toBe(1);
      expect(await store.serviceWeek(who(1), T0, ids[1]!)).toBe(0);
    });

    it('counts a message queued before outbox ids were kept as in flight only while it is recent', async () => {
      const { store } = await fresh();
      await store.subscribe(subscription(1));
      await store.subscribe(subscription(2));
      const id = await store.createNotice(notice());
      await store.startSending(id, await store.active(), T0);
      await store.markQueued(id, who(1), T0, 7);
      await store.markSkipped(id, who(2), 'unaddressable');
      expect(await store.inFlight(id, T0 - 1)).toEqual({ outboxIds: [7], untracked: 0 });
      expect(await store.waiting(id)).toBe(1);
    });

    if (!opts.shared) return;
    it('of two instances subscribing one resident at once, makes one subscription; one of them takes a pin', async () => {
      const { store, second } = await fresh();
      if (!second) throw new Error('a shared store comes with a second instance');
      const made = await Promise.all([store.subscribe(subscription(1)), second.subscribe(subscription(1, 'centrum', 'nl', T0 + 1))]);
      expect(made.filter(Boolean)).toHaveLength(1);
      expect((await second.active()).map((s) => s.pseudonym)).toEqual([who(1)]);
      await store.askedForPin(who(2), 'en', T0);
      const taken = await Promise.all([store.takePendingPin(who(2), T0), second.takePendingPin(who(2), T0)]);
      expect(taken.filter((l) => l !== null)).toEqual(['en']);
    });
  });
}

export interface ContactsPair {
  contacts: Contacts;
  /** the same contacts through another instance's connections (PostgreSQL) */
  second?: Contacts;
}

export function contactsContract(name: string, fresh: () => ContactsPair | Promise<ContactsPair>, opts: { shared?: boolean } = {}): void {
  describe(`${name} (Contacts contract)`, () => {
    it('knows when a user last wrote; an older, redelivered message never moves it back', async () => {
      const { contacts } = await fresh();
      expect(await contacts.lastInbound(phone(1))).toBeNull();
      await contacts.touch(phone(1), T0);
      await contacts.touch(phone(1), T0 - 5000);
      expect(await contacts.lastInbound(phone(1))).toBe(T0);
      await contacts.touch(phone(1), T0 + 1000.4);
      expect(await contacts.lastInbound(phone(1))).toBe(T0 + 1000);
      expect(await contacts.lastInbound(phone(2))).toBeNull();
    });

    it('keeps a user in the window for 24 hours after their last message, not a moment more', async () => {
      const { contacts } = await fresh();
      expect(await contacts.inWindow(phone(1), T0)).toBe(false);
      await contacts.touch(phone(1), T0);
      expect(await contacts.inWindow(phone(1), T0)).toBe(true);
      expect(await contacts.inWindow(phone(1), T0 + SERVICE_WINDOW_MS - 1)).toBe(true);
      expect(await contacts.inWindow(phone(1), T0 + SERVICE_WINDOW_MS)).toBe(false);
    });

    if (!opts.shared) return;
    it('puts a user who wrote to one instance in the window at the other', async () => {
      const { contacts, second } = await fresh();
      if (!second) throw new Error('a shared store comes with a second instance');
      await contacts.touch(phone(1), T0);
      expect(await second.inWindow(phone(1), T0 + 1000)).toBe(true);
      expect(await second.inWindow(phone(2), T0 + 1000)).toBe(false);
    });
  });
}
