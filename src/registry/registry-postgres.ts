import type { Crew, Zone } from '../config/index.js';
import { PostgresUnitOfWork, type Pool, type PoolClient } from '../storage/postgres/index.js';
import type { Bin } from './bin.js';
import { BINS_FILE_KEY, BinsInMemory, binsFileHash, type BinRegistry, type BinRow } from './bin-registry.js';
import { readBinsFile, type KnownValues } from './bins-file.js';
import { putStatement, ZONES_CONFIG_KEY, ZonesInMemory, zonesConfigHash, type ZonesAndCrews } from './zones-and-crews.js';

/** Rows of one INSERT of an import: a city's 20,000 bins go in a few statements. */
const ROWS_PER_STATEMENT = 5000;

/**
 * A table group's change counter (registry_version, migration 10, moved by triggers) and what this instance last
 * knew of it. Writes run in a transaction that first locks the counter's row, so that two instances' changes are
 * one after the other and neither is mistaken for the other's.
 */
class Counted {
  /** the counter as this instance last knew it: -1 before the first read */
  known = -1;
  private work: PostgresUnitOfWork<PoolClient> | null = null;
  private looking: Promise<boolean> | null = null;

  constructor(
    private readonly name: 'bins' | 'zones_and_crews',
    private readonly pool: () => Pool | null,
  ) {}

  db(): Pool {
    const pool = this.pool();
    if (!pool) throw new Error(`${this.name.replaceAll('_', ' ')}: the PostgreSQL store has not started`);
    return pool;
  }

  /** Reads everything (`read`) when the counter moved since the last look; one look at a time. */
  refresh(read: (pool: Pool) => Promise<void>): Promise<boolean> {
    return (this.looking ??= (async () => {
      const pool = this.db();
      const v = await this.version(pool);
      if (v === this.known) return false;
      // the counter first, then the rows: a change between the two is read now and seen again at the next look
      await read(pool);
      this.known = v;
      return true;
    })().finally(() => (this.looking = null)));
  }

  /**
   * One write of this instance's own: the known counter moves past it unless another instance's change came
   * first (the counter was not where this one left it), which the next refresh reads then.
   */
  async write<T>(body: (c: PoolClient) => Promise<T>): Promise<T> {
    this.work ??= new PostgresUnitOfWork(this.db(), (c) => c);
    const { result, before, after } = await this.work.tx(async (c) => {
      const locked = await c.query<{ v: number }>(
        'INSERT INTO registry_version (name, version) VALUES ($1, 0) ON CONFLICT (name) DO UPDATE SET version = registry_version.version RETURNING version AS v',
        [this.name],
      );
      const result = await body(c);
      return { result, before: locked.rows[0]!.v, after: await this.version(c) };
    });
    if (before === this.known) this.known = after;
    return result;
  }

  private async version(db: Pool | PoolClient): Promise<number> {
    const { rows } = await db.query<{ v: number }>('SELECT coalesce((SELECT version FROM registry_version WHERE name = $1), 0) AS v', [this.name]);
    return rows[0]!.v;
  }
}

async function metaValue(db: Pool | PoolClient, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
  return rows[0]?.value;
}

async function setMeta(c: PoolClient, key: string, value: string): Promise<void> {
  await c.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
}

async function upsertBins(c: PoolClient, bins: readonly Bin[]): Promise<void> {
  for (let i = 0; i < bins.length; i += ROWS_PER_STATEMENT) {
    const chunk = bins.slice(i, i + ROWS_PER_STATEMENT);
    const column = <K extends keyof Bin>(k: K): unknown[] => chunk.map((b) => b[k] ?? null);
    await c.query(
      `INSERT INTO bins (id, lat, lon, address, zone, kind, capacity_l, depth_mm, sensor_offset_mm, device_id, dev_eui)
       SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::int[], $10::text[], $11::text[])
       ON CONFLICT (id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, address = excluded.address, zone = excluded.zone,
         kind = excluded.kind, capacity_l = excluded.capacity_l, depth_mm = excluded.depth_mm,
         sensor_offset_mm = excluded.sensor_offset_mm, device_id = excluded.device_id, dev_eui = excluded.dev_eui`,
      (['id', 'lat', 'lon', 'address', 'zone', 'kind', 'capacity_l', 'depth_mm', 'sensor_offset_mm', 'device_id', 'dev_eui'] as const).map(column),
    );
  }
}

/**
 * The BinRegistry in PostgreSQL, shared by every instance on the database, and mirrored in memory for the
 * per-reading lookup as on SQLite. Read whole at start (load()) and again whenever the bins' counter moved
 * (refresh(), once a second from the telemetry room): a bin added, changed or removed on another instance is known
 * here within a second and a read of the bins. Writes go to the database first, then to memory.
 */
export class PostgresBinRegistry extends BinsInMemory implements BinRegistry {
  private readonly counted: Counted;

  /** `pool`: the store room's, there once it started */
  constructor(pool: () => Pool | null) {
    super();
    this.counted = new Counted('bins', pool);
  }

  /** Reads every bin: at start, before anything looks one up. */
  async load(): Promise<void> {
    await this.refresh();
  }

