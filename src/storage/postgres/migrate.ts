import type pg from 'pg';
import { realClock, type Clock } from '../../clock.js';
import { MIGRATIONS, MigrationError, SchemaTooNewError, type Migration } from '../migrations.js';
import { POSTGRES_LAYOUTS } from './layouts.js';
import { PostgresUnitOfWork } from './unit-of-work.js';

/** One step of the PostgreSQL schema: the SQLite migration of the same number, in PostgreSQL's DDL. */
export interface PostgresMigration {
  version: number;
  name: string;
  sql: string;
}

/** SQLite's steps and their PostgreSQL DDL, paired by number: a step added to one and not the other fails here. */
export function postgresMigrations(sqlite: readonly Migration[] = MIGRATIONS, layouts: readonly string[] = POSTGRES_LAYOUTS): PostgresMigration[] {
  if (sqlite.length !== layouts.length) {
    throw new RangeError(`SQLite has ${sqlite.length} migrations, PostgreSQL ${layouts.length}: every migration needs its PostgreSQL DDL in storage/postgres/layouts.ts`);
  }
  return sqlite.map((m, i) => ({ version: m.version, name: m.name, sql: layouts[i]! }));
}

/**
 * The key of the advisory lock every schema change is made under (any constant; this one spells "binbridg"). The
 * lock is a transaction's own (`pg_advisory_xact_lock`), so it is let go at COMMIT or ROLLBACK, or when the
 * connection dies, and never outlives a crashed migration.
 */
const MIGRATION_LOCK = 0x62696e6272696467n;

/**
 * The runner's own tables, made before migration 1 and kept apart from the numbered layout (SQLite has neither:
 * its version is `PRAGMA user_version` and its one process always holds the lease). `schema_version` has one row per
 * migration applied, with when; `leases` one row per lease (storage/postgres/lease.ts). `report_photos` holds the
 * residents' report photos, which SQLite's instance keeps as files in its data_dir (reports/photos-postgres.ts): where
 * instances share the store, a photo received at one is served by all.
 */
const RUNNER_TABLES = `
  CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL);
  CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
  CREATE TABLE IF NOT EXISTS report_photos (file TEXT PRIMARY KEY, mime TEXT NOT NULL, bytes BYTEA NOT NULL, created_at BIGINT NOT NULL);
`;

/** Tables that only the PostgreSQL store has (the schema comparison with SQLite leaves them out). */
export const POSTGRES_ONLY_TABLES = ['schema_version', 'leases', 'report_photos'] as const;

async function currentVersion(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_version');
  return rows[0]!.v;
}

/** Runs `work` in a transaction that first takes the migration lock: a second instance waits here, then re-reads. */
function locked<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return new PostgresUnitOfWork(pool, (client) => client).tx(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    return work(client);
  });
}

/**
 * Brings the PostgreSQL database to the last of `migrations`, each in a transaction of its own that also records its
 * version in `schema_version` (PostgreSQL's DDL is transactional, so a step is done or not at all). Every step holds
 * the migration lock and re-reads the version, so instances started together apply each step once: the others wait,
 * then skip it. Returns the versions this call applied.
 */
export async function migratePostgres(pool: pg.Pool, migrations: readonly PostgresMigration[] = postgresMigrations(), clock: Pick<Clock, 'now'> = realClock): Promise<number[]> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new RangeError(`migration ${m.version} (${m.name}) is listed as number ${i + 1}: versions run 1, 2, 3, … without gaps`);
  });
  const found = await locked(pool, async (client) => {
    await client.query(RUNNER_TABLES);
    return currentVersion(client);
  });
  if (found > migrations.length) throw new SchemaTooNewError(found, migrations.length);
  const applied: number[] = [];
  for (const m of migrations.slice(found)) {
    try {
      const done = await locked(pool, async (client) => {
        if ((await currentVersion(client)) >= m.version) return false;
        await client.query(m.sql);
        await client.query('INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, $2, $3)', [m.version, m.name, clock.now()]);
        return true;
      });
      if (done) applied.push(m.version);
    } catch (err) {
      const at = await locked(pool, currentVersion).catch(() => m.version - 1);
      throw new MigrationError({ version: m.version, name: m.name, up: () => {} }, at, err);
    }
  }
  return applied;
}

/** The version a PostgreSQL database is at (0 when binbridge never migrated it). */
export async function postgresSchemaVersion(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (rows[0]!.t === null) return 0;
  const { rows: version } = await pool.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_version');
  return version[0]!.v;
}
