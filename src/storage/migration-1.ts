import type { Db } from './database.js';

/**
 * Migration 1: the tables as the last release before numbered migrations created them, each in its store's
 * constructor. A database at user_version 0 is fresh or was written by such a release, which may have made only
 * some of them (the spool only with InfluxDB on, the sandbox only in sandbox mode): hence IF NOT EXISTS, here only.
 */
const LAYOUT = `
  -- registry/
  CREATE TABLE IF NOT EXISTS bins (
    id TEXT PRIMARY KEY, lat REAL NOT NULL, lon REAL NOT NULL, address TEXT NOT NULL, zone TEXT NOT NULL, kind TEXT NOT NULL,
    capacity_l INTEGER NOT NULL, depth_mm INTEGER NOT NULL, sensor_offset_mm INTEGER NOT NULL, device_id TEXT, dev_eui TEXT);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS zones (id TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS crews (id TEXT PRIMARY KEY, body TEXT NOT NULL);

  -- broker/
  CREATE TABLE IF NOT EXISTS device_secrets (bin_id TEXT PRIMARY KEY, hash TEXT NOT NULL, issued_at INTEGER NOT NULL);

  -- storage/
  CREATE TABLE IF NOT EXISTS bin_state (
    bin_id TEXT PRIMARY KEY, ts INTEGER, received_at INTEGER, fill_pct REAL, distance_mm REAL, battery_pct REAL,
    temperature_c REAL, tilt INTEGER, rssi REAL, status TEXT, status_at INTEGER);
  CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL, created_ms INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS spool_dead_letter (seq INTEGER PRIMARY KEY, line TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS history_bins (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS reading_history (
    bucket INTEGER NOT NULL, bin INTEGER NOT NULL, readings INTEGER NOT NULL,
    fill INTEGER NOT NULL, fill_at INTEGER NOT NULL, fill_min INTEGER NOT NULL, fill_max INTEGER NOT NULL,
    battery_min INTEGER, temperature_max INTEGER,
    PRIMARY KEY (bucket, bin)) WITHOUT ROWID;

  -- alerts/
  CREATE TABLE IF NOT EXISTS rule_state (bin_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, bin_id TEXT NOT NULL, zone TEXT NOT NULL, type TEXT NOT NULL,
    status TEXT NOT NULL, opened_at INTEGER NOT NULL, closed_at INTEGER, value REAL, message TEXT NOT NULL, cause TEXT);
  CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (bin_id, type) WHERE status = 'open';
  CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, opened_at);

  -- dispatch/
  CREATE TABLE IF NOT EXISTS dispatches (
    id TEXT PRIMARY KEY, zone TEXT NOT NULL, crew_id TEXT, status TEXT NOT NULL, urgent INTEGER NOT NULL DEFAULT 0,
    bin_ids TEXT NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER, accepted_at INTEGER, done_at INTEGER,
    escalated_at INTEGER, cancelled_at INTEGER, error TEXT, map_url TEXT NOT NULL DEFAULT '');
  CREATE INDEX IF NOT EXISTS dispatches_status ON dispatches (status);
  CREATE TABLE IF NOT EXISTS dispatch_bins (
    dispatch_id TEXT NOT NULL REFERENCES dispatches (id), bin_id TEXT NOT NULL, collected_at INTEGER,
    PRIMARY KEY (dispatch_id, bin_id));
  CREATE INDEX IF NOT EXISTS dispatch_bins_bin ON dispatch_bins (bin_id);
  CREATE TABLE IF NOT EXISTS dispatch_queue (
    bin_id TEXT PRIMARY KEY, zone TEXT NOT NULL, queued_at INTEGER NOT NULL, urgent INTEGER NOT NULL, reason TEXT NOT NULL);

  -- whatsapp/: who and what only as keyed pseudonyms (*_tag) and sealed blobs (*_sealed)
  CREATE TABLE IF NOT EXISTS whatsapp_contacts (contact_tag TEXT PRIMARY KEY, last_inbound_ms INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS whatsapp_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_tag TEXT NOT NULL UNIQUE, key_sealed BLOB NOT NULL, ref_sealed BLOB,
    recipient_tag TEXT NOT NULL, recipient_sealed BLOB NOT NULL,
    kind TEXT NOT NULL, message_sealed BLOB NOT NULL, fallback_sealed BLOB, used_fallback INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_attempt_ms INTEGER, wamid_tag TEXT, wamid_sealed BLOB, error_code INTEGER, error_message TEXT,
    delivery_status TEXT, delivery_ms INTEGER, delivery_errors TEXT, created_ms INTEGER NOT NULL, sent_ms INTEGER);
  CREATE INDEX IF NOT EXISTS whatsapp_outbox_queue ON whatsapp_outbox (status, recipient_tag, id);
  CREATE INDEX IF NOT EXISTS whatsapp_outbox_wamid ON whatsapp_outbox (wamid_tag);
  CREATE INDEX IF NOT EXISTS whatsapp_outbox_recipient ON whatsapp_outbox (recipient_tag, id);
  -- body_tag: a keyed digest of the raw bytes (Sealer.digest), so a redelivered body is recorded once
  CREATE TABLE IF NOT EXISTS whatsapp_webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, body_sealed BLOB NOT NULL, body_tag TEXT);
  CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_webhook_deliveries_body ON whatsapp_webhook_deliveries (body_tag);
  CREATE TABLE IF NOT EXISTS whatsapp_inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, message_tag TEXT NOT NULL UNIQUE, delivery_id INTEGER NOT NULL,
    sender_tag TEXT NOT NULL, type TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, body_sealed BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
    received_ms INTEGER NOT NULL, processed_ms INTEGER);
  CREATE INDEX IF NOT EXISTS whatsapp_inbound_state ON whatsapp_inbound (state, seq);
  CREATE INDEX IF NOT EXISTS whatsapp_inbound_sender ON whatsapp_inbound (sender_tag, seq);
  CREATE TABLE IF NOT EXISTS whatsapp_statuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, wamid_tag TEXT NOT NULL, status TEXT NOT NULL, timestamp_ms INTEGER NOT NULL,
    recipient_tag TEXT NOT NULL, body_sealed BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'pending', received_ms INTEGER NOT NULL,
    UNIQUE (wamid_tag, status));
  CREATE INDEX IF NOT EXISTS whatsapp_statuses_state ON whatsapp_statuses (state, seq);
  CREATE TABLE IF NOT EXISTS whatsapp_sandbox_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, wamid TEXT NOT NULL UNIQUE, recipient_tag TEXT NOT NULL, recipient_sealed BLOB NOT NULL,
    kind TEXT NOT NULL, body_sealed BLOB NOT NULL, created_ms INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS whatsapp_sandbox_messages_recipient ON whatsapp_sandbox_messages (recipient_tag, id);

  -- reports/
  CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, reference TEXT NOT NULL UNIQUE, bin_id TEXT, method TEXT NOT NULL,
    reporter TEXT NOT NULL, text TEXT, lat REAL, lon REAL, photo TEXT, status TEXT NOT NULL, reporters INTEGER NOT NULL DEFAULT 1,
    source TEXT NOT NULL DEFAULT 'whatsapp', service_code TEXT NOT NULL DEFAULT 'overflowing-bin',
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, closed_at INTEGER);
  CREATE INDEX IF NOT EXISTS reports_bin ON reports (bin_id, status);
  CREATE INDEX IF NOT EXISTS reports_created ON reports (created_at);
  CREATE TABLE IF NOT EXISTS report_reporters (
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE, reporter TEXT NOT NULL, contact BLOB,
    lang TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY (report_id, reporter));
  CREATE TABLE IF NOT EXISTS resident_conversations (pseudonym TEXT PRIMARY KEY, state BLOB NOT NULL, updated_at INTEGER NOT NULL);
`;

