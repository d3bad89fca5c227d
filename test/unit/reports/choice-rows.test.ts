// The list a resident gets when a message fits several bins: built from registry content (ids, addresses, zones)
// that may be empty or long, so it must always make a list Meta accepts and listMessage never refuses.
import { describe, expect, it } from 'vitest';
import { choiceRows } from '../../../src/reports/choice-rows.js';
import { fit, listMessage } from '../../../src/whatsapp/index.js';

const bin = (zone = 'centrum', kind = 'rest') => ({ zone, kind });
const long = (n: number, s = 'Oudegracht ') => s.repeat(Math.ceil(n / s.length)).slice(0, n);
const chars = (s: string) => Array.from(s).length;

describe('choiceRows', () => {
  it.each([
    ['an address and a distance', [{ binId: 'UTR-0001', address: 'Oudegracht 11', distanceM: 12.4 }], [{ id: 'UTR-0001', title: 'UTR-0001', description: 'Oudegracht 11 · 12 m' }]],
    ['no distance', [{ binId: 'UTR-0001', address: 'Oudegracht 11', distanceM: null }], [{ id: 'UTR-0001', title: 'UTR-0001', description: 'Oudegracht 11' }]],
    ['an empty address: the zone and kind', [{ binId: 'utr-0001', address: '', distanceM: null }], [{ id: 'utr-0001', title: 'utr-0001', description: 'centrum · rest' }]],
    ['an empty address with a distance', [{ binId: 'utr-0001', address: '', distanceM: 3 }], [{ id: 'utr-0001', title: 'utr-0001', description: 'centrum · rest · 3 m' }]],
    ['a blank address of a bin gone from the registry: the code', [{ binId: 'UTR-9', address: '   ', distanceM: null }], [{ id: 'UTR-9', title: 'UTR-9', description: 'UTR-9' }]],
  ])('%s', (_name, candidates, expected) => {
    const rows = choiceRows(candidates, 'en', (id) => (id === 'UTR-9' ? undefined : bin()));
    expect(rows).toEqual(expected);
  });

  it('clips long ids, addresses and zones to Meta’s limits, by characters not UTF-16 units', () => {
    const id = `A${'b'.repeat(63)}`;
    const rows = choiceRows(
      [
        { binId: id, address: long(500), distanceM: 1e9 },
        { binId: 'UTR-0002', address: '🗑'.repeat(500), distanceM: null },
        { binId: 'UTR-0003', address: '', distanceM: null },
      ],
      'nl',
      () => bin('z'.repeat(64), 'k'.repeat(64)),
    );
    expect(rows.map((r) => r.id)).toEqual([id, 'UTR-0002', 'UTR-0003']);
    for (const r of rows) {
      expect(chars(r.title)).toBeLessThanOrEqual(24);
      expect(chars(r.description)).toBeGreaterThan(0);
      expect(chars(r.description)).toBeLessThanOrEqual(72);
    }
    expect(rows[1]!.description).toBe(`${'🗑'.repeat(71)}…`);
  });

  it('keeps at most 10 rows, one per bin', () => {
    const many = Array.from({ length: 15 }, (_, i) => ({ binId: `UTR-${i % 12}`, address: '', distanceM: null }));
    const rows = choiceRows(many, 'en', () => bin());
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.id)).size).toBe(10);
  });

  it('always makes a list listMessage accepts', () => {
    const cases = [
      [{ binId: 'utr-0001', address: '', distanceM: null }, { binId: 'UTR-0001', address: '', distanceM: null }],
      [{ binId: 'x', address: long(4096, '\u200b'), distanceM: Number.NaN }],
      Array.from({ length: 30 }, (_, i) => ({ binId: `B${i}`, address: long(i * 40), distanceM: i })),
    ];
    for (const c of cases) {
      const rows = choiceRows(c, 'en', () => bin('', ''));
      expect(() => listMessage('31612345678', 'Which one?', 'Choose', [{ title: 'Bins', rows }])).not.toThrow();
    }
  });
});

describe('fit', () => {
  it.each([
    ['short', 'hello', 10, 'x', 'hello'],
    ['exact', 'abcde', 5, 'x', 'abcde'],
    ['long', 'abcdef', 5, 'x', 'abcd…'],
    ['emoji counted as one character', '🗑🗑🗑🗑🗑🗑', 5, 'x', '🗑🗑🗑🗑…'],
    ['empty: the fallback', '', 5, 'code', 'code'],
    ['blank: the fallback', ' \n\t ', 5, 'code', 'code'],
    ['a long fallback is clipped too', '', 3, 'fallback', 'fa…'],
  ])('%s', (_name, s, max, fallback, expected) => {
    expect(fit(s, max, fallback)).toBe(expected);
  });
});
