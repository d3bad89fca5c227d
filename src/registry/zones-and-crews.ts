import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Crew, Zone } from '../config/index.js';

/** The zones a list of bins names, in order of first appearance, each named by its id (for a config without zones). */
export function zonesOfBins(bins: readonly { zone: string }[]): Zone[] {
  return [...new Set(bins.map((b) => b.zone))].map((id) => ({ id, name: id }));
}

/** the meta key of the hash of the config's zones and crews last seeded (its name predates the class's: kept for existing data) */
export const ZONES_CONFIG_KEY = 'directory_config_sha256';

/** The hash seedFromConfig compares with the one of the last seeding. */
export function zonesConfigHash(zones: readonly Zone[], crews: readonly Crew[]): string {
  return createHash('sha256').update(JSON.stringify({ zones, crews })).digest('hex');
}

/**
 * Adds a zone or crew after the others (`seq`, migration 10: the order they were given in), or changes one where it
 * is; the same statement in both databases, with their placeholders.
 */
export function putStatement(table: 'zones' | 'crews', id: string, body: string): string {
  return `INSERT INTO ${table} (id, body, seq) VALUES (${id}, ${body}, (SELECT coalesce(max(seq), 0) + 1 FROM ${table})) ON CONFLICT (id) DO UPDATE SET body = excluded.body`;
}

/**
 * Zones and crews. The config file seeds them (again whenever its zones/crews change); the admin API edits
 * them, and the edits hold until the config's lists change. Read from memory on every decision.
 */
export interface ZonesAndCrews {
  /** Replaces zones and crews with the config's when those lists changed since the last seeding. */
  seedFromConfig(zones: readonly Zone[], crews: readonly Crew[]): Promise<boolean>;
  zones(): readonly Zone[];
  crews(): readonly Crew[];
  zone(id: string): Zone | undefined;
  putZone(z: Zone): Promise<void>;
  deleteZone(id: string): Promise<boolean>;
  putCrew(c: Crew): Promise<void>;
  deleteCrew(id: string): Promise<boolean>;
}

/** The zones and crews as last read from either database: what every decision reads, from memory. */
export abstract class ZonesInMemory {
  protected zoneList: Zone[] = [];
  protected crewList: Crew[] = [];

  zones(): readonly Zone[] {
    return this.zoneList;
  }

  crews(): readonly Crew[] {
    return this.crewList;
  }

  zone(id: string): Zone | undefined {
    return this.zoneList.find((z) => z.id === id);
  }
}

/** Zones and crews in the bridge's SQLite database, mirrored in memory. */
export class SqliteZonesAndCrews extends ZonesInMemory implements ZonesAndCrews {

  constructor(private readonly db: Database.Database) {
    super();
    this.reload();
  }

  async seedFromConfig(zones: readonly Zone[], crews: readonly Crew[]): Promise<boolean> {
    return this.seedFromConfigNow(zones, crews);
  }

  /** seedFromConfig, done before it returns (at start, where the rooms after this one are built on it). */
  seedFromConfigNow(zones: readonly Zone[], crews: readonly Crew[]): boolean {
    const hash = zonesConfigHash(zones, crews);
    if (this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(ZONES_CONFIG_KEY) === hash) return false;
    this.db.transaction(() => {
      this.db.exec('DELETE FROM zones; DELETE FROM crews;');
      for (const z of zones) this.putZoneNow(z);
      for (const c of crews) this.putCrewNow(c);
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(ZONES_CONFIG_KEY, hash);
    }).immediate();
    this.reload();
    return true;
  }

  async putZone(z: Zone): Promise<void> {
    this.putZoneNow(z);
  }

  async deleteZone(id: string): Promise<boolean> {
    const n = this.db.prepare('DELETE FROM zones WHERE id = ?').run(id).changes;
    this.reload();
    return n > 0;
  }

  async putCrew(c: Crew): Promise<void> {
    this.putCrewNow(c);
  }

  async deleteCrew(id: string): Promise<boolean> {
    const n = this.db.prepare('DELETE FROM crews WHERE id = ?').run(id).changes;
    this.reload();
    return n > 0;
  }

  private putZoneNow(z: Zone): void {
    this.db.prepare(putStatement('zones', '?', '?')).run(z.id, JSON.stringify(z));
    this.reload();
  }

  private putCrewNow(c: Crew): void {
    this.db.prepare(putStatement('crews', '?', '?')).run(c.id, JSON.stringify(c));
    this.reload();
  }

  private reload(): void {
    this.zoneList = (this.db.prepare('SELECT body FROM zones ORDER BY seq, id').pluck().all() as string[]).map((b) => JSON.parse(b) as Zone);
    this.crewList = (this.db.prepare('SELECT body FROM crews ORDER BY seq, id').pluck().all() as string[]).map((b) => JSON.parse(b) as Crew);
  }
}