/**
 * The WhatsApp tables of a release before sealing, by a column only their clear-text layout has. Sealing their rows
 * takes the deployment's key, which the database does not hold: this migration moves them aside as `<table>__clear`
 * and the WhatsApp side seals them into the new tables, keeping ids, before it reads or writes any
 * (whatsapp/seal-clear-tables.ts).
 */
export const CLEAR_TABLES = [
  { table: 'whatsapp_contacts', marker: 'wa_id' },
  { table: 'whatsapp_webhook_deliveries', marker: 'body' },
  { table: 'whatsapp_inbound', marker: 'sender' },
  { table: 'whatsapp_statuses', marker: 'wamid' },
  { table: 'whatsapp_outbox', marker: 'recipient' },
  { table: 'whatsapp_sandbox_messages', marker: 'recipient' },
] as const;

export const CLEAR_SUFFIX = '__clear';

const hasTable = (db: Db, table: string): boolean => db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined;
const hasColumn = (db: Db, table: string, column: string): boolean => db.prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').get(table, column) !== undefined;

export function firstLayout(db: Db): void {
  for (const { table, marker } of CLEAR_TABLES) {
    if (!hasColumn(db, table, marker)) continue;
    // the old indexes keep their names through the rename; they would stop the new ones from being created
    for (const name of db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`).pluck().all(table) as string[]) {
      db.exec(`DROP INDEX "${name.replace(/"/g, '""')}"`);
    }
    db.exec(`ALTER TABLE ${table} RENAME TO ${table}${CLEAR_SUFFIX}`);
  }
  // sealed before webhook bodies were recorded once (body digests)
  if (hasTable(db, 'whatsapp_webhook_deliveries') && !hasColumn(db, 'whatsapp_webhook_deliveries', 'body_tag')) {
    db.exec('ALTER TABLE whatsapp_webhook_deliveries ADD COLUMN body_tag TEXT');
  }
  db.exec(LAYOUT);
}
