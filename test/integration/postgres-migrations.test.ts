import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, MigrationError, SchemaTooNewError } from '../../src/storage/index.js';
import { POSTGRES_ONLY_TABLES, migratePostgres, postgresMigrations, postgresSchemaVersion } from '../../src/storage/postgres/index.js';
import { memoryDb } from '../helpers/db.js';
import { freshDatabase, postgresCluster, postgresSchema, sqliteSchema } from '../helpers/postgres.js';

describe('PostgreSQL migrations', () => {
  const cluster = postgresCluster();
  // an empty database: the tests migrate it themselves
  const pool = async (): Promise<pg.Pool> => (await cluster.database({ migrate: false })).pool;

  it('has the same tables as SQLite, column by column: names, types, nullability, defaults, keys and indexes', async () => {
    const p = await pool();
    expect(await migratePostgres(p)).toEqual(MIGRATIONS.map((m) => m.version));
    const fromSqlite = sqliteSchema(memoryDb());
    const fromPostgres = await postgresSchema(p, POSTGRES_ONLY_TABLES);
    expect(Object.keys(fromPostgres)).toEqual(Object.keys(fromSqlite));
    for (const table of Object.keys(fromSqlite)) expect({ table, ...fromPostgres[table] }).toEqual({ table, ...fromSqlite[table] });
  });

  it('keeps the version in schema_version and applies nothing the second time', async () => {
    const p = await pool();
    expect(await postgresSchemaVersion(p)).toBe(0);
    await migratePostgres(p);
    expect(await postgresSchemaVersion(p)).toBe(MIGRATIONS.length);
    expect(await migratePostgres(p)).toEqual([]);
    const { rows } = await p.query<{ version: number; name: string }>('SELECT version, name FROM schema_version ORDER BY version');
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  });

  it('applies each migration once when instances start together', async () => {
    const url = await freshDatabase(cluster.server);
    const instances = [0, 1, 2].map(() => cluster.pool(url));
    const applied = await Promise.all(instances.map((p) => migratePostgres(p)));
    expect(applied.flat().sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
    const { rows } = await instances[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_version');
    expect(rows[0]!.n).toBe(MIGRATIONS.length);
  });

  it('rolls a failed step back whole and says at which version the database stays', async () => {
    const p = await pool();
    const steps = postgresMigrations().slice(0, 2);
    steps.push({ version: 3, name: 'a broken step', sql: 'CREATE TABLE half_made (x int); SELECT no_such_column FROM bins' });
    const err = await migratePostgres(p, steps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/^migration 3 \(a broken step\) failed, the database stays at version 2: column "no_such_column" does not exist/);
    expect(await postgresSchemaVersion(p)).toBe(2);
    const { rows } = await p.query("SELECT to_regclass('half_made') AS t");
    expect(rows).toEqual([{ t: null }]);
  });

  it('refuses a database a newer release migrated', async () => {
    const p = await pool();
    await migratePostgres(p);
    await p.query("INSERT INTO schema_version VALUES (99, 'from the future', 0)");
    await expect(migratePostgres(p)).rejects.toBeInstanceOf(SchemaTooNewError);
  });

  it('pairs every SQLite migration with PostgreSQL DDL', () => {
    expect(() => postgresMigrations(MIGRATIONS, [])).toThrow(new RegExp(`SQLite has ${MIGRATIONS.length} migrations, PostgreSQL 0`));
  });

  it('reads BIGINT columns (epoch milliseconds) as numbers, as better-sqlite3 does', async () => {
    const p = await pool();
    await migratePostgres(p);
    await p.query("INSERT INTO device_secrets VALUES ('UTR-0001', 'h', 1780000000123)");
    const { rows } = await p.query('SELECT issued_at FROM device_secrets');
    expect(rows).toEqual([{ issued_at: 1780000000123 }]);
  });
});
