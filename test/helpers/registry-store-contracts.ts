// What every DeviceSecrets, BinRegistry and ZonesAndCrews must do, whatever keeps the rows (SQLite, PostgreSQL):
// each implementation runs these cases against a fresh, empty database of its own. `open()` gives another store on
// that same database, as another process (the `devices` command) or another instance would have, already loaded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceSecrets } from '../../src/broker/index.js';
import type { Crew, Zone } from '../../src/config/index.js';
import type { Bin, BinRegistry, ZonesAndCrews } from '../../src/registry/index.js';

export interface Fresh<S> {
  open(): Promise<S>;
}

const bin = (id: string, more: Partial<Bin> = {}): Bin => ({ id, lat: 52, lon: 5, address: 'a', zone: 'north', kind: 'rest', capacity_l: 240, depth_mm: 1000, sensor_offset_mm: 0, ...more });

export function deviceSecretsContract(name: string, fresh: () => Promise<Fresh<DeviceSecrets>>): void {
  describe(`${name} (DeviceSecrets contract)`, () => {
    it('issues, verifies, rotates and revokes; keeps only a keyed HMAC record, which opens nothing under another key', async () => {
      const db = await fresh();
      const secrets = await db.open();
      const s1 = await secrets.issue('UTR-0001');
      expect(s1.length).toBeGreaterThanOrEqual(32);
      expect(secrets.record('UTR-0001')).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{43}$/);
      expect(secrets.record('UTR-0001')).not.toContain(s1);
      expect(await secrets.verify('UTR-0001', s1)).toBe(true);
      expect(await secrets.verify('UTR-0001', s1)).toBe(true); // the remembered path
      expect(secrets.matchRemembered('UTR-0001', s1)).toBe(secrets.record('UTR-0001'));
      expect(await secrets.verify('UTR-0001', 'wrong')).toBe(false);
      expect(await secrets.verify('UTR-0002', s1)).toBe(false);
      const s2 = await secrets.issue('UTR-0001');
      expect(await secrets.verify('UTR-0001', s1)).toBe(false);
      expect(await secrets.verify('UTR-0001', s2)).toBe(true);
      await secrets.issue('UTR-0002');
      expect((await secrets.list()).map((d) => d.bin_id)).toEqual(['UTR-0001', 'UTR-0002']);
      expect(secrets.counts()).toEqual({ hmac: 2, scrypt: 0 });
      expect(await secrets.revoke('UTR-0001')).toBe(true);
      expect(await secrets.revoke('UTR-0001')).toBe(false);
      expect(await secrets.verify('UTR-0001', s2)).toBe(false);
      expect([secrets.has('UTR-0001'), secrets.has('UTR-0002')]).toEqual([false, true]);
      // another process or instance on the same database reads the records as they are
      const later = await db.open();
      expect(await later.verify('UTR-0001', s2)).toBe(false);
      expect(later.has('UTR-0002')).toBe(true);
      expect(later.counts()).toEqual({ hmac: 1, scrypt: 0 });
    });

    it("tells of its own changes at once, and of another's when it looks; its own writes are not news", async () => {
      const db = await fresh();
      const secrets = await db.open();
      const changes: (string | null)[] = [];
      const stop = secrets.onChange((c) => changes.push(c.binId));
      const s1 = await secrets.issue('UTR-0001');
      expect(await secrets.revoke('UTR-0009')).toBe(false); // no such secret: nothing changed
      expect(changes).toEqual(['UTR-0001']);
      expect(secrets.generation).toBe(1);
      expect(await secrets.externalChange()).toBe(false);

      const other = await db.open();
      expect(await other.verify('UTR-0001', s1)).toBe(true);
      const s2 = await other.issue('UTR-0002');
      expect(await other.revoke('UTR-0001')).toBe(true);
      expect(await secrets.externalChange()).toBe(true);
      expect(await secrets.externalChange()).toBe(false);
      expect(changes).toEqual(['UTR-0001', null]);
      expect(secrets.generation).toBe(2);
      expect(secrets.has('UTR-0001')).toBe(false);
      expect(await secrets.verify('UTR-0001', s1)).toBe(false);
      expect(await secrets.verify('UTR-0002', s2)).toBe(true);
      // a rotation elsewhere ends what the old secret opened here, once seen
      const s3 = await other.issue('UTR-0002');
      expect(await secrets.externalChange()).toBe(true);
      expect(secrets.matchRemembered('UTR-0002', s2)).toBeNull();
      expect(await secrets.verify('UTR-0002', s2)).toBe(false);
      expect(await secrets.verify('UTR-0002', s3)).toBe(true);
      stop();
      await secrets.issue('UTR-0003');
      expect(changes).toHaveLength(3);
    });
  });
}

