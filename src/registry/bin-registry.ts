import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type Database from 'better-sqlite3';

type Db = Database.Database;
import { nextTurn } from '../clock.js';
import type { Bin } from './bin.js';
import { readBinsFile, unreadable, type KnownValues } from './bins-file.js';

/** Bins written per transaction by `upsert` (an import), between turns of the event loop. */
const ROWS_PER_TRANSACTION = 2_000;

/**
 * The bins a city has: read on every reading (by id, by a network server's device) and by the matcher, the
 * dispatcher and the API; changed by the bins file, the API and FIWARE.
 */
export interface BinRegistry {
  /** changes whenever the bins change (consumers rebuild their indexes) */
  readonly version: number;
  readonly size: number;
  /**
   * Imports the file when it changed since the last import; returns how many bins it holds, or null when unchanged.
   * A file with any bad row (or a bin in a zone or of a kind not `known`) is refused whole: the registry keeps what it had.
   */
  importFileIfChanged(file: string, known?: KnownValues): Promise<number | null>;
  /** Adds or updates bins (ids are case-insensitive, as residents' codes are); returns the bins as stored. */
  upsert(bins: readonly Bin[]): Promise<Bin[]>;
  /** Removes the bin with this id (any case); the removed bin, or undefined when there was none. */
  remove(id: string): Promise<Bin | undefined>;
  get(id: string): Bin | undefined;
  /** The bin with this id ignoring case, as residents' codes are: the exact id first, then any case. */
  lookup(id: string): Bin | undefined;
  /** The bin of a network server's device (TTN, ChirpStack): by DevEUI, then device id, then a bin of that id. */
  findByDevice(device: { deviceId?: string | undefined; devEui?: string | undefined }): Bin | undefined;
  all(): Bin[];
}

/** The SHA-256 of a bins file: an import is skipped while it is the last one imported. */
export function binsFileHash(file: string): string {
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch (err) {
    throw unreadable(file, err);
  }
  return createHash('sha256').update(content).digest('hex');
}

/** the meta key of the last imported bins file's hash */
export const BINS_FILE_KEY = 'bins_file_sha256';

/** A bins table row as either database gives it back. */
export type BinRow = Bin & { device_id: string | null; dev_eui: string | null };

export function fromRow(row: BinRow): Bin {
  return { ...row, device_id: row.device_id ?? undefined, dev_eui: row.dev_eui ?? undefined };
}

/**
 * The registry's memory, which every reading's lookup reads: the bins by id, and indexes by id in any case and by
 * a network server's device, rebuilt after a change. Kept by the store behind it.
 */
export abstract class BinsInMemory {
  protected readonly byId = new Map<string, Bin>();
  /** changes whenever the bins change (consumers rebuild their indexes) */
  version = 0;
  private deviceIndex: { version: number; byKey: Map<string, Bin> } | null = null;
  private lowerIndex: { version: number; byId: Map<string, Bin> } | null = null;

  get(id: string): Bin | undefined {
    return this.byId.get(id);
  }

  /** The bin with this id ignoring case, as residents' codes are: the exact id first, then any case. */
  lookup(id: string): Bin | undefined {
    const exact = this.byId.get(id);
    if (exact) return exact;
    if (this.lowerIndex?.version !== this.version) {
      const byId = new Map<string, Bin>();
      for (const b of this.byId.values()) if (!byId.has(b.id.toLowerCase())) byId.set(b.id.toLowerCase(), b);
      this.lowerIndex = { version: this.version, byId };
    }
    return this.lowerIndex.byId.get(id.toLowerCase());
  }

  /**
   * The bin of a network server's device (TTN, ChirpStack): by DevEUI, then by device id (the bins file's
   * dev_eui and device_id columns), then a bin whose id is the device id; ignoring case throughout.
   */
  findByDevice(device: { deviceId?: string | undefined; devEui?: string | undefined }): Bin | undefined {
    if (this.deviceIndex?.version !== this.version) {
      const byKey = new Map<string, Bin>();
      const add = (key: string, bin: Bin): void => {
        if (!byKey.has(key)) byKey.set(key, bin);
      };
      for (const b of this.byId.values()) {
        if (b.dev_eui) add(`eui:${b.dev_eui.toLowerCase()}`, b);
        if (b.device_id) add(`dev:${b.device_id.toLowerCase()}`, b);
        add(`bin:${b.id.toLowerCase()}`, b);
      }
      this.deviceIndex = { version: this.version, byKey };
    }
    const { byKey } = this.deviceIndex;
    const eui = device.devEui?.toLowerCase();
    const id = device.deviceId?.toLowerCase();
    return (
      (eui ? byKey.get(`eui:${eui}`) : undefined) ??
      (id ? (byKey.get(`dev:${id}`) ?? this.byId.get(device.deviceId!) ?? byKey.get(`bin:${id}`)) : undefined)
    );
  }

