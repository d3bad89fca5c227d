// store.url with a postgres:// URL: binbridge connects, migrates and runs on it; a database it cannot use is named in
// one line, exit 2; the URL's password appears in no line it writes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/storage/index.js';
import { startBridge } from '../helpers/bridge.js';
import { cli } from '../helpers/cli.js';
import { spawnInstance } from '../helpers/instance.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 's3cret-Pa55';
/** the URL with a password in it (the test server trusts loopback, so any password is let in) */
const withPassword = (url: string): string => url.replace('postgres://binbridge@', `postgres://binbridge:${SECRET}@`);
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-store-'));

describe('store.url', () => {
  const cluster = postgresCluster();

  it('with a postgres:// URL migrates the database and runs on it, ready, its password nowhere', async () => {
    const url = withPassword(await freshDatabase(cluster.server));
    const shown = url.replace(SECRET, '***');
    const instance = await spawnInstance('store-url', { BINBRIDGE_STORE_URL: url, BINBRIDGE_LOG_LEVEL: 'info' });
    try {
      await waitFor(async () => (await instance.readyz()).status === 200, { timeoutMs: 30_000, message: '/readyz ready' });
      expect((await instance.readyz()).body).toMatchObject({ ready: true, checks: { postgres: 'ok' }, lease: { this_instance: true } });
    } finally {
      expect(await instance.stop()).toBe(0);
    }
    const lines = instance.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === 'PostgreSQL store ready')).toMatchObject([
      { module: 'store', url: shown, applied: Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), version: SCHEMA_VERSION },
    ]);
    expect(instance.output()).not.toContain(SECRET);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_version');
      expect(rows[0]!.n).toBe(SCHEMA_VERSION);
    } finally {
      await client.end();
    }
  }, 90_000);

  it('that cannot be reached is named in one line without its password, exit 2', async () => {
    const url = withPassword(cluster.server.url).replace(`:${cluster.server.port}/`, ':1/');
    const r = await cli(['start'], { BINBRIDGE_STORE_URL: url, BINBRIDGE_DATA_DIR: tmp(), BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `binbridge: cannot use PostgreSQL at ${url.replace(SECRET, '***')} (connection refused: is PostgreSQL running and listening there?; set store.url or BINBRIDGE_STORE_URL)`,
    ]);
    expect(`${r.stdout}${r.stderr}`).not.toContain(SECRET);
  });

  it('naming a database that does not exist says so', async () => {
    const url = withPassword(cluster.server.url).replace(/\/binbridge$/, '/no_such_db');
    const r = await cli(['start'], { BINBRIDGE_STORE_URL: url, BINBRIDGE_DATA_DIR: tmp(), BINBRIDGE_MQTT_PORT: '0', BINBRIDGE_HTTP_PORT: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`binbridge: cannot use PostgreSQL at ${url.replace(SECRET, '***')} (no such database; set store.url or BINBRIDGE_STORE_URL)`);
  });

  it('two instances: one holds the lease for timed work, the other takes it at the first one\'s stop', async () => {
    const url = withPassword(await freshDatabase(cluster.server));
    const logFile = path.join(tmp(), 'log.jsonl');
    const env = { BINBRIDGE_STORE_URL: url, BB_LOG_FILE: logFile };
    const first = await startBridge(env);
    const second = await startBridge(env);
    try {
      expect([first.lease.holds(), second.lease.holds()]).toEqual([true, false]);
      expect(second.lease.holder()).toBe(first.lease.holder());
      const metrics = await (await fetch(`${first.httpUrl}/metrics`)).text();
      expect(metrics).toContain('binbridge_lease_held{lease="timed-work"} 1');
      await first.stop();
      await waitFor(() => second.lease.holds(), { timeoutMs: 10_000, message: 'the second instance takes the lease' });
    } finally {
      await first.stop();
      await second.stop();
    }
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain('PostgreSQL store ready');
    expect(log).toContain('lease taken');
    expect(log).not.toContain(SECRET);
  }, 30_000);

  it('empty keeps the state in SQLite, where this instance always holds the lease', async () => {
    const app = await startBridge();
    try {
      expect([app.lease.holds(), app.lease.holder()]).toEqual([true, expect.stringContaining(`:${process.pid}:`)]);
    } finally {
      await app.stop();
    }
  });
});
