// Addresses: one search document per street (not per bin), so the fuzzy search runs over a few hundred names
// however many bins there are; the house number is then an exact lookup within the street.
import MiniSearch from 'minisearch';
import { expandGluedSuffix, fold, STOP_WORDS, streetStem, suffixWord, words } from './text.js';

interface Street {
  name: string;
  bins: number[];
  byNumber: Map<string, number[]>;
  numbers: Map<number, number>; // bin → numeric house number, for "nearest number" ranking
}

export interface AddressHit {
  bin: number;
  /** 0..1: how well the street matched (relative to the best street) and whether the house number did. */
  score: number;
  /** street and house number both match */
  exact: boolean;
}

const MAX_STREETS = 4;
const STREET_RELATIVE_FLOOR = 0.5;
// The work of one search is bounded whatever a resident sends (WhatsApp allows 4,096 characters in one word):
// minisearch's fuzzy lookup allocates a (length + 3) × length matrix per term, so one 4,096-letter word cost
// 16 MB and up to 2.6 s. At most MAX_QUERY_TERMS terms of at most MAX_TERM_CHARS letters reach it, twice at most
// (the swapped-letters retry, MAX_SWAP_VARIANTS terms); a longer word is no street name and is skipped.
export const MAX_QUERY_TERMS = 24;
export const MAX_TERM_CHARS = 48;
export const MAX_SWAP_VARIANTS = 48;
/** House numbers read from one message; more say nothing about which bin is meant. */
export const MAX_QUERY_NUMBERS = 8;
/** Edit distance at most: "oudegrcht" is one edit from "oudegracht". */
const MAX_FUZZY = 3;
/** Words between a street name and its number that do not break the pair: "Oudegracht nr. 158". */
const NUMBER_LEAD = new Set(['nr', 'no', 'nummer', 'number', 'huisnummer']);

/** "Oudegracht 158, achter" → street "oudegracht", number "158"; "Neude" → number undefined. */
export function splitAddress(address: string): { street: string; number: string | undefined } {
  const head = fold(address.split(',')[0] ?? '');
  const m = /^(.*?\D)\s*(\d+)(?:\s?([a-z]))?(?:\s.*)?$/.exec(head);
  if (!m) return { street: head, number: undefined };
  return { street: m[1]!.trim(), number: m[2]! + (m[3] ?? '') };
}

/** The terms a street is found by: its words, their stems, and the whole name glued together. */
function streetTerms(street: string): string[] {
  const ws = street.split(' ').filter((w) => w !== '');
  const terms = new Set<string>();
  for (const w of ws) {
    if (STOP_WORDS.has(w) || suffixWord(w) !== undefined || /^\d/.test(w)) continue;
    terms.add(w);
    const stem = streetStem(w);
    if (stem !== undefined) terms.add(stem);
  }
  if (ws.length > 1) {
    const glued = ws.join('');
    terms.add(glued);
    const stem = streetStem(glued);
    if (stem !== undefined) terms.add(stem);
  }
  if (terms.size === 0 && ws.length > 0) terms.add(ws.join(''));
  return [...terms];
}

export interface AddressQuery {
  terms: string[];
  /** numbers right after a word that may be part of a street name */
  numbers: string[];
}

/** Reads the address words and house numbers out of free text; `ignore` holds words to drop (bin kinds). */
export function readAddressQuery(text: string, ignore: { has(word: string): boolean }): AddressQuery {
  // "vleutenseweg9" → "vleutenseweg", "9"
  const ws = words(text).flatMap((w) => /^([a-z]{3,})(\d{1,5}[a-z]?)$/.exec(w)?.slice(1) ?? [w]);
  const terms: string[] = [];
  const numbers: string[] = [];
  let prev: string | undefined; // the previous word that could belong to a street name
  let afterStreetWord = false;
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    if (/^\d/.test(w)) {
      const m = /^(\d{1,5})([a-z])?$/.exec(w);
      let n = m ? m[1]! + (m[2] ?? '') : undefined;
      // "158 a" is 158a only when the letter stands alone
      const next = ws[i + 1];
      if (m && !m[2] && next !== undefined && /^[a-z]$/.test(next) && next !== 'a' && next !== 'i') n = `${m[1]}${next}`;
      if (n !== undefined && afterStreetWord) numbers.push(n);
      afterStreetWord = false;
      prev = undefined;
      continue;
    }
    if (NUMBER_LEAD.has(w)) continue;
    const suffix = suffixWord(w);
    if (suffix !== undefined) {
      // "bilt straat" / "bilt str." → "biltstraat"
      if (prev !== undefined) terms.push(prev + suffix);
      afterStreetWord = prev !== undefined;
      prev = undefined;
      continue;
    }
    if (STOP_WORDS.has(w) || ignore.has(w) || w.length < 3 || w.length > MAX_TERM_CHARS) {
      afterStreetWord = false;
      prev = undefined;
      continue;
    }
    const word = expandGluedSuffix(w);
    terms.push(word);
    // "oude gracht" → "oudegracht"
    if (prev !== undefined) terms.push(prev + word);
    prev = word;
    afterStreetWord = true;
  }
  return {
    terms: [...new Set(terms.filter((t) => t.length <= MAX_TERM_CHARS))].slice(0, MAX_QUERY_TERMS),
    numbers: [...new Set(numbers)].slice(0, MAX_QUERY_NUMBERS),
  };
}

