import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { pino } from 'pino';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createMetrics } from '../../src/metrics.js';
import { DiskPhotoStore, Retention, SqliteConversationStore, SqliteReportStore } from '../../src/reports/index.js';
import { SqliteUnitOfWork, openDatabase, type Db } from '../../src/storage/index.js';
import { whatsappWebhookRoutes } from '../../src/http/routes/whatsapp-webhook.js';
import { migratePostgres, openPool } from '../../src/storage/postgres/index.js';
import { Inbox as InboxLoop, PostgresInboxStore, Sealer, sqliteInbox, type Inbox, type InboundMessage, type InboxOptions, type StatusUpdate } from '../../src/whatsapp/index.js';
import { startInstances } from '../helpers/bridge.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { beforeEachCommit, commitCounter, turnCounter } from '../helpers/event-loop.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES, TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';
import { telemetryBus } from '../helpers/telemetry.js';

const silent = pino({ level: 'silent' });
const SECRET = 'webhook-test-secret';
const VERIFY = 'webhook-test-verify';
const sign = (raw: string | Buffer, secret = SECRET) => 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wa-inbox-'));

function envelope(messages: unknown[], statuses: unknown[] = []) {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', contacts: [{ wa_id: '31600000001', profile: { name: 'Ann' } }], messages, statuses } }] }],
  });
}
const text = (id: string, body: string, ts = Math.floor(Date.now() / 1000)) => ({ from: '31600000001', id, timestamp: String(ts), type: 'text', text: { body } });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function openDb(dir: string): Db {
  const db = openDatabase(dir, { sync: 'normal' });
  cleanups.push(() => db.open && db.close());
  return db;
}

function makeInbox(db: Db, opts: Partial<InboxOptions> = {}) {
  const handled: InboundMessage[] = [];
  const statuses: StatusUpdate[] = [];
  const inbox = sqliteInbox({ db, log: silent, sealer, statuses: { applyStatus: (s) => statuses.push(s) }, retryDelayMs: 10, ...opts });
  inbox.onMessage((m) => {
    handled.push(m);
  });
  cleanups.push(() => inbox.stop());
  return { inbox, handled, statuses };
}

async function makeApp(inbox: Inbox, appSecret = SECRET, direct = false) {
  const metrics = createMetrics();
  const app: FastifyInstance = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const opts = { inbox, appSecret, verifyToken: VERIFY, log: silent, metrics };
  if (direct) await whatsappWebhookRoutes(app, opts);
  else await app.register(whatsappWebhookRoutes, opts);
  // a JSON route outside the plugin keeps fastify's own parser
  app.post('/echo', async (req) => req.body);
  await app.ready();
  cleanups.push(() => app.close());
  return { app, metrics };
}

const post = (app: FastifyInstance, raw: string, signature: string | null = sign(raw)) =>
  app.inject({
    method: 'POST',
    url: '/webhooks/whatsapp',
    headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature-256': signature }) },
    payload: raw,
  });

const deliveries = (db: Db) => db.prepare('SELECT count(*) FROM whatsapp_webhook_deliveries').pluck().get();

