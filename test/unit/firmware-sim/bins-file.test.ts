import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BinsFileError, parseBinsFile, readBinsFile } from '../../../firmware-sim/bins-file.js';

const HEADER = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm';
const CSV = `${HEADER}\nRTM-001,51.9225,4.4792,Coolsingel 2,centrum,paper,1100,1000,50\nRTM-002,51.92,4.47,"Coolsingel 12, hoek",west,rest,240,1300,40\n`;
const BIN_1 = { id: 'RTM-001', lat: 51.9225, lon: 4.4792, address: 'Coolsingel 2', zone: 'centrum', kind: 'paper', capacity_l: 1100, depth_mm: 1000, sensor_offset_mm: 50 };

describe('bins file', () => {
  it('reads the registry CSV', () => {
    const bins = parseBinsFile(CSV, 'bins.csv');
    expect(bins).toHaveLength(2);
    expect(bins[0]).toEqual(BIN_1);
    expect(bins[1]).toMatchObject({ address: 'Coolsingel 12, hoek', depth_mm: 1300, sensor_offset_mm: 40 });
  });

  it('reads a GeoJSON FeatureCollection, taking lat/lon from the Point', () => {
    const { lat, lon, ...properties } = BIN_1;
    const geojson = JSON.stringify({
      type: 'FeatureCollection',
      features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties }],
    });
    expect(parseBinsFile(geojson, 'bins.geojson')).toEqual([BIN_1]);
  });

  it('names the line and the field of a bad row', () => {
    expect(() => parseBinsFile(`${HEADER}\nRTM-001,51.9,4.4,x,centrum,paper,1100,deep,50\n`, 'bins.csv')).toThrow(/bins\.csv: line 2: depth_mm is not a number/);
    expect(() => parseBinsFile(`${HEADER}\nRTM-001,51.9,4.4,x,centrum,paper,1100,,50\n`, 'bins.csv')).toThrow(/line 2: depth_mm is missing/);
  });

  it('refuses duplicate ids and other formats', () => {
    expect(() => parseBinsFile(`${CSV}RTM-001,51.9,4.4,x,centrum,paper,1100,1000,50\n`, 'b.csv')).toThrow(/line 4: duplicate bin id "RTM-001"/);
    expect(() => parseBinsFile('{"type":"Feature"}', 'b.json')).toThrow(BinsFileError);
  });

  it('says which file is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bins-'));
    await expect(readBinsFile(join(dir, 'none.csv'))).rejects.toThrow(/bins file .*none\.csv not found/);
    await writeFile(join(dir, 'b.csv'), CSV);
    await expect(readBinsFile(join(dir, 'b.csv'))).resolves.toHaveLength(2);
  });
});
