import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BinsFileError, Registry, parseBinsCsv, parseBinsGeoJson, readBinsFile } from '../../../src/registry/index.js';

const HEADER = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';

describe('parseBinsCsv', () => {
  it('reads rows with numbers, quoted addresses and a BOM', () => {
    const bins = parseBinsCsv(`\uFEFF${HEADER}\nUTR-0001,52.0907,5.1214,"Oudegracht 158, achter",centrum,rest,1100,1200,50\n`);
    expect(bins).toEqual([
      { id: 'UTR-0001', lat: 52.0907, lon: 5.1214, address: 'Oudegracht 158, achter', zone: 'centrum', kind: 'rest', capacity_l: 1100, depth_mm: 1200, sensor_offset_mm: 50 },
    ]);
  });

  it('names the line and column of every problem, and duplicates', () => {
    const text = `${HEADER}\nA-1,52.1,5.1,x,centrum,rest,240,1000,50\nA-2,95,5.1,x,centrum,rest,240,1000,50\nA-1,52.1,5.1,x,centrum,rest,240,1000,50\nA 3,52.1,5.1,x,,rest,240,abc,50\n`;
    try {
      parseBinsCsv(text, 'city.csv');
      throw new Error('expected an error');
    } catch (err) {
      expect(err).toBeInstanceOf(BinsFileError);
      const p = (err as BinsFileError).problems;
      expect(p).toContain('line 3: lat: Too big: expected number to be <=90');
      expect(p).toContain('line 4: id A-1 appears twice');
      expect(p.some((m) => m.startsWith('line 5: id:'))).toBe(true);
      expect(p.some((m) => m.startsWith('line 5: zone:'))).toBe(true);
      expect(p.some((m) => m.startsWith('line 5: depth_mm:'))).toBe(true);
    }
  });
});

describe('parseBinsGeoJson', () => {
  it('reads Point features, [lon, lat] order', () => {
    const bins = parseBinsGeoJson({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'Point', coordinates: [5.1214, 52.0907] }, properties: { id: 'UTR-0001', address: 'Oudegracht 158', zone: 'centrum', kind: 'glass', capacity_l: 3000, depth_mm: 1600, sensor_offset_mm: 60 } },
      ],
    });
    expect(bins[0]).toMatchObject({ id: 'UTR-0001', lat: 52.0907, lon: 5.1214, kind: 'glass' });
  });

  it('refuses other geometries', () => {
    expect(() => parseBinsGeoJson({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'LineString', coordinates: [] }, properties: {} }] })).toThrow(BinsFileError);
  });
});

describe('the example city', () => {
  it.each(['config/bins.example.csv', 'config/bins.example.geojson'])('%s is a valid bins file of a few hundred bins', (file) => {
    const bins = readBinsFile(file);
    expect(bins.length).toBeGreaterThanOrEqual(300);
    expect(new Set(bins.map((b) => b.zone)).size).toBeGreaterThanOrEqual(4);
    expect(new Set(bins.map((b) => b.kind)).size).toBeGreaterThanOrEqual(3);
  });
});

describe('Registry', () => {
  it('imports a file once, keeps API edits until the file changes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-reg-'));
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, `${HEADER}\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\n`);
    const db = new Database(path.join(dir, 'x.db'));
    const reg = new Registry(db);
    expect(reg.importFileIfChanged(file)).toBe(1);
    reg.upsert([{ ...reg.get('A-1')!, address: 'Straat 2' }]);
    expect(new Registry(db).importFileIfChanged(file)).toBeNull();
    expect(new Registry(db).get('A-1')?.address).toBe('Straat 2');
    fs.appendFileSync(file, 'A-2,52.1,5.1,Straat 3,centrum,rest,240,1000,50\n');
    const again = new Registry(db);
    expect(again.importFileIfChanged(file)).toBe(2);
    expect(again.get('A-1')?.address).toBe('Straat 1');
    expect(again.size).toBe(2);
  });
});