/** Each word of five letters or more with one pair of neighbouring letters swapped back. */
function unswapped(terms: readonly string[]): string[] {
  const variants = new Set<string>();
  for (const t of terms) {
    if (t.length < 5) continue;
    for (let i = 0; i + 1 < t.length && variants.size < MAX_SWAP_VARIANTS; i++) {
      if (t[i] !== t[i + 1]) variants.add(t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2));
    }
  }
  return [...variants];
}

export class AddressIndex {
  private readonly streets: Street[] = [];
  private readonly search: MiniSearch<{ id: number; name: string }>;

  constructor(addresses: readonly string[]) {
    const byName = new Map<string, Street>();
    addresses.forEach((address, bin) => {
      const { street, number } = splitAddress(address);
      if (street === '') return;
      let s = byName.get(street);
      if (!s) {
        s = { name: street, bins: [], byNumber: new Map(), numbers: new Map() };
        byName.set(street, s);
        this.streets.push(s);
      }
      s.bins.push(bin);
      if (number !== undefined) {
        const list = s.byNumber.get(number);
        if (list) list.push(bin);
        else s.byNumber.set(number, [bin]);
        s.numbers.set(bin, parseInt(number, 10));
      }
    });
    this.search = new MiniSearch({
      fields: ['name'],
      idField: 'id',
      tokenize: (name) => streetTerms(name),
      processTerm: (term) => term,
      searchOptions: {
        tokenize: (query) => query.split(' '),
        processTerm: (term) => term,
        combineWith: 'OR',
        fuzzy: (term) => (term.length >= 4 ? 0.2 : false),
        prefix: (term) => term.length >= 5,
        maxFuzzy: MAX_FUZZY,
      },
    });
    this.search.addAll(this.streets.map((s, id) => ({ id, name: s.name })));
  }

  /**
   * Bins whose address matches the query, best first within each street; empty when no street matches.
   * `overBudget` says when the message has taken its share of time: the swapped-letters retry is then skipped.
   */
  find(query: AddressQuery, overBudget: () => boolean = () => false): AddressHit[] {
    if (query.terms.length === 0) return [];
    const q = query.terms.join(' ');
    let results = this.search.search(q);
    // nothing: the edit distance counts two swapped letters as two edits ("znadbugrdijk" has two swaps); try
    // again with one swap undone
    if (results.length === 0 && !overBudget()) {
      const swapped = unswapped(query.terms);
      if (swapped.length > 0) results = this.search.search(swapped.join(' '));
    }
    const top = results[0];
    if (!top) return [];
    const hits: AddressHit[] = [];
    for (const r of results.slice(0, MAX_STREETS)) {
      const rel = r.score / top.score;
      if (rel < STREET_RELATIVE_FLOOR) break;
      const street = this.streets[r.id as number]!;
      const exact = new Set<number>();
      for (const n of query.numbers) {
        const list = street.byNumber.get(n) ?? street.byNumber.get(n.replace(/[a-z]$/, ''));
        for (const bin of list ?? []) exact.add(bin);
      }
      const wanted = query.numbers.map((n) => parseInt(n, 10));
      for (const bin of street.bins) {
        if (exact.has(bin)) {
          hits.push({ bin, score: rel, exact: true });
          continue;
        }
        // a wrong or missing number: the street alone, nearer numbers (same side first) a little higher
        let closeness = 0;
        const own = street.numbers.get(bin);
        if (own !== undefined) {
          for (const n of wanted) {
            const d = Math.abs(own - n) + ((own - n) % 2 === 0 ? 0 : 1);
            closeness = Math.max(closeness, 1 / (1 + d / 4));
          }
        }
        hits.push({ bin, score: rel * (0.5 + 0.1 * closeness), exact: false });
      }
    }
    return hits;
  }
}