  all(): Bin[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * The bins as they will be stored: a bin whose id differs only in case from a known one updates that bin and
   * keeps its id, so two bins can never differ only in case.
   */
  protected asStored(bins: readonly Bin[]): Bin[] {
    return bins.map((b) => {
      const known = this.lookup(b.id);
      return known && known.id !== b.id ? { ...b, id: known.id } : b;
    });
  }

  protected remember(bins: readonly Bin[]): void {
    for (const b of bins) this.byId.set(b.id, b);
    this.version++;
  }

  protected forget(id: string): void {
    this.byId.delete(id);
    this.version++;
  }

  protected replaceAll(rows: readonly BinRow[]): void {
    this.version++;
    this.byId.clear();
    for (const row of rows) this.byId.set(row.id, fromRow(row));
  }
}

/**
 * The BinRegistry kept in SQLite and mirrored in memory for the per-reading lookup.
 * The bins file is imported when its content changed since the last import, so edits made
 * through the API survive restarts until the file itself changes.
 */
export class SqliteBinRegistry extends BinsInMemory implements BinRegistry {
  private readonly upsertStmt;

  constructor(private readonly db: Db) {
    super();
    this.upsertStmt = db.prepare(`
      INSERT INTO bins (id, lat, lon, address, zone, kind, capacity_l, depth_mm, sensor_offset_mm, device_id, dev_eui)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, address = excluded.address, zone = excluded.zone,
        kind = excluded.kind, capacity_l = excluded.capacity_l, depth_mm = excluded.depth_mm,
        sensor_offset_mm = excluded.sensor_offset_mm, device_id = excluded.device_id, dev_eui = excluded.dev_eui`);
    this.reload();
  }

  async importFileIfChanged(file: string, known: KnownValues = {}): Promise<number | null> {
    return this.importFileIfChangedNow(file, known);
  }

  /**
   * importFileIfChanged, done before it returns (at start, where the rooms after this one are built on the
   * registry). A file with any bad row is refused whole: the registry keeps what it had.
   */
  importFileIfChangedNow(file: string, known: KnownValues = {}): number | null {
    const hash = binsFileHash(file);
    const last = this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(BINS_FILE_KEY);
    if (last === hash && this.byId.size > 0) return null;
    const bins = readBinsFile(file, known);
    this.db.transaction(() => {
      this.upsertNow(bins);
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(BINS_FILE_KEY, hash);
    }).immediate();
    this.reload();
    return bins.length;
  }

  /**
   * Writes the bins a few thousand rows per transaction, yielding to the event loop in between, so that importing a
   * city (20,000 bins) never stalls readings; they are validated whole before (the import route refuses a file with
   * any bad row), and a write interrupted by a crash is completed by importing the file again (an upsert).
   */
  async upsert(bins: readonly Bin[]): Promise<Bin[]> {
    if (bins.length <= ROWS_PER_TRANSACTION) return this.upsertNow(bins);
    const stored: Bin[] = [];
    for (let i = 0; i < bins.length; i += ROWS_PER_TRANSACTION) {
      if (i > 0) await nextTurn();
      stored.push(...this.upsertNow(bins.slice(i, i + ROWS_PER_TRANSACTION)));
    }
    return stored;
  }

  /** Removes the bin with this id (any case); the removed bin, or undefined when there was none. */
  async remove(id: string): Promise<Bin | undefined> {
    const bin = this.lookup(id);
    if (!bin) return undefined;
    this.db.prepare('DELETE FROM bins WHERE id = ?').run(bin.id);
    this.forget(bin.id);
    return bin;
  }

  private upsertNow(bins: readonly Bin[]): Bin[] {
    const stored = this.asStored(bins);
    this.db.transaction(() => {
      for (const b of stored) this.upsertStmt.run(b.id, b.lat, b.lon, b.address, b.zone, b.kind, b.capacity_l, b.depth_mm, b.sensor_offset_mm, b.device_id ?? null, b.dev_eui ?? null);
    }).immediate();
    this.remember(stored);
    return stored;
  }

  private reload(): void {
    this.replaceAll(this.db.prepare('SELECT * FROM bins ORDER BY id').all() as BinRow[]);
  }
}
