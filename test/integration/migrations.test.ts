import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../../src/alerts/index.js';
import { SqliteDeviceSecrets, loadDeviceKey } from '../../src/broker/index.js';
import { ManualClock } from '../../src/clock.js';
import { SqliteDispatchStore } from '../../src/dispatch/index.js';
import { SqliteZonesAndCrews, SqliteBinRegistry } from '../../src/registry/index.js';
import { SqliteConversationStore, SqliteReportStore } from '../../src/reports/index.js';
import { SqliteBinStateStore, SqliteReadingHistory, SCHEMA_VERSION, SqliteSpool, migrate, openDatabase, type Db } from '../../src/storage/index.js';
import { SandboxTransport, sqliteInbox, sqliteOutbox } from '../../src/whatsapp/index.js';
import { TEST_SEALER as sealer } from '../unit/whatsapp/fixtures.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/data-dir-main');
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as { written_at: number; secrets: Record<string, string> };
const T0 = expected.written_at;
const RESIDENT = '31611111111';
const CREW = '31622222222';
const silent = pino({ level: 'silent' });

const cleanups: (() => unknown)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const tmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'bb-migrations-'));

function open(dir: string): Db {
  const db = openDatabase(dir, { sync: 'normal' });
  cleanups.push(() => db.close());
  return db;
}

