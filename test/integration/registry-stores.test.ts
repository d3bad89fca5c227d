// The device secrets, bins, zones and crews on both stores: one contract each, run against SQLite and against a real
// PostgreSQL; and on PostgreSQL, two instances on one database seeing each other's changes when they look.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresDeviceSecrets, SqliteDeviceSecrets } from '../../src/broker/index.js';
import { PostgresBinRegistry, PostgresZonesAndCrews, SqliteBinRegistry, SqliteZonesAndCrews, type Bin } from '../../src/registry/index.js';
import { migratePostgres, openPool, type Pool } from '../../src/storage/postgres/index.js';
import { migrated } from '../helpers/db.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { binRegistryContract, deviceSecretsContract, zonesAndCrewsContract, type Fresh } from '../helpers/registry-store-contracts.js';

const KEY = Buffer.alloc(32, 7);

/** A fresh SQLite file; each open() is another connection to it, as another process's. */
function sqlite<S>(make: (db: Database.Database) => S): () => Promise<Fresh<S>> {
  return async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-regs-')), 'x.db');
    const first = new Database(file);
    first.pragma('journal_mode = WAL');
    migrated(first).close();
    return { open: async () => make(new Database(file)) };
  };
}

const cluster = postgresCluster();
const pools: Pool[] = [];

/** A fresh PostgreSQL database at this release's schema; each open() is another instance's store on it, loaded. */
function postgres<S extends { load(): Promise<void> }>(make: (pool: Pool) => S): () => Promise<Fresh<S>> {
  return async () => {
    const url = await freshDatabase(cluster.server);
    const pool = openPool({ url });
    pools.push(pool);
    await migratePostgres(pool);
    return {
      open: async () => {
        const store = make(pool);
        await store.load();
        return store;
      },
    };
  };
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

deviceSecretsContract('SqliteDeviceSecrets', sqlite((db) => new SqliteDeviceSecrets(db, KEY)));
deviceSecretsContract('PostgresDeviceSecrets', postgres((pool) => new PostgresDeviceSecrets(() => pool, KEY)));
binRegistryContract('SqliteBinRegistry', sqlite((db) => new SqliteBinRegistry(db)));
binRegistryContract('PostgresBinRegistry', postgres((pool) => new PostgresBinRegistry(() => pool)));
zonesAndCrewsContract('SqliteZonesAndCrews', sqlite((db) => new SqliteZonesAndCrews(db)));
zonesAndCrewsContract('PostgresZonesAndCrews', postgres((pool) => new PostgresZonesAndCrews(() => pool)));

describe('two instances on one PostgreSQL', () => {
  const bin = (id: string, address = 'a'): Bin => ({ id, lat: 52, lon: 5, address, zone: 'north', kind: 'rest', capacity_l: 240, depth_mm: 1000, sensor_offset_mm: 0 });

  it("know each other's bins once they look, and only read them again when they changed", async () => {
    const db = await postgres((pool) => new PostgresBinRegistry(() => pool))();
    const [a, b] = [await db.open(), await db.open()];
    await a.upsert([bin('UTR-0001'), bin('UTR-0002')]);
    expect(await a.refresh()).toBe(false); // its own write is not news
    expect(b.get('UTR-0001')).toBeUndefined();
    const before = b.version;
    expect(await b.refresh()).toBe(true);
    expect(b.all().map((x) => x.id)).toEqual(['UTR-0001', 'UTR-0002']);
    expect(b.version).toBeGreaterThan(before);
    expect(await b.refresh()).toBe(false);
    await b.upsert([bin('UTR-0002', 'moved')]);
    expect((await b.remove('UTR-0001'))?.id).toBe('UTR-0001');
    expect(await a.refresh()).toBe(true);
    expect(a.all()).toEqual([bin('UTR-0002', 'moved')]);
    // removed by the other first: gone from memory, and not this call's doing
    await a.upsert([bin('UTR-0003')]);
    await b.refresh();
    await a.remove('UTR-0003');
    expect(await b.remove('UTR-0003')).toBeUndefined();
    expect(b.get('UTR-0003')).toBeUndefined();
  });

  it("know each other's zones and crews once they look", async () => {
    const db = await postgres((pool) => new PostgresZonesAndCrews(() => pool))();
    const [a, b] = [await db.open(), await db.open()];
    await a.seedFromConfig([{ id: 'north', name: 'North' }] as never, []);
    expect(b.zones()).toEqual([]);
    expect(await b.refresh()).toBe(true);
    expect(b.zones().map((z) => z.id)).toEqual(['north']);
    // two instances starting together with the same config seed it once
    expect(await b.seedFromConfig([{ id: 'north', name: 'North' }] as never, [])).toBe(false);
    await b.putZone({ id: 'south', name: 'South' } as never);
    expect(await a.refresh()).toBe(true);
    expect(a.zones().map((z) => z.id)).toEqual(['north', 'south']);
  });

  it('refuses an instance whose device key is not the one the secrets were made under, naming the file', async () => {
    const db = await postgres((pool) => new PostgresDeviceSecrets(() => pool, KEY))();
    const first = await db.open();
    // no HMAC record yet: any key may become the one
    const pool = pools.at(-1)!;
    await new PostgresDeviceSecrets(() => pool, Buffer.alloc(32, 9)).load();
    await first.load();
    const secret = await first.issue('UTR-0001');
    await expect(new PostgresDeviceSecrets(() => pool, Buffer.alloc(32, 9)).load()).rejects.toThrow(
      'data_dir/device-secrets.key is not the key the 1 device secrets in PostgreSQL were made under: copy device-secrets.key from the data_dir of an instance already running',
    );
    const same = await db.open();
    expect(await same.verify('UTR-0001', secret)).toBe(true);
  });

  it('two instances starting together with a new bins file import it once', async () => {
    const db = await postgres((pool) => new PostgresBinRegistry(() => pool))();
    const [a, b] = [await db.open(), await db.open()];
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-reg-')), 'bins.csv');
    fs.writeFileSync(file, 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\n');
    const imported = await Promise.all([a.importFileIfChanged(file), b.importFileIfChanged(file)]);
    expect(imported.sort()).toEqual([1, null]);
  });
});
