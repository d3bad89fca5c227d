import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { BinsFileError, SqliteBinRegistry, parseBinsCsv, parseBinsGeoJson, parseWasteContainers, readBinsFile } from '../../../src/registry/index.js';
import { migrated } from '../../helpers/db.js';

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

// the acceptance scripts' city, beside the project (or beside the worktrees' folder)
const ACCEPTANCE_CITY = ['../shared', '../../shared'].map((d) => path.resolve(d, 'acceptance/city.csv')).filter((f) => fs.existsSync(f));

const KNOWN = { zones: ['centrum', 'oost'], kinds: ['rest', 'paper', 'glass'] };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BinsFileError);
    return (err as BinsFileError).problems;
  }
  throw new Error('expected a BinsFileError');
}

describe('every bad row in one go', () => {
  it('CSV: unknown zones and kinds with the known values, a short row, and the rows after them', () => {
    const text = [
      HEADER,
      'A-1,52.1,5.1,x,centrum,rest,240,1000,50',
      'A-2,52.1,5.1,x,oots,rest,240,1000,50',
      'A-3,52.1,5.1,x,atlantis,pmd,240,1000,50',
      'A-4,52.1,5.1,x,centrum',
      'A-5,52.1,5.1,x,oost,glas,240,1000,50',
      'A-6,95,5.1,x,oost,paper,240,1000,50',
    ].join('\n');
    const p = problemsOf(() => parseBinsCsv(text, 'city.csv', KNOWN));
    expect(p).toEqual([
      'line 3: zone: unknown zone "oots"; did you mean oost?',
      'line 4: zone: unknown zone "atlantis"; known zones: centrum, oost',
      'line 4: kind: unknown kind "pmd"; known kinds: rest, paper, glass',
      'line 5: expected 9 fields (the header\'s), got 5',
      'line 6: kind: unknown kind "glas"; did you mean glass?',
      'line 7: lat: Too big: expected number to be <=90',
    ]);
  });

  it('CSV: a missing column is one problem that names it, with the header\'s near miss', () => {
    const text = 'id,lat,lon,address,zome,kind,capacity_l,depth_mm\nA-1,52.1,5.1,x,centrum,rest,240,1000\nA-2,52.1,5.1,x,centrum,rest,240,1000\n';
    expect(problemsOf(() => parseBinsCsv(text))).toEqual(['header: no column zone (is zome meant to be zone?)']);
  });

  it('CSV: a misspelt optional column is an error, other extra columns are ignored', () => {
    const text = `id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_ofset_mm,owner\nA-1,52.1,5.1,x,centrum,rest,240,1000,50,city\n`;
    expect(problemsOf(() => parseBinsCsv(text))).toEqual(['header: unknown column sensor_ofset_mm; did you mean sensor_offset_mm?']);
    expect(parseBinsCsv(text.replace('sensor_ofset_mm', 'sensor_offset_mm'))[0]).toMatchObject({ id: 'A-1', sensor_offset_mm: 50 });
  });

  it('CSV: a value that is not a number names its line, column and the value; an empty one is missing, not 0', () => {
    const text = `${HEADER}\nA-1,52.1,abc,x,centrum,rest,12x,1000,50\nA-2,,5.1,x,centrum,rest,240,1000,\nA-3,52.1,5.1,x,centrum,rest,240,1000,-\n`;
    let message = '';
    expect(
      problemsOf(() => {
        try {
          return parseBinsCsv(text, 'city.csv');
        } catch (err) {
          message = (err as Error).message;
          throw err;
        }
      }),
    ).toEqual(['line 2: lon: "abc" is not a number', 'line 2: capacity_l: "12x" is not a number', 'line 3: lat: empty; a number is needed', 'line 4: sensor_offset_mm: "-" is not a number']);
    expect(message).toContain('bins file city.csv: 4 problem(s):\n  line 2: lon: "abc" is not a number');
    // an optional column left empty takes its default
    expect(parseBinsCsv(`${HEADER}\nA-2,52.1,5.1,x,centrum,rest,240,1000,\n`)[0]?.sensor_offset_mm).toBe(0);
  });

  it('CSV: line numbers count quoted line breaks and blank lines', () => {
    const text = `${HEADER}\n\nA-1,52.1,5.1,"Straat 1\nachter",centrum,rest,240,1000,50\nA-2,52.1,5.1,x,centrum,rest,240,abc,50\n`;
    expect(problemsOf(() => parseBinsCsv(text))).toEqual(['line 5: depth_mm: "abc" is not a number']);
  });

  it('GeoJSON: a bad geometry does not hide the other features\' problems', () => {
    const f = (id: string, zone: string, coordinates: unknown = [5.1, 52.1]) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates },
      properties: { id, address: 'x', zone, kind: 'rest', capacity_l: 240, depth_mm: 1000 },
    });
    const p = problemsOf(() =>
      parseBinsGeoJson({ type: 'FeatureCollection', features: [f('A-1', 'centrum'), f('A-2', 'centrum', [5.1]), f('A-3', 'noord'), { ...f('A-4', 'oost'), geometry: { type: 'LineString', coordinates: [] } }] }, 'city.geojson', KNOWN),
    );
    expect(p).toEqual([
      'feature 1 (A-2): geometry: a Point with [lon, lat]',
      'feature 2 (A-3): zone: unknown zone "noord"; known zones: centrum, oost',
      'feature 3 (A-4): geometry: a Point with [lon, lat]',
    ]);
  });

  it('NGSI-LD: unknown zones and kinds name the entity', () => {
    const e = (id: string, zone: string) => ({
      id: `urn:ngsi-ld:WasteContainer:${id}`,
      type: 'WasteContainer',
      location: { type: 'Point', coordinates: [5.12, 52.09] },
      areaServed: zone,
      storedWasteKind: 'organic',
      cargoVolume: 240,
      height: 1,
    });
    const p = problemsOf(() => parseWasteContainers([e('B-1', 'centrum'), e('B-2', 'centrun')], 'city.jsonld', { zones: ['centrum'], kinds: ['rest', 'organic'] }));
    expect(p).toEqual(['entity 1: zone: unknown zone "centrun"; did you mean centrum?']);
  });

  it('without known zones, any zone is taken (the zones are the file\'s own)', () => {
    expect(parseBinsCsv(`${HEADER}\nA-1,52.1,5.1,x,anywhere,rest,240,1000,50\n`, 'c.csv', { zones: null, kinds: ['rest'] })).toHaveLength(1);
  });

  it('a missing file is one problem naming it', () => {
    let err: unknown;
    try {
      readBinsFile('/nonexistent/none.csv');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BinsFileError);
    expect((err as BinsFileError).notFound).toBe(true);
    expect((err as Error).message).toBe('bins file not found: /nonexistent/none.csv');
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
  const { config } = loadConfig({ file: 'config/binbridge.yaml', env: {} });
  const known = { zones: config.zones.map((z) => z.id), kinds: config.registry.kinds };

  it.each(['config/bins.example.csv', 'config/bins.example.geojson', ...ACCEPTANCE_CITY])('%s is a valid bins file for the example config', (file) => {
    expect(readBinsFile(file, known).length).toBeGreaterThan(50);
  });

  it.each(['config/bins.example.csv', 'config/bins.example.geojson'])('%s is a valid bins file of a few hundred bins', (file) => {
    const bins = readBinsFile(file, known);
    expect(bins.length).toBeGreaterThanOrEqual(300);
    expect(new Set(bins.map((b) => b.zone)).size).toBeGreaterThanOrEqual(4);
    expect(new Set(bins.map((b) => b.kind)).size).toBeGreaterThanOrEqual(3);
  });
});

