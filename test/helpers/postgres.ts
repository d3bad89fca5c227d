// PostgreSQL for the store's tests: one cluster per test file (servers.ts startPostgres), an empty database per test,
// and both stores' schemas described the same way so that a test can compare them.
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Db } from '../../src/storage/index.js';
import { migratePostgres, openPool, type PoolOptions } from '../../src/storage/postgres/index.js';
import { startPostgres, type Postgres } from './servers.js';

let databases = 0;

/** A new, empty database in the cluster; its URL. */
export async function freshDatabase(server: Postgres, prefix = 't'): Promise<string> {
  const name = `${prefix}_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The PostgreSQL cluster of a test file (or describe block), and the pools its tests open on it. */
export interface TestCluster {
  /** the running server (from the scope's beforeAll on) */
  readonly server: Postgres;
  /** a pool on `url`, another instance on that database; ended after the scope's tests */
  pool(url: string, applicationName?: string, opts?: Omit<PoolOptions, 'url' | 'applicationName'>): pg.Pool;
  /** a fresh database at this release's layout (unless `migrate: false`) and a pool on it */
  database(opts?: { migrate?: boolean; applicationName?: string; pool?: Omit<PoolOptions, 'url' | 'applicationName'> }): Promise<{ url: string; pool: pg.Pool }>;
  /** a fresh database at this release's layout and two pools on it: two instances */
  twoInstances(): Promise<[pg.Pool, pg.Pool]>;
}

/**
 * The PostgreSQL cluster of the calling scope's tests (top level of a file, or a describe block): the run's shared
 * one (test/global-setup.ts) when there is one, else a cluster of its own started before the scope's tests and
 * stopped after them; `own: true` for a scope that stops and starts the server. Every pool opened through it is
 * ended after the scope's tests.
 */
export function postgresCluster(opts: { own?: boolean } = {}): TestCluster {
  let server: Postgres | undefined;
  let started = false;
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    const shared = opts.own ? null : inject('sharedPostgres');
    if (shared) server = sharedServer(shared);
    else {
      server = await startPostgres();
      started = true;
    }
  }, 60_000);
  afterAll(async () => {
    // a test may have ended its pool itself
    await Promise.all(pools.filter((p) => !p.ended).map((p) => p.end().catch(() => {})));
    if (started) await server?.destroy();
  });
  const cluster: TestCluster = {
    get server() {
      if (!server) throw new Error('the PostgreSQL cluster starts in beforeAll: use it inside a test');
      return server;
    },
    pool(url, applicationName = 'binbridge-test', opts = {}) {
      const p = openPool({ ...opts, url, applicationName });
      pools.push(p);
      return p;
    },
    async database(opts = {}) {
      const url = await freshDatabase(cluster.server);
      const pool = cluster.pool(url, opts.applicationName, opts.pool);
      if (opts.migrate ?? true) await migratePostgres(pool);
      return { url, pool };
    },
    async twoInstances() {
      const { url, pool } = await cluster.database({ applicationName: 'binbridge-a' });
      return [pool, cluster.pool(url, 'binbridge-b')];
    },
  };
  return cluster;
}

/** The run's shared cluster, which no test may stop: one that does asks postgresCluster for its own. */
function sharedServer(shared: { url: string; port: number }): Postgres {
  const refuse = (): never => {
    throw new Error('the run\'s shared PostgreSQL cluster is not stopped by a test: use postgresCluster({ own: true })');
  };
  return { ...shared, dir: '', logFile: '', logTail: () => '', start: refuse, stop: refuse, destroy: refuse };
}

/** A column as both stores can say it: the type by SQLite's affinity, nullable unless NOT NULL or in the key. */
export interface ColumnShape {
  name: string;
  type: 'INTEGER' | 'REAL' | 'TEXT' | 'BLOB';
  nullable: boolean;
  hasDefault: boolean;
}

export interface TableShape {
  columns: ColumnShape[];
  primaryKey: string[];
  /** UNIQUE constraints, each as its columns joined by "," (sorted) */
  unique: string[];
  /** named indexes (CREATE INDEX), as "name unique? (columns) partial?" */
  indexes: string[];
}

export type SchemaShape = Record<string, TableShape>;

const sortedKeys = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));

/** SQLite's tables (its own sqlite_* aside). */
export function sqliteSchema(db: Db): SchemaShape {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
  const out: SchemaShape = {};
  for (const table of tables) {
    const info = db.prepare('SELECT name, type, "notnull" AS nn, dflt_value AS d, pk FROM pragma_table_info(?) ORDER BY cid').all(table) as { name: string; type: string; nn: number; d: string | null; pk: number }[];
    const indexList = db.prepare('SELECT name, "unique" AS u, origin, partial FROM pragma_index_list(?)').all(table) as { name: string; u: number; origin: string; partial: number }[];
    const cols = (index: string): string[] => (db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').pluck().all(index) as string[]);
    out[table] = {
      columns: info.map((c) => ({ name: c.name, type: c.type.toUpperCase() as ColumnShape['type'], nullable: c.nn === 0 && c.pk === 0, hasDefault: c.d !== null })),
      primaryKey: info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
      unique: indexList.filter((i) => i.origin === 'u').map((i) => cols(i.name).sort().join(',')).sort(),
      indexes: indexList.filter((i) => i.origin === 'c').map((i) => `${i.name}${i.u ? ' unique' : ''} (${cols(i.name).join(', ')})${i.partial ? ' partial' : ''}`).sort(),
    };
  }
  return sortedKeys(out);
}

const AFFINITY: Record<string, ColumnShape['type']> = { bigint: 'INTEGER', integer: 'INTEGER', 'double precision': 'REAL', text: 'TEXT', bytea: 'BLOB' };

/** PostgreSQL's tables in the public schema, less those named in `leaveOut`. */
export async function postgresSchema(pool: pg.Pool | pg.Client, leaveOut: readonly string[] = []): Promise<SchemaShape> {
  const { rows: columns } = await pool.query<{ t: string; name: string; type: string; nullable: string; d: string | null; identity: string }>(
    `SELECT table_name AS t, column_name AS name, data_type AS type, is_nullable AS nullable, column_default AS d, is_identity AS identity
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const { rows: constraints } = await pool.query<{ t: string; kind: string; cols: string[] }>(
    `SELECT c.conrelid::regclass::text AS t, c.contype AS kind,
            array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols
       FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace WHERE s.nspname = 'public' AND c.contype IN ('p', 'u')`,
  );
  const { rows: indexes } = await pool.query<{ t: string; name: string; unique: boolean; partial: boolean; cols: string[] }>(
    `SELECT t.relname AS t, i.relname AS name, x.indisunique AS unique, x.indpred IS NOT NULL AS partial,
            array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)::text[] AS cols
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace
      WHERE s.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`,
  );
  const out: SchemaShape = {};
  for (const c of columns) {
    if (leaveOut.includes(c.t)) continue;
    const table = (out[c.t] ??= { columns: [], primaryKey: [], unique: [], indexes: [] });
    const type = AFFINITY[c.type];
    if (!type) throw new Error(`${c.t}.${c.name}: PostgreSQL type ${c.type} has no SQLite counterpart in this comparison`);
    table.columns.push({ name: c.name, type, nullable: c.nullable === 'YES', hasDefault: c.d !== null });
  }
  for (const c of constraints) {
    const table = out[c.t];
    if (!table) continue;
    if (c.kind === 'p') table.primaryKey = c.cols;
    else table.unique.push([...c.cols].sort().join(','));
  }
  for (const i of indexes) {
    const table = out[i.t];
    if (!table) continue;
    table.indexes.push(`${i.name}${i.unique ? ' unique' : ''} (${i.cols.join(', ')})${i.partial ? ' partial' : ''}`);
  }
  for (const table of Object.values(out)) {
    table.unique.sort();
    table.indexes.sort();
  }
  return sortedKeys(out);
}