export function binRegistryContract(name: string, fresh: () => Promise<Fresh<BinRegistry>>): void {
  describe(`${name} (BinRegistry contract)`, () => {
    it('adds, updates and removes bins with ids ignoring case, and finds a network server device', async () => {
      const registry = await (await fresh()).open();
      const v0 = registry.version;
      await registry.upsert([bin('UTR-0001'), bin('UTR-0002', { dev_eui: '70b3d57ed0000002', device_id: 'dev-2' })]);
      expect(registry.version).toBeGreaterThan(v0);
      const [stored] = await registry.upsert([bin('utr-0001', { address: 'new address' })]);
      expect(stored!.id).toBe('UTR-0001');
      expect(registry.all().map((b) => [b.id, b.address])).toEqual([
        ['UTR-0001', 'new address'],
        ['UTR-0002', 'a'],
      ]);
      expect(registry.lookup('utr-0002')?.id).toBe('UTR-0002');
      expect(registry.findByDevice({ devEui: '70B3D57ED0000002' })?.id).toBe('UTR-0002');
      expect(registry.findByDevice({ deviceId: 'DEV-2' })?.id).toBe('UTR-0002');
      expect(registry.findByDevice({ deviceId: 'utr-0001' })?.id).toBe('UTR-0001');
      expect((await registry.remove('Utr-0001'))?.id).toBe('UTR-0001');
      expect(await registry.remove('UTR-0001')).toBeUndefined();
      expect(registry.size).toBe(1);
    });

    it('keeps its bins for the next start, with every column as given', async () => {
      const db = await fresh();
      const registry = await db.open();
      const full = bin('B-1', { lat: 52.0907, lon: 5.1214, address: 'Oudegracht 1', zone: 'centrum', kind: 'paper', capacity_l: 1100, depth_mm: 1200, sensor_offset_mm: 45, device_id: 'ttn-1', dev_eui: '70b3d57ed0000001' });
      await registry.upsert([full, bin('B-2')]);
      const again = await db.open();
      expect(again.get('B-1')).toEqual(full);
      expect(again.get('B-2')).toEqual(bin('B-2'));
    });

    it('imports a bins file once, keeps edits until the file changes, and refuses a bad file whole', async () => {
      const db = await fresh();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-reg-'));
      const file = path.join(dir, 'bins.csv');
      const header = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';
      fs.writeFileSync(file, `${header}\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\n`);
      const registry = await db.open();
      expect(await registry.importFileIfChanged(file)).toBe(1);
      await registry.upsert([{ ...registry.get('A-1')!, address: 'Straat 2' }]);
      const second = await db.open();
      expect(await second.importFileIfChanged(file)).toBeNull();
      expect(second.get('A-1')?.address).toBe('Straat 2');
      fs.appendFileSync(file, 'A-2,52.1,5.1,Straat 3,centrum,rest,240,1000,50\n');
      expect(await second.importFileIfChanged(file)).toBe(2);
      expect(second.get('A-1')?.address).toBe('Straat 1');
      fs.appendFileSync(file, 'A-3,52.1,5.1,Straat 4,west,rest,240,1000,50\n');
      await expect(second.importFileIfChanged(file, { zones: ['centrum'] })).rejects.toThrow(/line 4: zone: unknown zone "west"/);
      expect(second.all().map((b) => b.id)).toEqual(['A-1', 'A-2']);
      expect((await db.open()).size).toBe(2);
    });
  });
}

export function zonesAndCrewsContract(name: string, fresh: () => Promise<Fresh<ZonesAndCrews>>): void {
  const zone = (id: string): Zone => ({ id, name: id.toUpperCase() }) as Zone;
  const crew = (id: string, zones: string[]): Crew => ({ id, name: id, phone: '31600000001', zones, language: 'nl' }) as unknown as Crew;
  describe(`${name} (ZonesAndCrews contract)`, () => {
    it("seeds from the config once, keeps the API's edits until the config changes, and keeps the order they were given in", async () => {
      const db = await fresh();
      const store = await db.open();
      const zones = [zone('west'), zone('north'), zone('east')];
      const crews = [crew('crew-b', ['west']), crew('crew-a', ['north'])];
      expect(await store.seedFromConfig(zones, crews)).toBe(true);
      expect(store.zones().map((z) => z.id)).toEqual(['west', 'north', 'east']);
      expect(store.crews().map((c) => c.id)).toEqual(['crew-b', 'crew-a']);
      await store.putZone({ ...zone('north'), name: 'Noord' } as Zone);
      await store.putZone(zone('centrum'));
      await store.putCrew(crew('crew-0', ['centrum']));
      expect(await store.deleteZone('east')).toBe(true);
      expect(await store.deleteZone('east')).toBe(false);
      expect(await store.deleteCrew('crew-b')).toBe(true);
      expect(store.zone('north')?.name).toBe('Noord');
      const expected = { zones: ['west', 'north', 'centrum'], crews: ['crew-a', 'crew-0'] };
      expect({ zones: store.zones().map((z) => z.id), crews: store.crews().map((c) => c.id) }).toEqual(expected);
      const again = await db.open();
      expect(await again.seedFromConfig(zones, crews)).toBe(false);
      expect({ zones: again.zones().map((z) => z.id), crews: again.crews().map((c) => c.id) }).toEqual(expected);
      expect(again.zone('north')?.name).toBe('Noord');
      expect(await again.seedFromConfig([zone('south')], [])).toBe(true);
      expect([again.zones().map((z) => z.id), again.crews()]).toEqual([['south'], []]);
    });
  });
}