describe('BinRegistry', () => {
  it('imports a file once, keeps API edits until the file changes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-reg-'));
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, `${HEADER}\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\n`);
    const db = migrated(new Database(path.join(dir, 'x.db')));
    const reg = new SqliteBinRegistry(db);
    expect(await reg.importFileIfChanged(file)).toBe(1);
    reg.upsert([{ ...reg.get('A-1')!, address: 'Straat 2' }]);
    expect(await new SqliteBinRegistry(db).importFileIfChanged(file)).toBeNull();
    expect(new SqliteBinRegistry(db).get('A-1')?.address).toBe('Straat 2');
    fs.appendFileSync(file, 'A-2,52.1,5.1,Straat 3,centrum,rest,240,1000,50\n');
    const again = new SqliteBinRegistry(db);
    expect(await again.importFileIfChanged(file)).toBe(2);
    expect(again.get('A-1')?.address).toBe('Straat 1');
    expect(again.size).toBe(2);
  });

  it('refuses a file whose bins are in zones the config lacks, and keeps what it had', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-reg-'));
    const file = path.join(dir, 'bins.csv');
    fs.writeFileSync(file, `${HEADER}\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\n`);
    const reg = new SqliteBinRegistry(migrated(new Database(path.join(dir, 'x.db'))));
    expect(await reg.importFileIfChanged(file, KNOWN)).toBe(1);
    fs.writeFileSync(file, `${HEADER}\nA-1,52.1,5.1,Straat 1,centrum,rest,240,1000,50\nA-2,52.1,5.1,Straat 2,west,rest,240,1000,50\n`);
    await expect(reg.importFileIfChanged(file, KNOWN)).rejects.toThrow(/line 3: zone: unknown zone "west"/);
    expect(reg.all().map((b) => b.id)).toEqual(['A-1']);
    await expect(reg.importFileIfChanged(path.join(dir, 'gone.csv'), KNOWN)).rejects.toThrow(/bins file not found: .*gone\.csv/);
  });
});
