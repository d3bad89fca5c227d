import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { fiwareRoutes } from '../../../src/http/routes/fiware.js';
import { problemErrorHandler } from '../../../src/http/problem.js';
import { BinsFileError, SqliteBinRegistry, isNgsiLd, parseWasteContainers, toWasteContainers, type Bin } from '../../../src/registry/index.js';
import { memoryDb } from '../../helpers/db.js';

const CORE = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld';
const SDM = 'https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/context.jsonld';

const normalized = {
  id: 'urn:ngsi-ld:WasteContainer:UTR-0001',
  type: 'WasteContainer',
  location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [5.1214, 52.0907] } },
  address: { type: 'Property', value: { streetAddress: 'Oudegracht 158', addressLocality: 'Utrecht' } },
  areaServed: { type: 'Property', value: 'centrum' },
  storedWasteKind: { type: 'Property', value: 'paper' },
  cargoVolume: { type: 'Property', value: 1100 },
  height: { type: 'Property', value: 1.2 },
  sensor_offset_mm: { type: 'Property', value: 60 },
  refDevice: { type: 'Relationship', object: 'urn:ngsi-ld:Device:lora-17' },
  '@context': [SDM, CORE],
};

const keyValues = {
  id: 'urn:ngsi-ld:WasteContainer:UTR-0002',
  type: 'WasteContainer',
  location: { type: 'Point', coordinates: [5.12, 52.09] },
  address: { type: 'PostalAddress', streetAddress: 'Neude 1' },
  zone: 'noord',
  wasteType: 'packaging',
  cargoVolume: 3000,
  height: 1.6,
  '@context': SDM,
};

describe('parseWasteContainers', () => {
  it('reads normalized entities', () => {
    expect(parseWasteContainers([normalized])).toEqual([
      { id: 'UTR-0001', lat: 52.0907, lon: 5.1214, address: 'Oudegracht 158', zone: 'centrum', kind: 'paper', capacity_l: 1100, depth_mm: 1200, sensor_offset_mm: 60, device_id: 'lora-17' },
    ]);
  });

  it('reads keyValues entities in an object holding one array; unit codes convert; zone and offset fall back', () => {
    const kv = { ...keyValues, cargoVolume: { type: 'Property', value: 3, unitCode: 'MTQ' }, height: { type: 'Property', value: 1600, unitCode: 'MMT' } };
    const [bin] = parseWasteContainers({ items: [kv] });
    expect(bin).toEqual({ id: 'UTR-0002', lat: 52.09, lon: 5.12, address: 'Neude 1', zone: 'noord', kind: 'plastic', capacity_l: 3000, depth_mm: 1600, sensor_offset_mm: 50 });
  });

  it.each([
    ['organic', 'organic'],
    ['paper', 'paper'],
    ['paper&cardboard', 'paper'],
    ['glass', 'glass'],
    ['plastic', 'plastic'],
    ['packaging', 'plastic'],
    ['inorganic', 'rest'],
    ['other', 'rest'],
    [['glass'], 'glass'],
  ])('maps waste %j to kind %s', (waste, kind) => {
    const e = { ...normalized, storedWasteKind: { type: 'Property', value: waste } };
    expect(parseWasteContainers([e])[0]!.kind).toBe(kind);
  });

  it('takes the last segment of another URN as the id, and binCapacity when cargoVolume is missing', () => {
    const { cargoVolume: _c, ...rest } = normalized;
    const [bin] = parseWasteContainers([{ ...rest, id: 'urn:ngsi-ld:wastecontainer:1021:AAWD', binCapacity: { type: 'Property', value: 240 } }]);
    expect(bin).toMatchObject({ id: 'AAWD', capacity_l: 240 });
  });

  it('names the entity and field of every problem, and duplicates', () => {
    const bad = [
      normalized,
      { ...normalized, id: 'urn:ngsi-ld:WasteContainer:B-2', location: { type: 'GeoProperty', value: { type: 'Polygon', coordinates: [] } } },
      { ...normalized, id: 'urn:ngsi-ld:WasteContainer:B-3', areaServed: undefined, height: { type: 'Property', value: 'tall' } },
      { ...normalized, type: 'WasteContainerIsle' },
      normalized,
      'nonsense',
    ];
    try {
      parseWasteContainers(bad, 'city.jsonld');
      throw new Error('expected an error');
    } catch (err) {
      expect(err).toBeInstanceOf(BinsFileError);
      const p = (err as BinsFileError).problems;
      expect(p).toContain('entity 1: location: a GeoJSON Point, [lon, lat]');
      expect(p.some((m) => m.startsWith('entity 2: zone:'))).toBe(true);
      expect(p.some((m) => m.startsWith('entity 2: depth_mm:'))).toBe(true);
      expect(p).toContain('entity 3: type: expected WasteContainer, got "WasteContainerIsle"');
      expect(p).toContain('entity 4: id UTR-0001 appears twice');
      expect(p).toContain('entity 5: entity: not an object');
      expect((err as Error).message).toContain('city.jsonld');
    }
  });

  it('refuses what holds no entity list', () => {
    expect(() => parseWasteContainers({ a: [], b: [] })).toThrow(BinsFileError);
    expect(() => parseWasteContainers(42)).toThrow(BinsFileError);
  });
});

