import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { EventBus } from '../../src/events.js';
import { createMetrics } from '../../src/metrics.js';
import { openDatabase, type Db } from '../../src/storage/index.js';
import { SandboxTransport, sqliteInbox, sqliteOutbox, createWhatsApp, sealClearTables, textMessage, type InboundMessage, type MessageTransport, type SendResult } from '../../src/whatsapp/index.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const silent = pino({ level: 'silent' });
const NUMBER = '31655555555';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A data directory whose database was written by another release, before numbered migrations (user_version 0). */
function olderDataDir(write: (db: Db) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wa-migrate-'));
  const raw = new Database(path.join(dir, 'binbridge.db'));
  write(raw);
  raw.close();
  return dir;
}

/** The tables as the release before sealing left them: numbers, wamids and bodies in clear. */
function clearLayout(db: Db, now: number): void {
  db.exec(`
    CREATE TABLE whatsapp_contacts (wa_id TEXT PRIMARY KEY, last_inbound_ms INTEGER NOT NULL);
    CREATE TABLE whatsapp_webhook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, body BLOB NOT NULL);
    CREATE TABLE whatsapp_inbound (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, delivery_id INTEGER NOT NULL,
      sender TEXT NOT NULL, type TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0, error TEXT, received_ms INTEGER NOT NULL, processed_ms INTEGER);
    CREATE INDEX whatsapp_inbound_state ON whatsapp_inbound (state, seq);
    CREATE TABLE whatsapp_statuses (seq INTEGER PRIMARY KEY AUTOINCREMENT, wamid TEXT NOT NULL, status TEXT NOT NULL, timestamp_ms INTEGER NOT NULL,
      body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', received_ms INTEGER NOT NULL, UNIQUE (wamid, status));
    CREATE INDEX whatsapp_statuses_state ON whatsapp_statuses (state, seq);
    CREATE TABLE whatsapp_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, ref TEXT, recipient TEXT NOT NULL,
      kind TEXT NOT NULL, message TEXT NOT NULL, fallback TEXT, used_fallback INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0, last_attempt_ms INTEGER, wamid TEXT, error_code INTEGER,
      error_message TEXT, delivery_status TEXT, delivery_ms INTEGER, delivery_errors TEXT, created_ms INTEGER NOT NULL, sent_ms INTEGER);
    CREATE INDEX whatsapp_outbox_queue ON whatsapp_outbox (status, recipient, id);
    CREATE INDEX whatsapp_outbox_wamid ON whatsapp_outbox (wamid);
    CREATE INDEX whatsapp_outbox_recipient ON whatsapp_outbox (recipient, id);
    CREATE TABLE whatsapp_sandbox_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, wamid TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL,
      kind TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL);
    CREATE INDEX whatsapp_sandbox_messages_recipient ON whatsapp_sandbox_messages (recipient, id);
  `);
  const inbound: InboundMessage = { id: 'wamid.IN1', from: NUMBER, timestamp: now - 1000, type: 'text', text: 'old but pending' };
  db.prepare('INSERT INTO whatsapp_contacts VALUES (?, ?)').run(NUMBER, now - 1000);
  db.prepare('INSERT INTO whatsapp_webhook_deliveries (id, received_ms, body) VALUES (7, ?, ?)').run(now, Buffer.from(`{"from":"${NUMBER}"}`));
  db.prepare(`INSERT INTO whatsapp_inbound (message_id, delivery_id, sender, type, timestamp_ms, body, received_ms) VALUES (?, 7, ?, 'text', ?, ?, ?)`).run(
    inbound.id,
    NUMBER,
    inbound.timestamp,
    JSON.stringify(inbound),
    now,
  );
  db.prepare(`INSERT INTO whatsapp_statuses (wamid, status, timestamp_ms, body, received_ms) VALUES ('wamid.OUT1', 'delivered', 5, ?, ?)`).run(
    JSON.stringify({ wamid: 'wamid.OUT1', status: 'delivered', timestamp: 5, recipient: NUMBER }),
    now,
  );
  const insert = db.prepare(
    `INSERT INTO whatsapp_outbox (key, ref, recipient, kind, message, status, wamid, error_message, created_ms, sent_ms) VALUES (?, ?, ?, 'text', ?, ?, ?, ?, ?, ?)`,
  );
  insert.run('old-sent', 'job-1', NUMBER, JSON.stringify(textMessage(NUMBER, 'was sent')), 'sent', 'wamid.OUT1', null, now, now);
  insert.run('old-pending', null, NUMBER, JSON.stringify(textMessage(NUMBER, 'still to send')), 'pending', null, `retry for ${NUMBER}`, now, null);
  db.prepare(`INSERT INTO whatsapp_sandbox_messages (wamid, recipient, kind, body, created_ms) VALUES ('wamid.SANDBOX.1', ?, 'text', ?, ?)`).run(
    NUMBER,
    JSON.stringify(textMessage(NUMBER, 'sandboxed')),
    now,
  );
}

