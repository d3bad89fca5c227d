import type { Db } from './database.js';

/**
 * Migration 9: a counter that moves with every change to `device_secrets`, kept by triggers. A running bridge
 * learns of secrets revoked or rotated by another process (the `devices` command) by looking at the database every
 * second; `PRAGMA data_version` alone moves with any other connection's commit — the journal worker's readings
 * every few milliseconds — and each such false alarm had every connected device's session re-read its record.
 */
export function deviceSecretsVersionLayout(db: Db): void {
  // the row appears with the first change (until then the counter reads as 0), so the table starts empty like every new one
  const bump = 'INSERT INTO device_secrets_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = version + 1;';
  db.exec(`
    CREATE TABLE device_secrets_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
    CREATE TRIGGER device_secrets_inserted AFTER INSERT ON device_secrets BEGIN ${bump} END;
    CREATE TRIGGER device_secrets_updated AFTER UPDATE ON device_secrets BEGIN ${bump} END;
    CREATE TRIGGER device_secrets_deleted AFTER DELETE ON device_secrets BEGIN ${bump} END;
  `);
}
