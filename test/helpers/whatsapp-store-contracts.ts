// What every OutboxStore and InboxStore must do, whatever keeps the rows (SQLite today; a worker thread or
// PostgreSQL later): each implementation runs these cases against a fresh, empty store of its own.
import { describe, expect, it } from 'vitest';
import { parseWebhook, recordDeliveries, textMessage, templateMessage, type InboxStore, type InboundDelivery, type OutboxStore, type StatusUpdate } from '../../src/whatsapp/index.js';
import { webhookEnvelope, webhookSeconds } from '../../src/whatsapp/envelope.js';

const A = '31600000001';
const B = '31600000002';
const T0 = 1_780_000_000_000;
const BUSINESS = { wabaId: 'waba', phoneNumberId: 'phone', displayPhoneNumber: '31100000000' };

export function outboxStoreContract(name: string, fresh: () => OutboxStore | Promise<OutboxStore>): void {
  describe(`${name} (OutboxStore contract)`, () => {
    const entry = (to: string, key: string, text = key) => ({ to, key, message: textMessage(to, text) });
    const headIds = async (store: OutboxStore, limit = 10) => (await store.heads(limit)).map((h) => h.id);

    it('adds a key once: the same key again names the first message and adds nothing', async () => {
      const store = await fresh();
      const first = await store.add(entry(A, 'k1'), A, T0);
      expect(first.created).toBe(true);
      expect(await store.add(entry(A, 'k1', 'other words'), A, T0 + 1)).toEqual({ id: first.id, created: false });
      expect(await store.backlog()).toBe(1);
      expect(await store.get(first.id)).toMatchObject({ key: 'k1', to: A, status: 'pending', attempts: 0, createdAt: T0 });
    });

    it('offers the oldest waiting message of each recipient, none of a recipient with one on the wire', async () => {
      const store = await fresh();
      const a1 = (await store.add(entry(A, 'a1'), A, T0)).id;
      await store.add(entry(A, 'a2'), A, T0);
      const b1 = (await store.add(entry(B, 'b1'), B, T0)).id;
      expect(await headIds(store)).toEqual([a1, b1]);
      expect((await store.claim([{ id: a1, attempts: 0 }], T0 + 5)).claimed).toEqual([a1]);
      expect(await headIds(store)).toEqual([b1]);
      expect(await store.get(a1)).toMatchObject({ status: 'sending', attempts: 1 });
      expect(await store.heads(1)).toHaveLength(1);
    });

    it('puts the most urgent waiting message first, the oldest among equals', async () => {
      const store = await fresh();
      await store.add(entry(A, 'a-late'), A, T0);
      const urgent = (await store.add({ ...entry(A, 'a-urgent'), priority: 0 }, A, T0)).id;
      const b = (await store.add({ ...entry(B, 'b'), priority: 2 }, B, T0)).id;
      expect(await headIds(store)).toEqual([urgent, b]);
      await expect(store.add({ ...entry(B, 'b-bad'), priority: 100 }, B, T0)).rejects.toThrow(RangeError);
    });

    it('claims only a head still at the attempt it was read at, due, and of a recipient with nothing on the wire', async () => {
      const store = await fresh();
      const a1 = (await store.add(entry(A, 'a1'), A, T0)).id;
      const b1 = (await store.add(entry(B, 'b1'), B, T0)).id;
      // claimed and answered since it was read: that read is out of date
      expect((await store.claim([{ id: a1, attempts: 0 }], T0)).claimed).toEqual([a1]);
      expect(await store.record(a1, 1, { status: 'retry', at: T0 + 1000, code: 130429, message: 'throughput' })).toBe(true);
      expect((await store.claim([{ id: a1, attempts: 0 }], T0 + 2000)).claimed).toEqual([]);
      // not due before its retry time
      expect((await store.claim([{ id: a1, attempts: 1 }], T0 + 999)).claimed).toEqual([]);
      expect((await store.claim([{ id: a1, attempts: 1 }, { id: b1, attempts: 0 }], T0 + 1000)).claimed.sort((x, y) => x - y)).toEqual([a1, b1]);
      expect((await store.get(a1))!.attempts).toBe(2);
    });

    it('never puts two messages to one recipient on the wire', async () => {
      const store = await fresh();
      const a1 = (await store.add(entry(A, 'a1'), A, T0)).id;
      const [head] = await store.heads(10);
      // a more urgent message arrives after a1 was read as the head
      const a0 = (await store.add({ ...entry(A, 'a0'), priority: 0 }, A, T0)).id;
      expect((await store.claim([{ id: head!.id, attempts: 0 }], T0)).claimed).toEqual([a1]);
      expect((await store.claim([{ id: a0, attempts: 0 }], T0)).claimed).toEqual([]);
      expect(await headIds(store)).toEqual([]);
    });

    it('opens a head to what goes out: the message, then its template once the fallback is in use', async () => {
      const store = await fresh();
      const template = templateMessage(A, 'bin_dispatch', 'en', [], []);
      const id = (await store.add({ ...entry(A, 'k', 'free words'), ref: 'J-1', fallback: template }, A, T0)).id;
      const [head] = await store.heads(10);
      expect(head).toMatchObject({ id, hasFallback: true, usedFallback: false, kind: 'text', attempts: 0 });
      expect(head!.recipient).not.toContain(A);
      expect(head!.open()).toEqual({ message: textMessage(A, 'free words'), key: 'k', ref: 'J-1', to: A });
      await store.claim([{ id: head!.id, attempts: head!.attempts }], T0);
      await store.record(id, 1, { status: 'fallback', code: 131047, message: 'outside the window' });
      const [again] = await store.heads(10);
      expect(again).toMatchObject({ id, usedFallback: true, nextAttemptMs: 0 });
      expect(again!.open().message).toEqual(template);
    });

    it('keeps a retry waiting until its time, and sets sends interrupted before a time back to waiting', async () => {
      const store = await fresh();
      const id = (await store.add(entry(A, 'k'), A, T0)).id;
      const recipient = (await store.heads(10))[0]!.recipient;
      await store.claim([{ id, attempts: 0 }], T0);
      await store.record(id, 1, { status: 'retry', at: T0 + 60_000, code: 130429, message: 'throughput' });
      expect(await store.heads(10)).toMatchObject([{ id, nextAttemptMs: T0 + 60_000, attempts: 1 }]);
      expect((await store.get(id))!.error).toEqual({ code: 130429, message: 'throughput' });
      await store.claim([{ id, attempts: 1 }], T0 + 60_000);
      expect(await store.recentSends(T0)).toEqual([{ recipient, at: T0 + 60_000 }]);
      expect(await store.sendsSince(T0)).toEqual([{ id, attempts: 2, recipient, at: T0 + 60_000 }]);
      // claimed at T0 + 60 s: not before it
      expect(await store.recoverInterrupted(T0 + 60_000)).toBe(0);
      expect(await store.recoverInterrupted(T0 + 60_001)).toBe(1);
      expect(await store.recoverInterrupted(T0 + 60_001)).toBe(0);
      expect(await store.heads(10)).toMatchObject([{ id, attempts: 2 }]);
    });

    it('finds a sent message by its wamid and keeps its delivery', async () => {
      const store = await fresh();
      const id = (await store.add({ ...entry(A, 'k'), ref: 'R-1' }, A, T0)).id;
      await store.claim([{ id, attempts: 0 }], T0);
      let also = 0;
      expect(await store.record(id, 1, { status: 'sent', wamid: 'wamid.ABC', at: T0 + 1, initiated: true }, () => also++)).toBe(true);
      expect(also).toBe(1);
      expect(await store.backlog()).toBe(0);
      expect(await store.byWamid('wamid.other')).toBeUndefined();
      const sent = (await store.byWamid('wamid.ABC'))!;
      expect(sent).toMatchObject({ id, status: 'sent', delivery: null, sentKind: 'text', hasFallback: false, usedFallback: false });
      expect(sent.open()).toEqual({ key: 'k', ref: 'R-1', to: A });
      await store.delivery(id, 'read', T0 + 2, null);
      expect((await store.byWamid('wamid.ABC'))!.delivery).toBe('read');
      expect(await store.get(id)).toMatchObject({ status: 'sent', wamid: 'wamid.ABC', sentAt: T0 + 1, delivery: 'read', initiated: true });
      expect(await store.recentInitiated(T0)).toEqual([{ recipient: sent.recipient, at: T0 + 1 }]);
      // refused later, in a status: the fallback goes next
      await store.useFallback(id, 131047, 'outside the window');
      expect(await store.get(id)).toMatchObject({ status: 'pending', usedFallback: true });
    });

    it('fails a message for good, out of the backlog', async () => {
      const store = await fresh();
      const id = (await store.add(entry(A, 'k'), A, T0)).id;
      await store.record(id, 0, { status: 'failed', code: 131026, message: 'undeliverable' });
      expect(await store.backlog()).toBe(0);
      expect(await store.unfinished([id])).toBe(0);
      expect(await store.heads(10)).toEqual([]);
      expect(await store.get(id)).toMatchObject({ status: 'failed', error: { code: 131026, message: 'undeliverable' } });
    });

    it('holds a waiting message with the reason until it goes', async () => {
      const store = await fresh();
      const id = (await store.add(entry(A, 'k'), A, T0)).id;
      await store.hold(id, 'messaging_limit');
      expect(await store.get(id)).toMatchObject({ status: 'pending', waitingFor: 'messaging_limit' });
      await store.claim([{ id, attempts: 0 }], T0);
      expect(await store.get(id)).toMatchObject({ status: 'sending', waitingFor: null });
      expect(await store.unfinished([id, id + 1000])).toBe(1);
    });

    it('lists newest first, by recipient and page', async () => {
      const store = await fresh();
      const ids: number[] = [];
      for (const k of ['a1', 'b1', 'a2']) ids.push((await store.add(entry(k.startsWith('a') ? A : B, k), k.startsWith('a') ? A : B, T0)).id);
      expect((await store.list({ limit: 10, before: Number.MAX_SAFE_INTEGER })).map((i) => i.key)).toEqual(['a2', 'b1', 'a1']);
      expect((await store.list({ limit: 10, before: Number.MAX_SAFE_INTEGER, to: A })).map((i) => i.key)).toEqual(['a2', 'a1']);
      expect((await store.list({ limit: 1, before: ids[2]! })).map((i) => i.key)).toEqual(['b1']);
    });

    it('commits an outcome and what `also` records whole or not at all', async () => {
      const store = await fresh();
      const id = (await store.add(entry(A, 'k'), A, T0)).id;
      await store.claim([{ id, attempts: 0 }], T0);
      await expect(
        store.record(id, 1, { status: 'failed', code: 1, message: 'x' }, () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      // SQLite rolls the outcome back with the listener's rows (one database); PostgreSQL committed it before `also` ran
      expect((await store.get(id))!.status).toBe(store.shared ? 'failed' : 'sending');
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