  /** Reads every bin again when another instance changed them since the last look; true when it did. */
  refresh(): Promise<boolean> {
    return this.counted.refresh(async (pool) => {
      const { rows } = await pool.query<BinRow>('SELECT id, lat, lon, address, zone, kind, capacity_l, depth_mm, sensor_offset_mm, device_id, dev_eui FROM bins ORDER BY id');
      this.replaceAll(rows);
    });
  }

  /**
   * Imports the file when it changed since the last import (by any instance: two starting together with a new file
   * import it once); returns how many bins it holds, or null when unchanged. A file with any bad row is refused whole.
   */
  async importFileIfChanged(file: string, known: KnownValues = {}): Promise<number | null> {
    const hash = binsFileHash(file);
    if ((await metaValue(this.counted.db(), BINS_FILE_KEY)) === hash && this.size > 0) return null;
    const bins = readBinsFile(file, known);
    const stored = this.asStored(bins);
    const done = await this.counted.write(async (c) => {
      // under the counter's lock: another instance may have imported this very file meanwhile
      if ((await metaValue(c, BINS_FILE_KEY)) === hash && (await c.query('SELECT 1 FROM bins LIMIT 1')).rows.length > 0) return false;
      await upsertBins(c, stored);
      await setMeta(c, BINS_FILE_KEY, hash);
      return true;
    });
    if (!done) {
      await this.refresh();
      return null;
    }
    this.remember(stored);
    return bins.length;
  }

  async upsert(bins: readonly Bin[]): Promise<Bin[]> {
    const stored = this.asStored(bins);
    await this.counted.write((c) => upsertBins(c, stored));
    this.remember(stored);
    return stored;
  }

  async remove(id: string): Promise<Bin | undefined> {
    const bin = this.lookup(id);
    if (!bin) return undefined;
    const { rowCount } = await this.counted.write((c) => c.query('DELETE FROM bins WHERE id = $1', [bin.id]));
    this.forget(bin.id);
    // removed by another instance since this one last looked: not this call's doing
    return (rowCount ?? 0) > 0 ? bin : undefined;
  }
}

/**
 * ZonesAndCrews in PostgreSQL, shared by every instance on the database and read from memory on every decision;
 * read again when their counter moved (refresh(), once a second from the telemetry room).
 */
export class PostgresZonesAndCrews extends ZonesInMemory implements ZonesAndCrews {
  private readonly counted: Counted;

  /** `pool`: the store room's, there once it started */
  constructor(pool: () => Pool | null) {
    super();
    this.counted = new Counted('zones_and_crews', pool);
  }

  async load(): Promise<void> {
    await this.refresh();
  }

  /** Reads the zones and crews again when another instance changed them since the last look; true when it did. */
  refresh(): Promise<boolean> {
    return this.counted.refresh((pool) => this.read(pool));
  }

  /** Replaces zones and crews with the config's when those lists changed since the last seeding (by any instance). */
  async seedFromConfig(zones: readonly Zone[], crews: readonly Crew[]): Promise<boolean> {
    const hash = zonesConfigHash(zones, crews);
    if ((await metaValue(this.counted.db(), ZONES_CONFIG_KEY)) === hash) return false;
    return this.write(async (c) => {
      if ((await metaValue(c, ZONES_CONFIG_KEY)) === hash) return false;
      await c.query('DELETE FROM zones');
      await c.query('DELETE FROM crews');
      for (const z of zones) await c.query(putStatement('zones', '$1', '$2'), [z.id, JSON.stringify(z)]);
      for (const cr of crews) await c.query(putStatement('crews', '$1', '$2'), [cr.id, JSON.stringify(cr)]);
      await setMeta(c, ZONES_CONFIG_KEY, hash);
      return true;
    });
  }

  async putZone(z: Zone): Promise<void> {
    await this.write((c) => c.query(putStatement('zones', '$1', '$2'), [z.id, JSON.stringify(z)]));
  }

  async deleteZone(id: string): Promise<boolean> {
    return this.write(async (c) => ((await c.query('DELETE FROM zones WHERE id = $1', [id])).rowCount ?? 0) > 0);
  }

  async putCrew(c: Crew): Promise<void> {
    await this.write((t) => t.query(putStatement('crews', '$1', '$2'), [c.id, JSON.stringify(c)]));
  }

  async deleteCrew(id: string): Promise<boolean> {
    return this.write(async (c) => ((await c.query('DELETE FROM crews WHERE id = $1', [id])).rowCount ?? 0) > 0);
  }

  /** A write, then both lists as they are once it is made (they are short), read in its transaction and kept once it commits. */
  private async write<T>(body: (c: PoolClient) => Promise<T>): Promise<T> {
    const { result, lists } = await this.counted.write(async (c) => ({ result: await body(c), lists: await this.lists(c) }));
    [this.zoneList, this.crewList] = lists;
    return result;
  }

  private async read(db: Pool): Promise<void> {
    [this.zoneList, this.crewList] = await this.lists(db);
  }

  private async lists(db: Pool | PoolClient): Promise<[Zone[], Crew[]]> {
    const zones = await db.query<{ body: string }>('SELECT body FROM zones ORDER BY seq, id');
    const crews = await db.query<{ body: string }>('SELECT body FROM crews ORDER BY seq, id');
    return [zones.rows.map((r) => JSON.parse(r.body) as Zone), crews.rows.map((r) => JSON.parse(r.body) as Crew)];
  }
}