describe('WhatsApp tables of a release before sealing', () => {
  it('are rewritten sealed, keep their rows and ids, and go on working', async () => {
    const now = Date.now();
    const db = openDatabase(
      olderDataDir((raw) => clearLayout(raw, now)),
      { sync: 'normal' },
    );
    cleanups.push(() => db.close());
    // migration 1 moved the clear tables aside; only the WhatsApp side, which has the key, can seal them
    const aside = () => db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%clear' ORDER BY name`).pluck().all();
    expect(aside()).toEqual([
      'whatsapp_contacts__clear',
      'whatsapp_inbound__clear',
      'whatsapp_outbox__clear',
      'whatsapp_sandbox_messages__clear',
      'whatsapp_statuses__clear',
      'whatsapp_webhook_deliveries__clear',
    ]);
    expect(sealClearTables(db, sealer)).toHaveLength(6);
    expect(sealClearTables(db, sealer)).toEqual([]); // a second start is a no-op
    expect(aside()).toEqual([]);

    const sent: string[] = [];
    const transport: MessageTransport = { send: async (m) => (sent.push(m.to ?? ''), { wamid: `wamid.NEW${sent.length}` }) };
    const outbox = sqliteOutbox({ db, log: silent, sealer, transport, pairIntervalMs: 10 });
    const results: SendResult[] = [];
    outbox.onResult((r) => results.push(r));
    cleanups.push(() => outbox.stop());
    const applied: unknown[] = [];
    const inbox = sqliteInbox({ db, log: silent, sealer, statuses: { applyStatus: (s) => applied.push(s) } });
    cleanups.push(() => inbox.stop());
    const handled: InboundMessage[] = [];
    inbox.onMessage((m) => {
      handled.push(m);
    });
    const sandbox = new SandboxTransport(db, { sealer });

    // nothing of the clear layout is left
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'whatsapp_%'`).pluck().all() as string[];
    expect(tables.filter((t) => t.endsWith('__clear'))).toEqual([]);
    const dump = JSON.stringify(
      tables.map((t) => db.prepare(`SELECT * FROM ${t}`).all().map((r) => Object.values(r as object).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v)))),
    );
    for (const clear of [NUMBER, 'wamid.IN1', 'wamid.OUT1', 'old but pending', 'still to send', 'sandboxed', 'job-1', 'old-sent']) expect(dump).not.toContain(clear);
    const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND name LIKE 'whatsapp_%' ORDER BY name`).pluck().all();
    expect(indexes).toEqual(expect.arrayContaining(['whatsapp_inbound_state', 'whatsapp_outbox_queue', 'whatsapp_outbox_wamid', 'whatsapp_sandbox_messages_recipient']));

    // the rows read back opened, with their ids
    expect(await outbox.inWindow(NUMBER, now)).toBe(true);
    expect((await outbox.list()).map((i) => [i.id, i.key, i.ref, i.to, i.status, i.wamid, i.message.type === 'text' && i.message.text.body, i.error?.message ?? null])).toEqual([
      [2, 'old-pending', null, NUMBER, 'pending', null, 'still to send', 'retry for [number]'],
      [1, 'old-sent', 'job-1', NUMBER, 'sent', 'wamid.OUT1', 'was sent', null],
    ]);
    expect(sandbox.list({ to: NUMBER })).toMatchObject([{ wamid: 'wamid.SANDBOX.1', to: NUMBER, message: { text: { body: 'sandboxed' } } }]);
    outbox.applyStatus({ wamid: 'wamid.OUT1', status: 'read', timestamp: 6 });
    expect((await outbox.get(1))!.delivery).toBe('read');

    // and what was pending goes on
    outbox.start();
    inbox.start();
    await waitFor(() => results.length === 1 && handled.length === 1 && applied.length === 1);
    expect(results[0]).toMatchObject({ key: 'old-pending', to: NUMBER, status: 'sent' });
    expect(sent).toEqual([NUMBER]);
    expect(handled[0]).toMatchObject({ id: 'wamid.IN1', from: NUMBER, text: 'old but pending' });
    expect(applied[0]).toMatchObject({ wamid: 'wamid.OUT1', recipient: sealer.pseudonym(NUMBER) });
  });

  it('are sealed by the WhatsApp side as it is built, before its stores read them', async () => {
    const now = Date.now();
    const db = openDatabase(
      olderDataDir((raw) => clearLayout(raw, now)),
      { sync: 'normal' },
    );
    cleanups.push(() => db.close());
    const { sandbox, outbox, inbox } = createWhatsApp({
      config: configSchema.parse({}).whatsapp,
      db,
      sealer,
      metrics: createMetrics(),
      events: new EventBus(silent),
      log: silent,
    });
    cleanups.push(() => outbox.stop(), () => inbox.stop());
    expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name LIKE '%clear'`).pluck().get()).toBe(0);
    expect((await outbox.list()).map((i) => [i.id, i.key])).toEqual([
      [2, 'old-pending'],
      [1, 'old-sent'],
    ]);
    expect(await inbox.backlog()).toEqual({ pending: 1, failed: 0 });
    expect(sandbox!.list({ to: NUMBER })).toHaveLength(1);
  });

  it('a deliveries table sealed before body digests gains the column, keeps its rows, and records a body once from then on', async () => {
    const db = openDatabase(
      olderDataDir((raw) => {
        raw.exec('CREATE TABLE whatsapp_webhook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, body_sealed BLOB NOT NULL)');
        raw.prepare('INSERT INTO whatsapp_webhook_deliveries (received_ms, body_sealed) VALUES (?, ?)').run(Date.now(), sealer.seal('{}'));
      }),
      { sync: 'normal' },
    );
    cleanups.push(() => db.close());
    const inbox = sqliteInbox({ db, log: silent, sealer });
    const body = Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [] }));
    expect(await inbox.accept(body)).toMatchObject({ repeated: false });
    expect(await inbox.accept(body)).toMatchObject({ repeated: true });
    expect(db.prepare('SELECT count(*) FROM whatsapp_webhook_deliveries').pluck().get()).toBe(2);
  });
});