describe('WhatsApp webhook', () => {
  it('answers Meta’s handshake only with the verify token', async () => {
    const { app } = await makeApp(makeInbox(openDb(tmpDir())).inbox);
    const ok = await app.inject({ url: `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444` });
    expect([ok.statusCode, ok.headers['content-type'], ok.body]).toEqual([200, 'text/plain', '1158201444']);
    for (const q of ['hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1', 'hub.mode=unsubscribe&hub.verify_token=' + VERIFY + '&hub.challenge=1', '']) {
      expect((await app.inject({ url: `/webhooks/whatsapp?${q}` })).statusCode).toBe(403);
    }
  });

  it('accepts Meta’s payloads byte for byte over HTTP and hands them on', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled, statuses } = makeInbox(db);
    const { app, metrics } = await makeApp(inbox);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/whatsapp`;
    inbox.start();
    for (const f of ['text.json', 'interactive_button_reply.json', 'location.json', 'status_sent.json']) {
      const raw = fixture(f);
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw) }, body: raw });
      expect(r.status, f).toBe(200);
    }
    await waitFor(() => handled.length === 3 && statuses.length === 1);
    expect(handled.map((m) => m.type)).toEqual(['text', 'interactive', 'location']);
    // the inbox keeps no number of a status: the sink gets the recipient's pseudonym
    expect(statuses[0]).toMatchObject({ status: 'sent', recipient: sealer.pseudonym('16505551234') });
    const sealedBody = db.prepare('SELECT body_sealed FROM whatsapp_webhook_deliveries ORDER BY id LIMIT 1').pluck().get() as Buffer;
    expect(Buffer.compare(sealer.open(sealedBody), Buffer.from(fixture('text.json')))).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString('binbridge_webhook_requests_total')).toContain('outcome="accepted"} 4');
    // other routes still parse JSON
    expect((await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } })).json()).toEqual({ a: 1 });
  });

  it('refuses forged, altered and unsigned bodies with 401 and stores nothing', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled } = makeInbox(db);
    const { app, metrics } = await makeApp(inbox);
    inbox.start();
    const raw = fixture('text.json');
    expect((await post(app, raw, sign(raw, 'not-the-secret'))).statusCode).toBe(401);
    expect((await post(app, raw.replace('another color', 'another colour'), sign(raw))).statusCode).toBe(401);
    expect((await post(app, raw, null)).statusCode).toBe(401);
    expect((await post(app, raw, 'sha256=zz')).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/webhooks/whatsapp', headers: { 'content-type': 'text/plain' }, payload: raw })).statusCode).toBe(401);
    // refused before the inbox: nothing was stored, so nothing can be handled later
    expect(deliveries(db)).toBe(0);
    expect(await inbox.backlog()).toEqual({ pending: 0, failed: 0 });
    expect(handled).toHaveLength(0);
    expect(await metrics.registry.getSingleMetricAsString('binbridge_webhook_requests_total')).toContain('outcome="bad_signature"} 5');
  });

  it('keeps its raw-body parser to itself when called directly on the root instance', async () => {
    const { app } = await makeApp(makeInbox(openDb(tmpDir())).inbox, SECRET, true);
    const raw = fixture('text.json');
    expect((await post(app, raw)).statusCode).toBe(200);
    expect((await post(app, raw, null)).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } })).json()).toEqual({ a: 1 });
  });

  it('answers 400 to a signed body that is not JSON', async () => {
    const { app } = await makeApp(makeInbox(openDb(tmpDir())).inbox);
    expect((await post(app, '{"entry": [')).statusCode).toBe(400);
  });

  it('refuses every POST when no app secret is configured', async () => {
    const db = openDb(tmpDir());
    const { app } = await makeApp(makeInbox(db).inbox, '');
    const raw = fixture('text.json');
    expect((await post(app, raw, sign(raw, ''))).statusCode).toBe(401);
    expect(deliveries(db)).toBe(0);
  });

  it('hands a message redelivered three times to the handlers once, and opens the 24 h window', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled, statuses } = makeInbox(db);
    const { app } = await makeApp(inbox);
    inbox.start();
    const raw = envelope([text('wamid.SAME', 'bin UT-0042 is full')], [{ id: 'wamid.OUT', status: 'delivered', timestamp: '1750000000', recipient_id: '31600000001' }]);
    for (let i = 0; i < 3; i++) expect((await post(app, raw)).statusCode).toBe(200);
    await waitFor(async () => handled.length === 1 && (await inbox.backlog()).pending === 0);
    expect(handled).toHaveLength(1);
    expect(statuses).toHaveLength(1);
    expect(deliveries(db)).toBe(1);
    expect(db.prepare('SELECT count(*) FROM whatsapp_inbound').pluck().get()).toBe(1);
    expect(db.prepare('SELECT last_inbound_ms FROM whatsapp_contacts WHERE contact_tag = ?').pluck().get(sealer.pseudonym('31600000001'))).toBeGreaterThan(
      Date.now() - 60_000,
    );
  });

  it('keeps order, retries a failing handler, and sets aside a message that keeps failing', async () => {
    const db = openDb(tmpDir());
    const inbox = sqliteInbox({ db, log: silent, sealer, retryDelayMs: 10, maxAttempts: 3 });
    cleanups.push(() => inbox.stop());
    const seen: string[] = [];
    let flaky = 0;
    inbox.onMessage((m) => {
      seen.push(m.text!);
      if (m.text === 'flaky' && ++flaky < 3) throw new Error('database busy');
      if (m.text === 'poison') throw new Error('cannot handle this');
    });
    await inbox.accept(Buffer.from(envelope([text('w1', 'first'), text('w2', 'flaky'), text('w3', 'poison'), text('w4', 'last')])));
    inbox.start();
    await waitFor(() => seen.includes('last'));
    expect(seen).toEqual(['first', 'flaky', 'flaky', 'flaky', 'poison', 'poison', 'poison', 'last']);
    expect(db.prepare('SELECT message_tag, state, attempts FROM whatsapp_inbound ORDER BY seq').all()).toEqual([
      { message_tag: sealer.pseudonym('w1'), state: 'processed', attempts: 1 },
      { message_tag: sealer.pseudonym('w2'), state: 'processed', attempts: 3 },
      { message_tag: sealer.pseudonym('w3'), state: 'failed', attempts: 3 },
      { message_tag: sealer.pseudonym('w4'), state: 'processed', attempts: 1 },
    ]);
    expect(await inbox.backlog()).toEqual({ pending: 0, failed: 1 });
  });

  it('records a burst of deliveries in one commit, the same bytes twice in it once, and answers each', async () => {
    const db = openDb(tmpDir());
    const { inbox } = makeInbox(db);
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(envelope([text(`b${i}`, `burst ${i}`)])));
    const commits = commitCounter(db);
    // all in one turn of the event loop, as requests whose bodies completed together
    const results = await Promise.all([...bodies, bodies[3]!].map((b) => inbox.accept(b)));
    expect(results.slice(0, 20).every((r) => r.messages === 1 && !r.repeated)).toBe(true);
    expect(results[20]).toMatchObject({ repeated: true, messages: 0 });
    expect(commits.commits).toBe(1);
    expect(db.prepare('SELECT count(*) FROM whatsapp_webhook_deliveries').pluck().get()).toBe(20);
    expect(db.prepare('SELECT count(*) FROM whatsapp_inbound').pluck().get()).toBe(20);
    await expect(inbox.accept(Buffer.from('not json'))).rejects.toThrow(/not JSON/);
  });

  it('records a body of thousands of messages and statuses over many turns, at most 200 a commit, and answers once all are in', async () => {
    const db = openDb(tmpDir());
    const { inbox } = makeInbox(db);
    const statuses = Array.from({ length: 1500 }, (_, i) => ({ id: `wamid.S${i}`, status: 'delivered', timestamp: '1700000000', recipient_id: '31600000001' }));
    const body = Buffer.from(envelope(Array.from({ length: 2100 }, (_, i) => text(`long${i}`, `message ${i}`)), statuses));
    const commits = commitCounter(db);
    const loop = turnCounter();
    const inbound = db.prepare('SELECT (SELECT count(*) FROM whatsapp_inbound) + (SELECT count(*) FROM whatsapp_statuses)').pluck();
    // what each turn added: never more than one group's worth
    const perTurn: number[] = [];
    let last = 0;
    let watching = true;
    const watch = (): void => {
      if (!watching) return;
      const n = inbound.get() as number;
      perTurn.push(n - last);
      last = n;
      setImmediate(watch);
    };
    setImmediate(watch);
    const result = await inbox.accept(body);
    watching = false;
    loop.stop();
    perTurn.push((inbound.get() as number) - last);
    // before: one commit of all 3,600 in one turn (a 3 MB body held the event loop for hundreds of milliseconds)
    expect(result).toEqual({ messages: 2100, statuses: 1500, duplicates: 0, repeated: false });
    expect(commits.commits).toBe(18);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(200);
    expect(loop.turns).toBeGreaterThanOrEqual(18);
    // the digest knows the bytes only now that all of it is in: a redelivery is a repeat
    expect(await inbox.accept(body)).toMatchObject({ repeated: true });
    expect(db.prepare('SELECT count(*) FROM whatsapp_webhook_deliveries').pluck().get()).toBe(1);
  });

  it('keeps the bytes of an ordinary body and only the elements of one over 64 KB (sealing and flushing 3 MB held the loop)', async () => {
    const db = openDb(tmpDir());
    const { inbox } = makeInbox(db);
    const small = Buffer.from(envelope([text('small', 'a bin is full')]));
    const padded = JSON.parse(envelope([text('big', 'another bin')])) as Record<string, unknown>;
    padded.pad = 'p'.repeat(3 * 1024 * 1024);
    const big = Buffer.from(JSON.stringify(padded));
    expect(await inbox.accept(small)).toMatchObject({ messages: 1 });
    expect(await inbox.accept(big)).toMatchObject({ messages: 1 });
    const kept = db.prepare('SELECT length(body_sealed) FROM whatsapp_webhook_deliveries ORDER BY id').pluck().all() as number[];
    // before: the 3 MB body was sealed and stored whole
    expect(kept[0]).toBeGreaterThan(small.length);
    expect(kept[1]).toBe(0);
    expect(db.prepare('SELECT count(*) FROM whatsapp_inbound').pluck().get()).toBe(2);
    // its digest still recognises a redelivery
    expect(await inbox.accept(big)).toMatchObject({ repeated: true });
  });

  it('records a long body cut short by a failed commit again when Meta redelivers it, each element once', async () => {
    const db = openDb(tmpDir());
    const { inbox } = makeInbox(db);
    const body = Buffer.from(envelope(Array.from({ length: 500 }, (_, i) => text(`cut${i}`, `message ${i}`))));
    // the third commit of the body fails (the disk, say): the first two groups are in, the answer is an error
    let commits = 0;
    beforeEachCommit(db, () => {
      if (++commits === 3) throw new Error('disk I/O error');
    });
    await expect(inbox.accept(body)).rejects.toThrow(/disk I\/O error/);
    expect(db.prepare('SELECT count(*) FROM whatsapp_inbound').pluck().get()).toBe(400);
    // Meta redelivers the same bytes: not taken for a repeat, and only the missing 100 are added
    expect(await inbox.accept(body)).toEqual({ messages: 100, statuses: 0, duplicates: 400, repeated: false });
    expect(db.prepare('SELECT count(*) FROM whatsapp_inbound').pluck().get()).toBe(500);
    expect(await inbox.accept(body)).toMatchObject({ repeated: true });
  });

  it('lets the event loop turn between messages of a backlog (a burst never holds readings and requests up)', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled } = makeInbox(db);
    await inbox.accept(Buffer.from(envelope(Array.from({ length: 30 }, (_, i) => text(`t${i}`, `backlog ${i}`)))));
    const loop = turnCounter();
    const turnAt: number[] = [];
    inbox.onMessage(() => void turnAt.push(loop.turns));
    inbox.start();
    await waitFor(() => handled.length === 30);
    loop.stop();
    // before: all 30 ran in one turn (turnAt all equal); now each message waits for the next turn
    expect(new Set(turnAt).size).toBeGreaterThanOrEqual(25);
  });

  it('processes what was accepted before a restart, once', async () => {
    const dir = tmpDir();
    const db = openDb(dir);
    const first = makeInbox(db);
    await first.inbox.accept(Buffer.from(envelope([text('r1', 'one'), text('r2', 'two')])));
    db.close(); // stopped before the processor ran

    const db2 = openDb(dir);
    const second = makeInbox(db2);
    second.inbox.start();
    await waitFor(() => second.handled.length === 2);
    await second.inbox.stop();
    await second.inbox.accept(Buffer.from(envelope([text('r1', 'one')]))); // redelivered after the restart

    const third = makeInbox(db2);
    third.inbox.start();
    // the redelivery was known: nothing waits for the third inbox to handle
    expect((await third.inbox.backlog()).pending).toBe(0);
    expect(second.handled.map((m) => m.text)).toEqual(['one', 'two']);
    expect(third.handled).toHaveLength(0);
  });

  it('stores a body redelivered 15 times once, answers each 200 and handles its message once', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled } = makeInbox(db);
    const { app, metrics } = await makeApp(inbox);
    inbox.start();
    // 2.9 MB, as in the review: a message and a large part binbridge does not read
    const big = JSON.parse(envelope([text('wamid.BIG', 'bin UT-0042 is full')])) as { entry: { changes: { value: Record<string, unknown> }[] }[] };
    big.entry[0]!.changes[0]!.value.unread = 'x'.repeat(2_900_000);
    const raw = JSON.stringify(big);
    for (let i = 0; i < 15; i++) expect((await post(app, raw)).statusCode).toBe(200);
    // every accepted message has been handled once the inbox is drained
    await waitFor(async () => (await inbox.backlog()).pending === 0 && handled.length > 0);
    expect(handled.map((m) => m.id)).toEqual(['wamid.BIG']);
    expect(deliveries(db)).toBe(1);
    const stored = db.prepare('SELECT sum(length(body_sealed)) FROM whatsapp_webhook_deliveries').pluck().get() as number;
    expect(stored).toBeLessThan(1.1 * raw.length);
    expect(await metrics.registry.getSingleMetricAsString('binbridge_webhook_requests_total')).toContain('outcome="accepted"} 15');
    // another body with the same message (Meta batches as it likes) is stored, its message still handled once
    expect((await post(app, envelope([text('wamid.BIG', 'bin UT-0042 is full'), text('wamid.NEXT', 'and this one')]))).statusCode).toBe(200);
    await waitFor(async () => (await inbox.backlog()).pending === 0 && handled.length > 1);
    expect(handled.map((m) => m.id)).toEqual(['wamid.BIG', 'wamid.NEXT']);
    expect(deliveries(db)).toBe(2);
  });

  it('the retention purge drops sealed bodies after 3 days and message ids after 8, keeps unprocessed rows, and still dedupes a redelivery', async () => {
    const DAY = 86_400_000;
    const db = openDb(tmpDir());
    const t0 = Date.now();
    const clock = new ManualClock(t0);
    const { inbox, handled, statuses } = makeInbox(db, { clock });
    const { app } = await makeApp(inbox);
    const retention = new Retention({
      work: new SqliteUnitOfWork(db, (d) => ({ reports: new SqliteReportStore(d), conversations: new SqliteConversationStore(d, sealer) })),
      photos: new DiskPhotoStore(tmpDir()),
      retentionDays: 180,
      inbox,
      log: silent,
      clock,
    });
    const bodyOf = (id: string) =>
      db.prepare('SELECT length(body_sealed) AS body, state FROM whatsapp_inbound WHERE message_tag = ?').get(sealer.pseudonym(id)) as
        | { body: number; state: string }
        | undefined;
    const deliveryBodies = () => db.prepare('SELECT length(body_sealed) FROM whatsapp_webhook_deliveries ORDER BY id').pluck().all();
    inbox.start();

    const old = envelope([text('wamid.OLD', 'Oudegracht 165')], [{ id: 'wamid.OUT', status: 'read', timestamp: '1750000000', recipient_id: '31600000001' }]);
    expect((await post(app, old)).statusCode).toBe(200);
    await waitFor(async () => (await inbox.backlog()).pending === 0 && handled.length === 1 && statuses.length === 1);

    await clock.advanceTo(t0 + 4 * DAY);
    expect((await post(app, envelope([text('wamid.NEW', 'Biltstraat 7')]))).statusCode).toBe(200);
    await waitFor(async () => (await inbox.backlog()).pending === 0 && handled.length === 2);
    await inbox.stop(); // the next one stays unprocessed
    expect((await post(app, envelope([text('wamid.WAITING', 'Neude 8')]))).statusCode).toBe(200);

    await retention.purge();
    // processed 4 days ago: the sealed bodies are gone, the message id is kept for Meta's redeliveries
    expect(bodyOf('wamid.OLD')).toEqual({ body: 0, state: 'processed' });
    expect(db.prepare('SELECT length(body_sealed) FROM whatsapp_statuses').pluck().all()).toEqual([0]);
    const [oldDelivery, ...rest] = deliveryBodies() as number[];
    expect(oldDelivery).toBe(0);
    expect(rest.every((n) => n > 0)).toBe(true);
    // newer and unprocessed rows stay whole
    expect(bodyOf('wamid.NEW')!.body).toBeGreaterThan(0);
    expect(bodyOf('wamid.WAITING')).toMatchObject({ state: 'pending' });
    expect(bodyOf('wamid.WAITING')!.body).toBeGreaterThan(0);

    // day 6: the same body again, and the old message in another body: 200, not stored twice, not handled twice
    await clock.advanceTo(t0 + 6 * DAY);
    expect((await post(app, old)).statusCode).toBe(200);
    expect((await post(app, envelope([text('wamid.OLD', 'Oudegracht 165')]))).statusCode).toBe(200);
    inbox.start();
    await waitFor(async () => (await inbox.backlog()).pending === 0 && handled.length === 3);
    expect(handled.map((m) => m.id)).toEqual(['wamid.OLD', 'wamid.NEW', 'wamid.WAITING']);
    expect(statuses).toHaveLength(1);
    expect(deliveries(db)).toBe(4);

    // day 9½: the old message's id has passed Meta's 7 days of redelivery and is gone; the rest is kept
    await clock.advanceTo(t0 + 9.5 * DAY);
    await retention.purge();
    expect(bodyOf('wamid.OLD')).toBeUndefined();
    expect(db.prepare('SELECT count(*) FROM whatsapp_statuses').pluck().get()).toBe(0);
    expect(bodyOf('wamid.NEW')).toEqual({ body: 0, state: 'processed' });
    expect(bodyOf('wamid.WAITING')).toEqual({ body: 0, state: 'processed' });
    expect(deliveries(db)).toBe(3);
    expect(deliveryBodies()).toEqual([0, 0, 0]);
  });

  it('stores senders, message ids and bodies only as pseudonyms and sealed blobs', async () => {
    const db = openDb(tmpDir());
    const { inbox, handled } = makeInbox(db);
    await inbox.accept(Buffer.from(envelope([text('wamid.SECRET', 'bin at Main Street 1')], [{ id: 'wamid.OUT', status: 'sent', timestamp: '1750000000', recipient_id: '31600000001' }])));
    inbox.start();
    await waitFor(() => handled.length === 1);
    expect(handled[0]).toMatchObject({ id: 'wamid.SECRET', from: '31600000001', name: 'Ann', text: 'bin at Main Street 1' });
    expect(db.prepare('SELECT sender_tag, message_tag FROM whatsapp_inbound').get()).toEqual({
      sender_tag: sealer.pseudonym('31600000001'),
      message_tag: sealer.pseudonym('wamid.SECRET'),
    });
    expect(db.prepare('SELECT recipient_tag, wamid_tag FROM whatsapp_statuses').get()).toEqual({
      recipient_tag: sealer.pseudonym('31600000001'),
      wamid_tag: sealer.pseudonym('wamid.OUT'),
    });
    const dump = JSON.stringify(
      ['whatsapp_webhook_deliveries', 'whatsapp_inbound', 'whatsapp_statuses', 'whatsapp_contacts'].map((t) =>
        db.prepare(`SELECT * FROM ${t}`).all().map((r) => Object.values(r as object).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))),
      ),
    );
    for (const clear of ['31600000001', 'SECRET', 'wamid.OUT', 'Main Street', 'Ann']) expect(dump).not.toContain(clear);
  });

  it('sets aside a message sealed under another key instead of stopping on it', async () => {
    const db = openDb(tmpDir());
    await sqliteInbox({ db, log: silent, sealer: new Sealer('an-earlier-deployment-secret') }).accept(Buffer.from(envelope([text('k1', 'old key')])));
    const { inbox, handled } = makeInbox(db);
    await inbox.accept(Buffer.from(envelope([text('k2', 'new key')])));
    inbox.start();
    await waitFor(() => handled.length === 1);
    expect(handled[0]!.text).toBe('new key');
    expect(await inbox.backlog()).toEqual({ pending: 0, failed: 1 });
  });

  it('counts new inbound messages as whatsapp_message points', async () => {
    const { bus, points } = telemetryBus();
    const { inbox } = makeInbox(openDb(tmpDir()), { events: bus });
    await inbox.accept(Buffer.from(envelope([text('p1', 'a'), text('p2', 'b')])));
    await inbox.accept(Buffer.from(envelope([text('p1', 'a')])));
    expect(points).toHaveLength(2);
    expect(points[0]).toMatch(/^whatsapp_message,direction=in,kind=text,status=received count=1 \d+$/);
  });
});

describe('WhatsApp webhook on PostgreSQL', () => {
  // its own cluster: a test here stops and starts the server
  const cluster = postgresCluster({ own: true });

  /** An instance's inbox on the database at `url` (its own pool), its handler's effects and its statuses. */
  async function instance(url: string) {
    const pool = openPool({ url, connectTimeoutMs: 2000 });
    cleanups.push(() => pool.end());
    await migratePostgres(pool);
    const handled: InboundMessage[] = [];
    const statuses: StatusUpdate[] = [];
    const inbox = new InboxLoop({ store: new PostgresInboxStore(pool, sealer), log: silent, statuses: { applyStatus: (s) => void statuses.push(s) }, retryDelayMs: 10, pollMs: 100 });
    inbox.onMessage((m) => void handled.push(m));
    cleanups.push(() => inbox.stop());
    const { app } = await makeApp(inbox);
    return { pool, inbox, app, handled, statuses };
  }
  const count = async (pool: pg.Pool, table: string): Promise<number> => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

  it('answers 503 while the database is down, never 200, and records the redelivery once when it is back', async () => {
    const { pool, inbox, app, handled } = await instance(await freshDatabase(cluster.server));
    inbox.start();
    expect((await post(app, envelope([text('pg.before', 'before the outage')]))).statusCode).toBe(200);
    await waitFor(() => handled.length === 1);
    const raw = envelope([text('pg.during', 'bin 7 is full')], [{ id: 'wamid.PGOUT', status: 'delivered', timestamp: '1750000000', recipient_id: '31600000001' }]);
    await cluster.server.stop();
    try {
      const refused = await post(app, raw);
      // before: 500, and nothing told Meta that trying again later is the answer
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ status: 503 });
      expect((await post(app, raw)).statusCode).toBe(503);
    } finally {
      await cluster.server.start();
    }
    // Meta redelivers the same bytes, more than once
    expect((await post(app, raw)).statusCode).toBe(200);
    expect((await post(app, raw)).statusCode).toBe(200);
    await waitFor(() => handled.length === 2);
    expect(handled.map((m) => m.id)).toEqual(['pg.before', 'pg.during']);
    expect([await count(pool, 'whatsapp_inbound'), await count(pool, 'whatsapp_statuses'), await count(pool, 'whatsapp_webhook_deliveries')]).toEqual([2, 1, 2]);
    expect(await inbox.backlog()).toEqual({ pending: 0, failed: 0 });
  }, 60_000);

  it('two instances given the same bodies at once: each message recorded and handled once, each status applied once', async () => {
    const url = await freshDatabase(cluster.server);
    const [a, b] = [await instance(url), await instance(url)];
    a.inbox.start();
    b.inbox.start();
    // ten residents write at once, and Meta's load balancer hands every body to both instances together
    const bodies = Array.from({ length: 10 }, (_, i) =>
      envelope(
        [{ ...text(`pg.same${i}`, `bin ${i} is full`), from: `3160000100${i}` }],
        [{ id: `wamid.PGS${i}`, status: 'read', timestamp: '1750000000', recipient_id: '31600000001' }],
      ),
    );
    const answers = await Promise.all(bodies.flatMap((raw) => [post(a.app, raw), post(b.app, raw)]));
    expect(answers.map((r) => r.statusCode)).toEqual(bodies.flatMap(() => [200, 200]));
    await waitFor(() => a.handled.length + b.handled.length >= 10 && a.statuses.length + b.statuses.length >= 10, { message: 'every message handled and status applied' });
    await waitFor(async () => (await a.inbox.backlog()).pending === 0);
    // one effect per message, whichever instance it went to
    expect([...a.handled, ...b.handled].map((m) => m.id).sort()).toEqual(bodies.map((_, i) => `pg.same${i}`).sort());
    expect([...a.statuses, ...b.statuses].map((s) => s.wamid).sort()).toEqual(bodies.map((_, i) => `wamid.PGS${i}`).sort());
    expect([await count(a.pool, 'whatsapp_inbound'), await count(a.pool, 'whatsapp_statuses'), await count(a.pool, 'whatsapp_webhook_deliveries')]).toEqual([10, 10, 10]);
  }, 60_000);

  it('keeps the group commit: a burst of bodies in a few commits, a long body at most 200 elements a commit and answered once all is in, those behind it after', async () => {
    const pool = openPool({ url: await freshDatabase(cluster.server) });
    cleanups.push(() => pool.end());
    await migratePostgres(pool);
    const store = new PostgresInboxStore(pool, sealer);
    const groups: number[] = [];
    const record = store.record.bind(store);
    store.record = (steps, now) => {
      groups.push(steps.reduce((n, st) => n + st.items.messages.length + st.items.statuses.length, 0));
      return record(steps, now);
    };
    const inbox = new InboxLoop({ store, log: silent });
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(envelope([text(`pgb${i}`, `burst ${i}`)])));
    const results = await Promise.all([...bodies, bodies[3]!].map((b) => inbox.accept(b)));
    // each one's digest is looked up in the database first, and the answers come back in any order: either copy of
    // the same bytes may be the one recorded, the other one is a repeat
    expect(results.filter((r) => r.messages === 1)).toHaveLength(20);
    expect([results[3]!.repeated, results[20]!.repeated].sort()).toEqual([false, true]);
    // those that arrive while a commit is in flight go together in the next one
    expect(groups.length).toBeLessThan(10);
    groups.length = 0;
    const long = Buffer.from(envelope(Array.from({ length: 900 }, (_, i) => text(`pgl${i}`, `message ${i}`))));
    // a short body arriving behind the long one waits for it, and is answered after it
    const order: string[] = [];
    const longDone = inbox.accept(long).then((r) => order.push(`long ${r.messages}`));
    await waitFor(() => groups.length > 0);
    await Promise.all([longDone, inbox.accept(Buffer.from(envelope([text('pgs', 'short')]))).then((r) => order.push(`short ${r.messages}`))]);
    expect(order).toEqual(['long 900', 'short 1']);
    // 200 a commit; the short body joins the long one's last commit or, when that one had begun already, one after it
    expect(groups.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(groups.slice(4)).toSatisfy((rest: number[]) => JSON.stringify(rest) === '[101]' || JSON.stringify(rest) === '[100,1]');
    expect(await inbox.accept(long)).toMatchObject({ repeated: true });
  }, 60_000);

  it('two bridges on one database, the same resident report posted to both at once: recorded once, handled by one, answered once', async () => {
    // one pseudonym key for both (startInstances): message ids and body digests are keyed with it, so instances that
    // did not share it would each record (and answer) the same message under a different id
    const url = await freshDatabase(cluster.server);
    const env = { BINBRIDGE_STORE_URL: url, BINBRIDGE_MQTT_AUTH: 'none', BINBRIDGE_HTTP_API_TOKEN: 'admin', BINBRIDGE_WHATSAPP_APP_SECRET: SECRET };
    const bridges = await startInstances(2, env);
    for (const b of bridges) cleanups.push(() => b.stop());
    const raw = envelope([{ ...text('wamid.PGREPORT', 'UTR-0002 is vol'), from: '31620000077' }]);
    const answers = await Promise.all(
      bridges.map((b) => fetch(`${b.httpUrl}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw) }, body: raw })),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    // counted as new by one instance only: the other's insert met the first one's row
    const fresh = async () => (await Promise.all(bridges.map(async (b) => (await b.metrics.whatsappInbound.get()).values.reduce((n, v) => n + v.value, 0)))).reduce((a, b) => a + b, 0);
    expect(await fresh()).toBe(1);
    const pool = openPool({ url });
    cleanups.push(() => pool.end());
    expect((await pool.query('SELECT count(*)::int AS n FROM whatsapp_inbound')).rows).toEqual([{ n: 1 }]);
    // handled by one of them: the report and its confirmation commit together in PostgreSQL, and the shared outbox
    // sends the confirmation once, from whichever instance claims it
    await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM whatsapp_inbound WHERE state = 'processed'`)).rows[0].n === 1, { message: 'the message was handled' });
    expect((await pool.query(`SELECT bin_id, reporters FROM reports`)).rows).toEqual([{ bin_id: 'UTR-0002', reporters: 1 }]);
    const reference = (await pool.query<{ reference: string }>('SELECT reference FROM reports')).rows[0]!.reference;
    const replies = () => bridges.flatMap((b) => b.sandbox!.list({ to: '31620000077' }).map((m) => JSON.stringify(m.message)));
    await waitFor(() => replies().length > 0, { message: 'the confirmation reached the resident' });
    // a later pass of either outbox sends nothing again
    await waitFor(async () => (await bridges[0]!.outbox.backlog()) === 0, { message: 'the outbox is empty' });
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain(reference);
  }, 60_000);

  it('a message one instance had claimed when it died is handled by the other', async () => {
    const url = await freshDatabase(cluster.server);
    const [a, b] = [await instance(url), await instance(url)];
    await a.inbox.accept(Buffer.from(envelope([text('pg.orphan', 'who takes me?')])));
    // a's claim, and then a's connections end as a killed process's would
    const store = new PostgresInboxStore(a.pool, sealer);
    const orphan = (await store.nextMessage())!;
    expect(orphan.open().id).toBe('pg.orphan');
    b.inbox.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(b.handled).toHaveLength(0);
    await b.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'`);
    await waitFor(() => b.handled.length === 1, { message: 'the survivor handles the orphaned message' });
    expect(b.handled[0]!.id).toBe('pg.orphan');
    await expect(orphan.processed(Date.now())).rejects.toThrow();
  }, 60_000);
});
