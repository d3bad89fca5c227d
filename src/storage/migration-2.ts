import type { Db } from './database.js';

/**
 * Migration 2: residents' subscriptions to zones (each row is the consent record: who, sealed number, zone, the
 * text agreed to and when, the inbound message), notices, and one row per notice and resident, committed before
 * the message is queued so that a restart resumes a notice instead of repeating it.
 */
export function noticesLayout(db: Db): void {
  db.exec(`
    CREATE TABLE notice_subscriptions (
      id INTEGER PRIMARY KEY AUTOINCREMENT, pseudonym TEXT NOT NULL, contact_sealed BLOB NOT NULL, zone TEXT NOT NULL,
      lang TEXT NOT NULL, lat REAL, lon REAL, consent_version TEXT NOT NULL, consent_text TEXT NOT NULL,
      inbound_tag TEXT NOT NULL, inbound_sealed BLOB NOT NULL, created_ms INTEGER NOT NULL, ended_ms INTEGER, end_reason TEXT);
    CREATE UNIQUE INDEX notice_subscriptions_active ON notice_subscriptions (pseudonym, zone) WHERE ended_ms IS NULL;
    CREATE INDEX notice_subscriptions_zone ON notice_subscriptions (zone) WHERE ended_ms IS NULL;
    CREATE TABLE notice_pending_pins (pseudonym TEXT PRIMARY KEY, lang TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE TABLE notices (
      id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, title TEXT NOT NULL, text_json TEXT NOT NULL,
      target_json TEXT NOT NULL, send_at_ms INTEGER NOT NULL, status TEXT NOT NULL, targeted INTEGER NOT NULL,
      created_ms INTEGER NOT NULL, started_ms INTEGER, finished_ms INTEGER, cancelled_ms INTEGER);
    CREATE TABLE notice_recipients (
      notice_id INTEGER NOT NULL, pseudonym TEXT NOT NULL, contact_sealed BLOB NOT NULL, lang TEXT NOT NULL,
      queued INTEGER NOT NULL DEFAULT 0, sent_ms INTEGER, delivery TEXT, error_code INTEGER,
      replied_ms INTEGER, unsubscribed_ms INTEGER,
      PRIMARY KEY (notice_id, pseudonym));
    CREATE INDEX notice_recipients_queue ON notice_recipients (notice_id) WHERE queued = 0;
    CREATE INDEX notice_recipients_who ON notice_recipients (pseudonym, sent_ms);
  `);
}