describe('isNgsiLd', () => {
  it('tells WasteContainer entities from GeoJSON and others', () => {
    expect(isNgsiLd([normalized])).toBe(true);
    expect(isNgsiLd({ entities: [keyValues] })).toBe(true);
    expect(isNgsiLd(normalized)).toBe(true);
    expect(isNgsiLd({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: {} }] })).toBe(false);
    expect(isNgsiLd([])).toBe(false);
    expect(isNgsiLd('x')).toBe(false);
  });
});

describe('toWasteContainers', () => {
  const bin = (b: Omit<Bin, 'device_id' | 'dev_eui'> & Partial<Bin>): Bin => ({ device_id: undefined, dev_eui: undefined, ...b });
  const bins: Bin[] = [
    bin({ id: 'UTR-0001', lat: 52.0907, lon: 5.1214, address: 'Oudegracht 158', zone: 'centrum', kind: 'rest', capacity_l: 1100, depth_mm: 1100, sensor_offset_mm: 57 }),
    bin({ id: 'UTR-0002', lat: 52.1, lon: 5.2, address: '', zone: 'noord', kind: 'glass', capacity_l: 3000, depth_mm: 1600, sensor_offset_mm: 0, device_id: 'eui-a1', dev_eui: '70b3d57ed0051234' }),
    bin({ id: 'UTR-0003', lat: -33.9, lon: 18.4, address: 'Long St 1', zone: 'z', kind: 'organic', capacity_l: 240, depth_mm: 900, sensor_offset_mm: 50 }),
    bin({ id: 'UTR-0004', lat: 0, lon: 0, address: 'a', zone: 'z', kind: 'paper', capacity_l: 660, depth_mm: 1300, sensor_offset_mm: 50 }),
    bin({ id: 'UTR-0005', lat: 1, lon: 1, address: 'b', zone: 'z', kind: 'plastic', capacity_l: 5000, depth_mm: 2000, sensor_offset_mm: 50 }),
  ];

  it('exports normalized NGSI-LD that imports back to the same bins', () => {
    const entities = toWasteContainers(bins);
    expect(entities[0]).toMatchObject({
      id: 'urn:ngsi-ld:WasteContainer:UTR-0001',
      type: 'WasteContainer',
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [5.1214, 52.0907] } },
      address: { type: 'Property', value: { streetAddress: 'Oudegracht 158' } },
      areaServed: { type: 'Property', value: 'centrum' },
      storedWasteKind: { type: 'Property', value: 'other' },
      cargoVolume: { type: 'Property', value: 1100, unitCode: 'LTR' },
      height: { type: 'Property', value: 1.1, unitCode: 'MTR' },
      '@context': [SDM, CORE],
    });
    expect(entities[0]).not.toHaveProperty('fillingLevel');
    expect(isNgsiLd(entities)).toBe(true);
    expect(parseWasteContainers(JSON.parse(JSON.stringify(entities)))).toEqual(bins);
  });

  it('adds fillingLevel (0..1), dateObserved, dateLastEmptying and status from the live state', () => {
    const ts = Date.UTC(2025, 4, 1, 8, 30);
    const state = (id: string) =>
      id === 'UTR-0001' ? { fill_pct: 87.5, ts, status: 'online' as const, tilt: 0, emptied_at: ts - 86_400_000 } : id === 'UTR-0002' ? { fill_pct: 120, ts, status: 'offline' as const } : undefined;
    const [a, b, c] = toWasteContainers(bins, state);
    expect(a).toMatchObject({
      fillingLevel: { type: 'Property', value: 0.875, observedAt: '2025-05-01T08:30:00.000Z' },
      dateObserved: { type: 'Property', value: { '@type': 'DateTime', '@value': '2025-05-01T08:30:00.000Z' } },
      dateLastEmptying: { type: 'Property', value: { '@type': 'DateTime', '@value': '2025-04-30T08:30:00.000Z' } },
      status: { type: 'Property', value: 'ok' },
    });
    expect(b).toMatchObject({ fillingLevel: { value: 1 }, status: { value: 'unknown' } });
    expect(b).not.toHaveProperty('dateLastEmptying');
    expect(c).not.toHaveProperty('status');
    expect(toWasteContainers(bins.slice(0, 1), () => ({ fill_pct: 10, ts, tilt: 1 }))[0]).toMatchObject({ status: { value: 'dropped' } });
    expect(parseWasteContainers(toWasteContainers(bins, state))).toEqual(bins);
  });
});

