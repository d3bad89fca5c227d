import type { Db } from './database.js';

/**
 * Migration 10: the registry's change counters and the zones' and crews' order. Every instance on a shared
 * PostgreSQL keeps the bins, zones and crews in memory and reads them again when a counter moves (a trigger moves
 * it with each change, as device_secrets_version's does); zones and crews keep the order they were given in (the
 * config's, then the API's additions), which SQLite kept as rowid and PostgreSQL has no equal of: the first crew
 * on shift in that order takes a zone's job.
 */
export function registryVersionLayout(db: Db): void {
  const bump = (name: string): string =>
    `INSERT INTO registry_version (name, version) VALUES ('${name}', 1) ON CONFLICT (name) DO UPDATE SET version = version + 1;`;
  const triggers = (table: string, name: string): string =>
    ['INSERT', 'UPDATE', 'DELETE'].map((op) => `CREATE TRIGGER ${table}_${op.toLowerCase()}_counted AFTER ${op} ON ${table} BEGIN ${bump(name)} END;`).join('\n');
  db.exec(`
    CREATE TABLE registry_version (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
    ALTER TABLE zones ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE crews ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE zones SET seq = rowid;
    UPDATE crews SET seq = rowid;
    ${triggers('bins', 'bins')}
    ${triggers('zones', 'zones_and_crews')}
    ${triggers('crews', 'zones_and_crews')}
  `);
}
