// The pure parts of the API's one shape: problems, cursors and pages, CSV and its negotiation, case-insensitive ids.
import { parse as parseCsv } from 'csv-parse/sync';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { toCsv, wantsCsv } from '../../../src/http/csv.js';
import { decodeCursor, encodeCursor, knownFilter, pageOf } from '../../../src/http/page.js';
import { HttpProblem, problemOf } from '../../../src/http/problem.js';
import { SqliteBinRegistry, parseBinsCsv, type Bin } from '../../../src/registry/index.js';
import { z } from 'zod';
import { memoryDb } from '../../helpers/db.js';

const req = (url: string, accept?: string) => ({ url, headers: accept === undefined ? {} : { accept } }) as unknown as FastifyRequest;

describe('problems', () => {
  it.each([
    [{ statusCode: 404, message: 'Route GET:/x not found' }, 404, 'Not Found'],
    [{ statusCode: 413, message: 'Request body is too large' }, 413, 'Payload Too Large'],
    [{ statusCode: 400, message: "Body is not valid JSON but content-type is set to 'application/json'" }, 400, 'Bad Request'],
    [{ message: 'boom at /secret/path' }, 500, 'Internal Server Error'],
  ])('%j is a problem of status %i', (err, status, title) => {
    const p = problemOf(Object.assign(new Error(err.message), err));
    expect(p).toMatchObject({ type: 'about:blank', status, title });
    if (status === 500) expect(p.detail).not.toContain('secret');
    else expect(p.detail).toBe(err.message);
  });

  it("lists a schema's failures as errors, by where and which field", () => {
    const err = Object.assign(new Error('bad'), {
      statusCode: 400,
      validationContext: 'querystring',
      validation: [
        { instancePath: '/status', message: 'Invalid option: expected one of "open"|"closed"' },
        { instancePath: '/limit', message: 'Too big: expected number to be <=1000' },
      ],
    });
    const p = problemOf(err);
    expect(p.errors).toEqual([
      { in: 'query', name: 'status', detail: 'Invalid option: expected one of "open"|"closed"' },
      { in: 'query', name: 'limit', detail: 'Too big: expected number to be <=1000' },
    ]);
    expect(p.detail).toContain('status: Invalid option');
  });

  it('keeps the errors and extensions of an HttpProblem', () => {
    const p = problemOf(new HttpProblem(400, 'zone: unknown', [{ in: 'query', name: 'zone', detail: 'unknown' }], { known: { zone: ['a'] } }));
    expect(p).toEqual({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'zone: unknown', errors: [{ in: 'query', name: 'zone', detail: 'unknown' }], known: { zone: ['a'] } });
  });
});

describe('pages and cursors', () => {
  it('gives a next cursor only when a further row was fetched, holding the last shown key', () => {
    const rows = [5, 4, 3];
    const p = pageOf(rows, 2, (n) => [n], (n) => ({ n }));
    expect(p.items).toEqual([{ n: 5 }, { n: 4 }]);
    expect(decodeCursor(p.next!, z.tuple([z.number()]))).toEqual([4]);
    expect(pageOf(rows, 3, (n) => [n], (n) => n).next).toBeNull();
  });

  it('refuses a cursor of another shape or no cursor at all, naming the parameter', () => {
    for (const bad of ['x', encodeCursor(['a']), encodeCursor([1, 2, 3]), Buffer.from('{"a":1}').toString('base64url')]) {
      expect(() => decodeCursor(bad, z.tuple([z.number(), z.number()]))).toThrow(HttpProblem);
    }
    try {
      decodeCursor('%%%', z.tuple([z.number()]));
    } catch (e) {
      expect((e as HttpProblem).errors).toEqual([expect.objectContaining({ in: 'query', name: 'cursor' })]);
    }
  });

  it('lets a known filter value through and refuses another with the known values', () => {
    expect(knownFilter('zone', 'noord', ['noord', 'zuid'])).toBe('noord');
    expect(knownFilter('zone', undefined, ['noord'])).toBeUndefined();
    expect(() => knownFilter('zone', 'atlantis', ['noord', 'zuid'])).toThrow(/unknown zone "atlantis"; known: noord, zuid/);
  });
});

describe('CSV', () => {
  it('writes the columns in order, arrays joined, nulls empty, formulas defused', () => {
    const csv = toCsv(['id', 'bin_ids', 'text', 'value', 'urgent', 'closed_at'], [
      { id: 'J-1', bin_ids: ['A-1', 'A-2'], text: '=HYPERLINK("http://x","y")', value: -3.5, urgent: true, closed_at: null },
      { id: 'J-2', bin_ids: [], text: 'line, with "quotes"\nand a break', value: 0, urgent: false, closed_at: '2026-01-01T00:00:00.000Z' },
    ]);
    const rows = parseCsv(csv, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      { id: 'J-1', bin_ids: 'A-1;A-2', text: `'=HYPERLINK("http://x","y")`, value: '-3.5', urgent: 'true', closed_at: '' },
      { id: 'J-2', bin_ids: '', text: 'line, with "quotes"\nand a break', value: '0', urgent: 'false', closed_at: '2026-01-01T00:00:00.000Z' },
    ]);
  });

  it.each([
    ['/api/alerts.csv', undefined, true],
    ['/api/alerts.CSV?zone=a', undefined, true],
    ['/api/alerts', undefined, false],
    ['/api/alerts', 'text/csv', true],
    ['/api/alerts', 'text/csv, application/json;q=0.5', true],
    ['/api/alerts', 'application/json, text/csv;q=0.9', false],
    ['/api/alerts', 'application/json', false],
    ['/api/alerts', '*/*', false],
    ['/api/alerts', 'text/csv, */*', true],
    ['/api/alerts', 'text/html,application/xhtml+xml,*/*;q=0.8', false],
    ['/api/alerts', 'text/csv;q=0', false],
  ])('%s with Accept %j: CSV %s', (url, accept, csv) => {
    expect(wantsCsv(req(url, accept))).toBe(csv);
  });
});

describe('bin ids ignore case', () => {
  const bin = (id: string, address = 'a'): Bin => ({ id, lat: 52, lon: 5, address, zone: 'z', kind: 'rest', capacity_l: 1, depth_mm: 1000, sensor_offset_mm: 0 });

  it('an upsert of another case updates the bin and keeps its id; remove takes any case', async () => {
    const registry = new SqliteBinRegistry(memoryDb());
    await registry.upsert([bin('UTR-0001')]);
    const [stored] = await registry.upsert([bin('utr-0001', 'new address')]);
    expect(stored!.id).toBe('UTR-0001');
    expect(registry.all()).toEqual([bin('UTR-0001', 'new address')]);
    expect((await registry.remove('Utr-0001'))?.id).toBe('UTR-0001');
    expect(registry.size).toBe(0);
    expect(await registry.remove('UTR-0001')).toBeUndefined();
  });

  it('a bins file naming one id in two cases is refused', () => {
    const text = 'id,lat,lon,address,zone,kind,capacity_l,depth_mm\nUTR-1,52,5,a,z,rest,1,1000\nutr-1,52,5,b,z,rest,1,1000\n';
    expect(() => parseBinsCsv(text)).toThrow(/line 3: id utr-1 appears twice \(as UTR-1; ids ignore case\)/);
  });
});