/** Every row of every table, by table, in rowid/key order: what an upgrade must leave as it was. */
function rows(db: Db): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[]) {
    out[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY 1, 2`).all();
  }
  return out;
}

/** Tables with their columns and indexes with their columns, as SQLite reports them (not the text of their DDL). */
function layout(db: Db): unknown {
  const objects = db.prepare(`SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`).all() as { type: string; name: string; tbl_name: string }[];
  return objects.map((o) => ({
    ...o,
    columns: o.type === 'table' ? db.prepare('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)').all(o.name) : db.prepare('SELECT name FROM pragma_index_info(?)').pluck().all(o.name),
    indexes: o.type === 'table' ? db.prepare('SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name').all(o.name) : undefined,
  }));
}

/** The fixture, copied: the committed file is never opened for writing. */
function fixtureCopy(): string {
  const dir = tmpDir();
  fs.copyFileSync(path.join(FIXTURE, 'binbridge.db'), path.join(dir, 'binbridge.db'));
  return dir;
}

describe('a data directory written before numbered migrations', () => {
  it('upgrades in place to the latest user_version with every row intact', () => {
    const dir = fixtureCopy();
    const old = new Database(path.join(dir, 'binbridge.db'), { readonly: true });
    expect(old.pragma('user_version', { simple: true })).toBe(0);
    const before = rows(old);
    old.close();
    expect(Object.keys(before)).toHaveLength(24);

    const db = open(dir);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
    const after = rows(db);
    // the old tables keep every row (columns later migrations add come on top, empty); their new tables start empty
    const asBefore = (t: string, r: unknown) => Object.fromEntries(Object.keys((before[t]![0] ?? {}) as object).map((c) => [c, (r as Record<string, unknown>)[c]]));
    expect(Object.fromEntries(Object.keys(before).map((t) => [t, after[t]!.map((r) => asBefore(t, r))]))).toEqual(before);
    expect(after.dispatch_bins!.every((r) => (r as { reason: unknown }).reason === null)).toBe(true);
    expect(after.alerts!.every((r) => (r as { hours_to_full: unknown }).hours_to_full === null)).toBe(true);
    for (const t of Object.keys(after).filter((t) => !(t in before))) expect(after[t], t).toEqual([]);
  });

  it('reads back every bin, secret, reading, alert, job, message and report through the stores', async () => {
    const dir = fixtureCopy();
    const db = open(dir);
    const clock = new ManualClock(T0);

    const registry = new SqliteBinRegistry(db);
    expect(registry.all().map((b) => b.id)).toEqual(['B-001', 'B-002', 'B-003']);
    expect(registry.findByDevice({ devEui: '70B3D57ED0000002' })?.id).toBe('B-002');
    expect(new SqliteZonesAndCrews(db).crews()).toMatchObject([{ id: 'crew-1', phone: CREW, zones: ['north', 'south'] }]);

    const key = loadDeviceKey(dir).key;
    const secrets = new SqliteDeviceSecrets(db, key, { clock });
    expect((await secrets.list()).map((s) => s.bin_id)).toEqual(['B-001', 'B-002']);
    expect(secrets.counts()).toEqual({ hmac: 0, scrypt: 2 });
    expect(await secrets.verify('B-001', 'not-the-secret')).toBe(false);
    expect(await secrets.verify('B-001', expected.secrets['B-001']!)).toBe(true);
    // the scrypt record of the release before is replaced at that first login; B-002's device has not logged in
    expect(secrets.counts()).toEqual({ hmac: 1, scrypt: 1 });
    const after = new SqliteDeviceSecrets(db, key, { clock });
    expect(await after.verify('B-001', expected.secrets['B-001']!)).toBe(true);
    expect(await after.verify('B-001', 'not-the-secret')).toBe(false);

    const state = new SqliteBinStateStore(db, clock);
    expect(state.get('B-003')).toMatchObject({ status: 'offline', temperature_c: 13 });
    expect(state.get('B-001')).toMatchObject({ fill_pct: 87, battery_pct: 79 });
    const history = new SqliteReadingHistory(db, clock, silent);
    const points = history.rangeNow('B-001', T0 - 5 * 3_600_000, T0);
    expect(points).toHaveLength(12);
    expect(points.at(-1)).toMatchObject({ fill: 87, readings: 1, batteryMin: 79 });
    const spool = new SqliteSpool(db, 1024 * 1024, clock);
    expect(spool.stats()).toMatchObject({ depth: 34 });
    expect(spool.peek(1)!.lines[0]).toMatch(/^bin_reading,bin=B-003 fill_pct=16 /);

    const alerts = new SqliteAlertStore(db);
    expect((await alerts.list()).map((a) => [a.bin_id, a.type, a.status, a.value])).toEqual([
      ['B-003', 'battery', 'open', 9],
      ['B-001', 'full', 'open', 87],
      ['B-003', 'offline', 'closed', null],
    ]);
    expect(await alerts.open({ binId: 'B-001', zone: 'north', type: 'full', at: T0, message: 'again' })).toBe(false);

    const jobs = new SqliteDispatchStore(db);
    expect(await jobs.get('J-BBBBB')).toMatchObject({ status: 'sent', urgent: true, bin_ids: ['B-001'], crew_id: 'crew-1' });
    expect(await jobs.get('J-AAAAA')).toMatchObject({ status: 'done', bin_ids: ['B-001', 'B-002'] });
    expect(await jobs.inOpenJob('B-001')).toBe(true);
    expect(await jobs.queue()).toMatchObject([{ binId: 'B-003', zone: 'south', reason: 'threshold' }]);

    const sandbox = new SandboxTransport(db, { sealer, clock });
    expect(sandbox.list().map((m) => [m.to, m.message.type === 'text' && m.message.text.body])).toEqual([[CREW, 'Job J-BBBBB: B-001']]);
    const outbox = sqliteOutbox({ db, transport: sandbox, log: silent, sealer, clock });
    cleanups.push(() => outbox.stop());
    expect((await outbox.list()).map((i) => [i.id, i.key, i.ref, i.to, i.status, i.message.type === 'text' && i.message.text.body])).toEqual([
      [2, 'report:R-AAAA:thanks', null, RESIDENT, 'pending', 'Thank you, bin B-001 was emptied'],
      [1, 'job:J-BBBBB:sent', 'J-BBBBB', CREW, 'pending', 'Job J-BBBBB: B-001 (urgent)'],
    ]);
    expect(await outbox.inWindow(RESIDENT, T0)).toBe(true);
    const inbox = sqliteInbox({ db, log: silent, sealer, clock });
    cleanups.push(() => inbox.stop());
    expect(await inbox.backlog()).toEqual({ pending: 1, failed: 0 });

    const reports = new SqliteReportStore(db);
    const [second, first] = await reports.list({});
    expect(first).toMatchObject({ bin_id: 'B-001', text: 'overflowing again', status: 'open', reporters: 1 });
    expect(second).toMatchObject({ bin_id: null, source: 'open311', service_code: 'missing-bin' });
    const [reporter] = await reports.reportersOf(first!.id);
    expect(sealer.openText(reporter!.contact!)).toBe(RESIDENT);
    expect(await new SqliteConversationStore(db, sealer).get(sealer.pseudonym(RESIDENT))).toMatchObject({ contact: RESIDENT, lang: 'nl' });
  });

  it('ends with the same layout as a fresh database', () => {
    const upgraded = open(fixtureCopy());
    const fresh = open(tmpDir());
    expect(layout(upgraded)).toEqual(layout(fresh));
  });
});

describe('a fresh database', () => {
  it('ends at the latest user_version, and opening it again changes nothing', () => {
    const dir = tmpDir();
    const db = openDatabase(dir, { sync: 'normal' });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    new SqliteBinRegistry(db).upsert([{ id: 'B-9', lat: 1, lon: 2, address: '', zone: 'z', kind: 'rest', capacity_l: 240, depth_mm: 1000, sensor_offset_mm: 0 }]);
    const first = { layout: layout(db), rows: rows(db) };
    db.close();

    const again = open(dir);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect({ layout: layout(again), rows: rows(again) }).toEqual(first);
    expect(migrate(again)).toEqual([]);
  });
});
