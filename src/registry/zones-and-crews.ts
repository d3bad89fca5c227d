import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Crew, Zone } from '../config/index.js';

/** The zones a list of bins names, in order of first appearance, each named by its id (for a config without zones). */
export function zonesOfBins(bins: readonly { zone: string }[]): Zone[] {
  return [...new Set(bins.map((b) => b.zone))].map((id) => ({ id, name: id }));
}

/**
 * Zones and crews. The config file seeds them (again whenever its zones/crews change); the admin API edits
 * them in SQLite, and the edits hold until the config's lists change. Read from memory on every decision.
 */
export class ZonesAndCrews {
  private zoneList: Zone[] = [];
  private crewList: Crew[] = [];

  constructor(private readonly db: Database.Database) {
    this.reload();
  }

  /** Replaces zones and crews with the config's when those lists changed since the last seeding. */
  seedFromConfig(zones: readonly Zone[], crews: readonly Crew[]): boolean {
    const hash = createHash('sha256').update(JSON.stringify({ zones, crews })).digest('hex');
    const key = 'directory_config_sha256'; // the key's name predates the class's: kept for existing data directories
    if (this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) === hash) return false;
    this.db.transaction(() => {
      this.db.exec('DELETE FROM zones; DELETE FROM crews;');
      for (const z of zones) this.putZone(z);
      for (const c of crews) this.putCrew(c);
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, hash);
    }).immediate();
    this.reload();
    return true;
  }

  zones(): readonly Zone[] {
    return this.zoneList;
  }

  crews(): readonly Crew[] {
    return this.crewList;
  }

  zone(id: string): Zone | undefined {
    return this.zoneList.find((z) => z.id === id);
  }

  putZone(z: Zone): void {
    this.db.prepare('INSERT INTO zones (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body').run(z.id, JSON.stringify(z));
    this.reload();
  }

  deleteZone(id: string): boolean {
    const n = this.db.prepare('DELETE FROM zones WHERE id = ?').run(id).changes;
    this.reload();
    return n > 0;
  }

  putCrew(c: Crew): void {
    this.db.prepare('INSERT INTO crews (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body').run(c.id, JSON.stringify(c));
    this.reload();
  }

  deleteCrew(id: string): boolean {
    const n = this.db.prepare('DELETE FROM crews WHERE id = ?').run(id).changes;
    this.reload();
    return n > 0;
  }

  private reload(): void {
    this.zoneList = (this.db.prepare('SELECT body FROM zones ORDER BY rowid').pluck().all() as string[]).map((b) => JSON.parse(b) as Zone);
    this.crewList = (this.db.prepare('SELECT body FROM crews ORDER BY rowid').pluck().all() as string[]).map((b) => JSON.parse(b) as Crew);
  }
}
