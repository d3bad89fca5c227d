import path from 'node:path';
import { fileURLToPath } from 'node:url';
import MiniSearch from 'minisearch';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRandom } from '../../../firmware-sim/random.js';
import { readBinsFile } from '../../../src/registry/index.js';
import { MAX_QUERY_NUMBERS, MAX_QUERY_TERMS, MAX_SWAP_VARIANTS, MAX_TERM_CHARS, readAddressQuery } from '../../../src/reports/matcher/address-index.js';
import { BinMatcher } from '../../../src/reports/matcher/index.js';

// The work one message can cause is bounded by construction (the terms that reach the fuzzy search) and, for the
// optional retry, by a time budget. The 20 ms figure is measured by `npm run bench:match` over 100,000 bins; here a
// generous 200 ms guard keeps a slow CI machine from flaking while still catching the seconds a long word cost.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CITY = readBinsFile(path.join(ROOT, 'config/bins.example.csv'));
const city = new BinMatcher(CITY);

const rnd = createRandom(7).next;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const letters = (n: number) => Array.from({ length: n }, () => LETTERS[Math.floor(rnd() * 26)]).join('');
const fill = (unit: string, chars = 4096) => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);

const HOSTILE: Record<string, string> = {
  'one 4,096-letter word': letters(4096),
  'one letter 4,096 times': 'a'.repeat(4096),
  'a street glued on itself': fill('oudegracht'),
  'random letters with spaces': Array.from({ length: 700 }, () => letters(1 + Math.floor(rnd() * 12))).join(' ').slice(0, 4096),
  'words just over the term cap': Array.from({ length: 80 }, () => letters(MAX_TERM_CHARS + 1)).join(' ').slice(0, 4096),
  'words at the term cap': Array.from({ length: 90 }, () => letters(MAX_TERM_CHARS)).join(' ').slice(0, 4096),
  '2,048 one-letter words': fill('x '),
  '4,096 digits': fill('8127364509'),
  'emoji': '😀'.repeat(4096),
  'a street repeated': fill('Oudegracht '),
  'a street and numbers repeated': Array.from({ length: 500 }, (_, i) => `Oudegracht ${i + 1}`).join(' ').slice(0, 4096),
  'a wa.me link with a long text': `https://wa.me/31612345678?text=${letters(4050)}`,
  'unknown codes': fill('UTR-9999 '),
  'bare codes': Array.from({ length: 600 }, (_, i) => `bin ${i + 1}`).join(' ').slice(0, 4096),
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('BinMatcher bounds on hostile messages', () => {
  it('passes the fuzzy search at most 24 terms of at most 48 letters, at most twice per message', () => {
    const queries: string[] = [];
    const search = MiniSearch.prototype.search;
    vi.spyOn(MiniSearch.prototype, 'search').mockImplementation(function (this: MiniSearch, query, options) {
      queries.push(String(query));
      return search.call(this, query, options);
    });
    for (const [name, text] of Object.entries(HOSTILE)) {
      queries.length = 0;
      city.match({ text });
      expect(queries.length, name).toBeLessThanOrEqual(2);
      for (const q of queries) {
        const terms = q.split(' ');
        expect(terms.length, name).toBeLessThanOrEqual(Math.max(MAX_QUERY_TERMS, MAX_SWAP_VARIANTS));
        expect(Math.max(...terms.map((t) => t.length)), name).toBeLessThanOrEqual(MAX_TERM_CHARS);
      }
    }
    expect(MAX_QUERY_TERMS).toBe(24);
    expect(MAX_TERM_CHARS).toBe(48);
  });

  it('reads at most 8 house numbers and only words of at most 48 letters from a message', () => {
    const q = readAddressQuery(HOSTILE['a street and numbers repeated']!, new Set());
    expect(q.numbers.length).toBeLessThanOrEqual(MAX_QUERY_NUMBERS);
    expect(q.terms[0]).toBe('oudegracht'); // and the word the cut at 4,096 left
    expect(readAddressQuery(HOSTILE['words just over the term cap']!, new Set()).terms).toEqual([]);
  });

  it.each(Object.entries(HOSTILE))('matches %s in under 200 ms', (_name, text) => {
    city.match({ text }); // the first run compiles
    const t0 = performance.now();
    city.match({ text });
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('still finds the address next to a hostile word', () => {
    expect(city.match({ text: `Oudegracht 165 ${letters(4000)}` })).toMatchObject({ kind: 'matched', binId: 'UTR-0012', method: 'address' });
    expect(city.match({ text: `${'a'.repeat(3000)} bin op Vleutenseweg 9 is vol` })).toMatchObject({ kind: 'matched', binId: 'UTR-0214' });
  });

  it('skips the swapped-letters retry once the message is over its time budget', () => {
    const text = 'Nahctegaalsrtaat 9'; // two pairs of letters swapped: only the retry finds it
    expect(city.match({ text })).toMatchObject({ kind: 'matched', binId: 'UTR-0132' });
    let now = 0;
    const slow = new BinMatcher(CITY, { budgetMs: 10, clock: () => (now += 11) });
    expect(slow.match({ text })).toEqual({ kind: 'none' });
  });
});
