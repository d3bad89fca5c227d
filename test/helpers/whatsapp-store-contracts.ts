// What every OutboxStore and InboxStore must do, whatever keeps the rows (SQLite today; a worker thread or
// PostgreSQL later): each implementation runs these cases against a fresh, empty store of its own.
import { describe, expect, it } from 'vitest';
import { parseWebhook, recordDeliveries, textMessage, templateMessage, type InboxStore, type InboundDelivery, type OutboxStore, type StatusUpdate } from '../../src/whatsapp/index.js';
import { webhookEnvelope, webhookSeconds } from '../../src/whatsapp/envelope.js';

const A = '31600000001';
const B = '31600000002';
const T0 = 1_780_000_000_000;
const BUSINESS = { wabaId: 'waba', phoneNumberId: 'phone', displayPhoneNumber: '31100000000' };

export function outboxStoreContract(name: string, fresh: () => OutboxStore): void {
  describe(`${name} (OutboxStore contract)`, () => {
    const entry = (to: string, key: string, text = key) => ({ to, key, message: textMessage(to, text) });

    it('adds a key once: the same key again names the first message and adds nothing', () => {
      const store = fresh();
      const first = store.add(entry(A, 'k1'), A, T0);
      expect(first.created).toBe(true);
      expect(store.add(entry(A, 'k1', 'other words'), A, T0 + 1)).toEqual({ id: first.id, created: false });
      expect(store.backlog()).toBe(1);
      expect(store.get(first.id)).toMatchObject({ key: 'k1', to: A, status: 'pending', attempts: 0, createdAt: T0 });
    });

    it('offers the oldest waiting message of each recipient, none of a recipient with one on the wire', () => {
      const store = fresh();
      const a1 = store.add(entry(A, 'a1'), A, T0).id;
      store.add(entry(A, 'a2'), A, T0);
      const b1 = store.add(entry(B, 'b1'), B, T0).id;
      expect(store.heads(10).map((h) => h.id)).toEqual([a1, b1]);
      store.claim(a1, T0 + 5);
      expect(store.heads(10).map((h) => h.id)).toEqual([b1]);
      expect(store.get(a1)).toMatchObject({ status: 'sending', attempts: 1 });
      expect(store.heads(1)).toHaveLength(1);
    });

    it('opens a head to what goes out: the message, then its template once the fallback is in use', () => {
      const store = fresh();
      const template = templateMessage(A, 'bin_dispatch', 'en', [], []);
      const id = store.add({ ...entry(A, 'k', 'free words'), ref: 'J-1', fallback: template }, A, T0).id;
      const [head] = store.heads(10);
      expect(head).toMatchObject({ id, hasFallback: true, usedFallback: false, kind: 'text', attempts: 0 });
      expect(head!.recipient).not.toContain(A);
      expect(head!.open()).toEqual({ message: textMessage(A, 'free words'), key: 'k', ref: 'J-1', to: A });
      store.useFallback(id, 131047, 'outside the window');
      const [again] = store.heads(10);
      expect(again).toMatchObject({ id, usedFallback: true, nextAttemptMs: 0 });
      expect(again!.open().message).toEqual(template);
    });

    it('keeps a retry waiting until its time, and sets interrupted sends back to waiting', () => {
      const store = fresh();
      const id = store.add(entry(A, 'k'), A, T0).id;
      const recipient = store.heads(10)[0]!.recipient;
      store.claim(id, T0);
      store.retryAt(id, T0 + 60_000, 130429, 'throughput');
      expect(store.heads(10)).toMatchObject([{ id, nextAttemptMs: T0 + 60_000, attempts: 1 }]);
      expect(store.get(id)!.error).toEqual({ code: 130429, message: 'throughput' });
      store.claim(id, T0 + 60_000);
      expect(store.recentSends(T0)).toEqual([{ recipient, at: T0 + 60_000 }]);
      expect(store.recoverInterrupted()).toBe(1);
      expect(store.recoverInterrupted()).toBe(0);
      expect(store.heads(10)).toMatchObject([{ id, attempts: 2 }]);
    });

    it('finds a sent message by its wamid and keeps its delivery', () => {
      const store = fresh();
      const id = store.add({ ...entry(A, 'k'), ref: 'R-1' }, A, T0).id;
      store.claim(id, T0);
      store.sent(id, 'wamid.ABC', T0 + 1, false);
      expect(store.backlog()).toBe(0);
      expect(store.byWamid('wamid.other')).toBeUndefined();
      const sent = store.byWamid('wamid.ABC')!;
      expect(sent).toMatchObject({ id, status: 'sent', delivery: null, sentKind: 'text', hasFallback: false, usedFallback: false });
      expect(sent.open()).toEqual({ key: 'k', ref: 'R-1', to: A });
      store.delivery(id, 'read', T0 + 2, null);
      expect(store.byWamid('wamid.ABC')!.delivery).toBe('read');
      expect(store.get(id)).toMatchObject({ status: 'sent', wamid: 'wamid.ABC', sentAt: T0 + 1, delivery: 'read' });
    });

    it('fails a message for good, out of the backlog', () => {
      const store = fresh();
      const id = store.add(entry(A, 'k'), A, T0).id;
      store.failed(id, 131026, 'undeliverable');
      expect(store.backlog()).toBe(0);
      expect(store.heads(10)).toEqual([]);
      expect(store.get(id)).toMatchObject({ status: 'failed', error: { code: 131026, message: 'undeliverable' } });
    });

    it('lists newest first, by recipient and page', () => {
      const store = fresh();
      const ids = ['a1', 'b1', 'a2'].map((k) => store.add(entry(k.startsWith('a') ? A : B, k), k.startsWith('a') ? A : B, T0).id);
      expect(store.list({ limit: 10, before: Number.MAX_SAFE_INTEGER }).map((i) => i.key)).toEqual(['a2', 'b1', 'a1']);
      expect(store.list({ limit: 10, before: Number.MAX_SAFE_INTEGER, to: A }).map((i) => i.key)).toEqual(['a2', 'a1']);
      expect(store.list({ limit: 1, before: ids[2]! }).map((i) => i.key)).toEqual(['b1']);
    });

    it('commits a batch whole or not at all', () => {
      const store = fresh();
      const id = store.add(entry(A, 'k'), A, T0).id;
      expect(() =>
        store.batch(() => {
          store.claim(id, T0);
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(store.get(id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(store.batch(() => (store.claim(id, T0), 'done'))).toBe('done');
      expect(store.get(id)!.status).toBe('sending');
    });
  });
}

const text = (id: string, body: string, atMs = T0) => ({ from: A, id, timestamp: webhookSeconds(atMs), type: 'text', text: { body } });
const status = (wamid: string, s: string, atMs = T0) => ({ id: wamid, status: s, timestamp: webhookSeconds(atMs), recipient_id: B });

function delivery(store: InboxStore, value: Record<string, unknown>): InboundDelivery {
  const rawBody = Buffer.from(JSON.stringify(webhookEnvelope(BUSINESS, value)));
  return { rawBody, bodyTag: store.bodyTag(rawBody), parsed: parseWebhook(JSON.parse(rawBody.toString('utf8'))) };
}

/** A fresh, empty inbox store; `second` (when the store can be shared) another one on the same rows, as another instance's. */
export interface InboxStoreUnderTest {
  store: InboxStore;
  second?: InboxStore;
}

/** `shared`: `make` gives a `second` store on the same rows, and the cases of two instances run too. */
export function inboxStoreContract(name: string, make: () => InboxStoreUnderTest | Promise<InboxStoreUnderTest>, opts: { shared?: boolean } = {}): void {
  const fresh = async (): Promise<InboxStore> => (await make()).store;
  describe(`${name} (InboxStore contract)`, () => {
    it('records a delivery once: the same bytes again, even in the same commit, add nothing', async () => {
      const store = await fresh();
      const d = delivery(store, { messages: [text('m1', 'hello')] });
      expect(store.bodyTag(d.rawBody)).toBe(d.bodyTag);
      expect(await store.hasBody(d.bodyTag)).toBe(false);
      const [first, second] = await recordDeliveries(store, [d, d], T0);
      expect(first!.result).toEqual({ messages: 1, statuses: 0, duplicates: 0, repeated: false });
      expect(first!.fresh.map((m) => m.id)).toEqual(['m1']);
      expect(second).toEqual({ result: { messages: 0, statuses: 0, duplicates: 0, repeated: true }, fresh: [] });
      expect(await store.hasBody(d.bodyTag)).toBe(true);
    });

    it('counts a redelivered message id in other bytes as a duplicate, also twice in one body', async () => {
      const store = await fresh();
      await recordDeliveries(store, [delivery(store, { messages: [text('m1', 'hello')] })], T0);
      const [again] = await recordDeliveries(store, [delivery(store, { messages: [text('m1', 'hello'), text('m2', 'more'), text('m2', 'more')] })], T0 + 1);
      expect(again!.result).toMatchObject({ messages: 1, duplicates: 2, repeated: false });
      expect(again!.fresh.map((m) => m.id)).toEqual(['m2']);
      expect(await store.backlog()).toEqual({ pending: 2, failed: 0 });
    });

    it('records a long body over several commits, recognising its bytes only once the last is in', async () => {
      const store = await fresh();
      const d = delivery(store, { messages: [text('l1', 'one'), text('l2', 'two'), text('l3', 'three')] });
      const [open] = await store.record([{ rawBody: d.rawBody, bodyTag: d.bodyTag, items: { messages: d.parsed.messages.slice(0, 2), statuses: [] }, close: false }], T0);
      expect(open!.deliveryId).not.toBeNull();
      expect(await store.hasBody(d.bodyTag)).toBe(false);
      const [rest] = await store.record([{ deliveryId: open!.deliveryId!, rawBody: d.rawBody, bodyTag: d.bodyTag, items: { messages: d.parsed.messages.slice(2), statuses: [] }, close: true }], T0);
      expect(rest).toEqual({ deliveryId: open!.deliveryId, recorded: { fresh: [d.parsed.messages[2]], statuses: 0, duplicates: 0 } });
      expect(await store.hasBody(d.bodyTag)).toBe(true);
      expect(await store.backlog()).toEqual({ pending: 3, failed: 0 });
    });

    it('hands out messages in arrival order until they are processed or set aside', async () => {
      const store = await fresh();
      await recordDeliveries(store, [delivery(store, { messages: [text('m1', 'one'), text('m2', 'two'), text('m3', 'three')] })], T0);
      const first = (await store.nextMessage())!;
      expect(first.open()).toMatchObject({ id: 'm1', from: A, text: 'one' });
      expect(first.attempts).toBe(0);
      expect(first.messageTag).not.toContain('m1');
      expect(first.senderTag).not.toContain(A);
      await first.attempted('handler failed');
      await expect(first.processed(T0)).rejects.toThrow(/ended already/);
      const retry = (await store.nextMessage())!;
      expect(retry).toMatchObject({ seq: first.seq, attempts: 1 });
      await retry.processed(T0 + 1);
      const second = (await store.nextMessage())!;
      expect(second.open().id).toBe('m2');
      await second.setAside('poison', T0 + 2);
      const third = (await store.nextMessage())!;
      expect(third.open().id).toBe('m3');
      await third.processed(T0 + 3);
      expect(await store.nextMessage()).toBeUndefined();
      expect(await store.backlog()).toEqual({ pending: 0, failed: 1 });
    });

    it('while a message is claimed, hands out the oldest of another sender, none of the same sender', async () => {
      const store = await fresh();
      await recordDeliveries(store, [delivery(store, { messages: [text('a1', 'one'), text('a2', 'two'), { ...text('b1', 'other'), from: B }] })], T0);
      const a1 = (await store.nextMessage())!;
      expect(a1.open().id).toBe('a1');
      const b1 = (await store.nextMessage())!;
      expect(b1.open().id).toBe('b1');
      expect(await store.nextMessage()).toBeUndefined();
      await a1.processed(T0);
      const a2 = (await store.nextMessage())!;
      expect(a2.open().id).toBe('a2');
      await Promise.all([a2.processed(T0), b1.processed(T0)]);
      expect(await store.backlog()).toEqual({ pending: 0, failed: 0 });
    });

    it('applies statuses once, in arrival order, in batches', async () => {
      const store = await fresh();
      await recordDeliveries(store, [delivery(store, { statuses: [status('w1', 'sent'), status('w1', 'delivered'), status('w2', 'sent'), status('w2', 'sent')] })], T0);
      const seen: StatusUpdate[] = [];
      expect(await store.takeStatuses(2, (open) => seen.push(open()))).toBe(2);
      expect(await store.takeStatuses(2, (open) => seen.push(open()))).toBe(1);
      expect(await store.takeStatuses(2, (open) => seen.push(open()))).toBe(0);
      expect(seen.map((s) => [s.wamid, s.status])).toEqual([
        ['w1', 'sent'],
        ['w1', 'delivered'],
        ['w2', 'sent'],
      ]);
      // the recipient of a status is kept as a pseudonym, never the number
      expect(seen[0]!.recipient).not.toContain(B);
    });

    it('prunes finished rows and keeps waiting ones', async () => {
      const store = await fresh();
      await recordDeliveries(store, [delivery(store, { messages: [text('m1', 'done'), text('m2', 'waiting')] })], T0);
      await (await store.nextMessage())!.processed(T0);
      expect(await store.prune(T0 + 1, T0 + 1)).toMatchObject({ messages: 1, deliveries: 0 });
      expect(await store.backlog()).toEqual({ pending: 1, failed: 0 });
      const left = (await store.nextMessage())!;
      expect(left.open().id).toBe('m2');
      await left.processed(T0 + 2);
    });

    if (opts.shared) sharedCases(make);
  });
}

function sharedCases(make: () => InboxStoreUnderTest | Promise<InboxStoreUnderTest>): void {
  it('shared by two instances: the same bodies recorded by both at once add each message and status once, and each is handled once', async () => {
    const { store, second } = await make();
    if (!second) throw new Error('a shared store under test gives a second store');
    const bodies = Array.from({ length: 6 }, (_, i) =>
      delivery(store, {
        messages: [text(`s${i}`, `same ${i}`), { ...text(`o${i}`, `other ${i}`), from: `3160000010${i}` }],
        statuses: [status(`w${i}`, 'delivered')],
      }),
    );
    const [one, two] = await Promise.all([recordDeliveries(store, bodies, T0), recordDeliveries(second, bodies, T0)]);
    const results = [...one!, ...two!].map((r) => r.result);
    expect(results.reduce((n, r) => n + r.messages, 0)).toBe(12);
    expect(results.reduce((n, r) => n + r.statuses, 0)).toBe(6);
    expect(results.filter((r) => r.repeated)).toHaveLength(6);
    // both take messages at once until none is left: each one handed out once, a sender's in order
    const handled: string[] = [];
    const drain = async (s: InboxStore): Promise<void> => {
      for (let next = await s.nextMessage(); next; next = await s.nextMessage()) {
        handled.push(next.open().id);
        await next.processed(T0);
      }
    };
    await Promise.all([drain(store), drain(second), drain(store), drain(second)]);
    expect([...handled].sort()).toEqual([...bodies.keys()].flatMap((i) => [`o${i}`, `s${i}`]).sort());
    const fromA = handled.filter((id) => id.startsWith('s'));
    expect(fromA).toEqual(bodies.map((_, i) => `s${i}`));
    const applied: string[] = [];
    await Promise.all([store, second, store, second].map((s) => s.takeStatuses(2, (open) => void applied.push(open().wamid))));
    await Promise.all([store.takeStatuses(100, (open) => void applied.push(open().wamid)), second.takeStatuses(100, (open) => void applied.push(open().wamid))]);
    expect(applied).toEqual(bodies.map((_, i) => `w${i}`));
  });
}