describe('fiwareRoutes', () => {
  it('exports as application/ld+json and imports both content types, 400 with problems', async () => {
    const registry = new SqliteBinRegistry(memoryDb());
    const ts = Date.UTC(2025, 4, 1);
    const app = Fastify();
    app.setErrorHandler(problemErrorHandler(() => {}));
    await app.register(fiwareRoutes({ registry, binState: { get: (id) => (id === 'UTR-0001' ? { fill_pct: 50, ts, status: 'online' } : undefined) } }), { prefix: '/api' });

    const ld = await app.inject({ method: 'POST', url: '/api/bins/import-ngsi-ld', headers: { 'content-type': 'application/ld+json' }, payload: JSON.stringify([normalized]) });
    expect(ld.statusCode).toBe(200);
    expect(ld.json()).toEqual({ imported: 1, total: 1 });
    const json = await app.inject({ method: 'POST', url: '/api/bins/import-ngsi-ld', payload: { entities: [keyValues] } });
    expect(json.json()).toEqual({ imported: 1, total: 2 });
    expect(registry.get('UTR-0002')).toMatchObject({ kind: 'plastic', zone: 'noord' });

    const bad = await app.inject({ method: 'POST', url: '/api/bins/import-ngsi-ld', payload: [{ ...normalized, areaServed: undefined }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.json()).toMatchObject({ status: 400, errors: [{ in: 'body', name: 'entity 0', detail: expect.stringMatching(/^zone:/) }] });
    const broken = await app.inject({ method: 'POST', url: '/api/bins/import-ngsi-ld', headers: { 'content-type': 'application/ld+json' }, payload: '[{' });
    expect(broken.statusCode).toBe(400);

    const out = await app.inject({ method: 'GET', url: '/api/bins.ngsi-ld.json' });
    expect(out.statusCode).toBe(200);
    expect(out.headers['content-type']).toBe('application/ld+json; charset=utf-8');
    const entities = out.json() as { id: string; fillingLevel?: { value: number } }[];
    expect(entities.map((e) => e.id)).toEqual(['urn:ngsi-ld:WasteContainer:UTR-0001', 'urn:ngsi-ld:WasteContainer:UTR-0002']);
    expect(entities[0]!.fillingLevel?.value).toBe(0.5);
    expect(parseWasteContainers(entities)).toEqual(registry.all());
    await app.close();
  });
});
