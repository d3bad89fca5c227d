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

export function inboxStoreContract(name: string, fresh: () => InboxStore): void {
  describe(`${name} (InboxStore contract)`, () => {
    it('records a delivery once: the same bytes again, even in the same commit, add nothing', () => {
      const store = fresh();
      const d = delivery(store, { messages: [text('m1', 'hello')] });
      expect(store.bodyTag(d.rawBody)).toBe(d.bodyTag);
      expect(store.hasBody(d.bodyTag)).toBe(false);
      const [first, second] = recordDeliveries(store, [d, d], T0);
      expect(first!.result).toEqual({ messages: 1, statuses: 0, duplicates: 0, repeated: false });
      expect(first!.fresh.map((m) => m.id)).toEqual(['m1']);
      expect(second).toEqual({ result: { messages: 0, statuses: 0, duplicates: 0, repeated: true }, fresh: [] });
      expect(store.hasBody(d.bodyTag)).toBe(true);
    });

    it('counts a redelivered message id in other bytes as a duplicate', () => {
      const store = fresh();
      recordDeliveries(store, [delivery(store, { messages: [text('m1', 'hello')] })], T0);
      const [again] = recordDeliveries(store, [delivery(store, { messages: [text('m1', 'hello'), text('m2', 'more')] })], T0 + 1);
      expect(again!.result).toMatchObject({ messages: 1, duplicates: 1, repeated: false });
      expect(again!.fresh.map((m) => m.id)).toEqual(['m2']);
      expect(store.backlog()).toEqual({ pending: 2, failed: 0 });
    });

    it('hands out messages in arrival order until they are processed or set aside', () => {
      const store = fresh();
      recordDeliveries(store, [delivery(store, { messages: [text('m1', 'one'), text('m2', 'two'), text('m3', 'three')] })], T0);
      const first = store.nextMessage()!;
      expect(first.open()).toMatchObject({ id: 'm1', from: A, text: 'one' });
      expect(first.attempts).toBe(0);
      expect(first.messageTag).not.toContain('m1');
      expect(first.senderTag).not.toContain(A);
      store.attempted(first.seq, 'handler failed');
      expect(store.nextMessage()).toMatchObject({ seq: first.seq, attempts: 1 });
      store.processed(first.seq, T0 + 1);
      const second = store.nextMessage()!;
      expect(second.open().id).toBe('m2');
      store.setAside(second.seq, 'poison', T0 + 2);
      expect(store.nextMessage()!.open().id).toBe('m3');
      expect(store.backlog()).toEqual({ pending: 1, failed: 1 });
    });

    it('applies statuses once, in arrival order, in batches', () => {
      const store = fresh();
      recordDeliveries(store, [delivery(store, { statuses: [status('w1', 'sent'), status('w1', 'delivered'), status('w2', 'sent')] })], T0);
      const seen: StatusUpdate[] = [];
      expect(store.takeStatuses(2, (open) => seen.push(open()))).toBe(2);
      expect(store.takeStatuses(2, (open) => seen.push(open()))).toBe(1);
      expect(store.takeStatuses(2, (open) => seen.push(open()))).toBe(0);
      expect(seen.map((s) => [s.wamid, s.status])).toEqual([
        ['w1', 'sent'],
        ['w1', 'delivered'],
        ['w2', 'sent'],
      ]);
      // the recipient of a status is kept as a pseudonym, never the number
      expect(seen[0]!.recipient).not.toContain(B);
    });

    it('prunes finished rows and keeps waiting ones', () => {
      const store = fresh();
      recordDeliveries(store, [delivery(store, { messages: [text('m1', 'done'), text('m2', 'waiting')] })], T0);
      store.processed(store.nextMessage()!.seq, T0);
      expect(store.prune(T0 + 1, T0 + 1)).toMatchObject({ messages: 1, deliveries: 0 });
      expect(store.backlog()).toEqual({ pending: 1, failed: 0 });
      expect(store.nextMessage()!.open().id).toBe('m2');
    });
  });
}
