import KDBush from 'kdbush';
import { around, distance } from 'geokdbush';
import type { Bin } from '../../registry/index.js';
import { AddressIndex, readAddressQuery, type AddressHit } from './address-index.js';
import { CodeReader, codeKey, derivePrefixes, unwrapLinks } from './codes.js';
import { KIND_HINT, Ranking, type Scored } from './ranking.js';
import { kindLexicon, words } from './text.js';
import type { Candidate, FillLookup, MatchInput, MatchMethod, MatcherOptions, MatchResult } from './types.js';

const MAX_CANDIDATES = 10;
/** Pins look this many radii out when nothing is within the radius. */
const FAR_FACTOR = 2;
const MAX_NEAR = 32;
/** WhatsApp's limit on a text message; anything after it (an Open311 description, say) is not read. */
export const MAX_TEXT_CHARS = 4096;
/** The time one message may take before optional work (the swapped-letters retry) is skipped. */
const DEFAULT_BUDGET_MS = 10;
const noFill: FillLookup = () => null;

/**
 * Works out which bin a resident's message means: a bin code, else a location pin, else an address, combining pin
 * and address when both are there. Pure: bins and live fill are passed in. Build a new one when the registry
 * changes (100,000 bins take well under a second).
 */
export class BinMatcher {
  private readonly bins: readonly Bin[];
  private readonly snapRadiusM: number;
  private readonly byKey = new Map<string, number[]>();
  private readonly byCompactId = new Map<string, number>();
  private readonly codes: CodeReader;
  private readonly geo: KDBush | undefined;
  private readonly addresses: AddressIndex;
  private readonly kinds: Map<string, string>;
  private readonly budgetMs: number;
  private readonly clock: () => number;

  constructor(bins: readonly Bin[], opts: MatcherOptions = {}) {
    this.bins = bins;
    this.snapRadiusM = opts.snapRadiusM ?? 50;
    this.budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
    this.clock = opts.clock ?? (() => performance.now());
    bins.forEach((bin, i) => {
      this.byCompactId.set(compactId(bin.id), i);
      const key = codeKey(bin.id);
      if (key === undefined) return;
      const list = this.byKey.get(key);
      if (list) list.push(i);
      else this.byKey.set(key, [i]);
    });
    this.codes = new CodeReader(opts.codePrefixes ?? derivePrefixes(bins.map((b) => b.id)));
    if (bins.length > 0) {
      const geo = new KDBush(bins.length);
      for (const bin of bins) geo.add(bin.lon, bin.lat);
      this.geo = geo.finish();
    }
    this.addresses = new AddressIndex(bins.map((b) => b.address));
    this.kinds = kindLexicon(new Set(bins.map((b) => b.kind)));
  }

  match(input: MatchInput, fill: FillLookup = noFill): MatchResult {
    const started = this.clock();
    const text = unwrapLinks((input.text ?? '').slice(0, MAX_TEXT_CHARS));
    const pin = validPin(input.location);

    // 1. a code wins outright
    const hits = this.codes.read(text);
    const coded = this.binsByCode(text, hits.map((h) => h.key));
    if (coded.length > 0) {
      const ranked = coded.map((bin): Scored => {
        const distanceM = pin ? this.distanceM(bin, pin) : null;
        return { bin, distanceM, address: 1, kindHint: 0, fillPct: fill(this.bins[bin]!.id), exact: true, score: 1 };
      });
      return this.result(ranked.slice(0, MAX_CANDIDATES), 'code', ranked.length === 1);
    }

    // the rest of the text, codes blanked out, may hold an address and kind words
    let rest = text;
    for (const h of hits) rest = rest.slice(0, h.start) + ' '.repeat(h.end - h.start) + rest.slice(h.end);
    const kinds = new Set<string>();
    for (const w of words(rest)) {
      const kind = this.kinds.get(w);
      if (kind !== undefined) kinds.add(kind);
    }
    const addressHits = this.addresses.find(readAddressQuery(rest, this.kinds), () => this.clock() - started > this.budgetMs);

    // 2. pin (with the address, when there is one, as evidence) 3. address alone
    const ranking = new Ranking(MAX_CANDIDATES, this.snapRadiusM);
    const offer = (bin: number, distanceM: number | null, hit: AddressHit | undefined): void => {
      const b = this.bins[bin]!;
      ranking.offer(bin, distanceM, hit ? hit.score : null, kinds.has(b.kind) ? KIND_HINT : 0, fill(b.id), hit?.exact ?? false);
    };
    const near = pin && this.geo ? around(this.geo, pin.lon, pin.lat, MAX_NEAR, (FAR_FACTOR * this.snapRadiusM) / 1000) : [];
    const nearHits = new Map<number, AddressHit | undefined>();
    for (const bin of near) nearHits.set(bin, undefined);
    for (const hit of addressHits) {
      if (nearHits.has(hit.bin)) nearHits.set(hit.bin, hit);
      else offer(hit.bin, pin ? this.distanceM(hit.bin, pin) : null, hit);
    }
    for (const [bin, hit] of nearHits) offer(bin, this.distanceM(bin, pin!), hit);
    const top = ranking.best[0];
    if (!top) return { kind: 'none' };

    const byPin = near.length > 0 && top.distanceM !== null && top.distanceM <= FAR_FACTOR * this.snapRadiusM;
    const method: MatchMethod = byPin ? 'location' : 'address';
    // bins only found beyond the radius are offered, never chosen
    const reachable = method === 'address' || top.distanceM! <= this.snapRadiusM || top.exact;
    return this.result(ranking.best, method, reachable && ranking.isClear());
  }

  /** Known codes in order; for ids that are not prefix + number, a word (or two) equal to the id. */
  private binsByCode(text: string, keys: readonly string[]): number[] {
    const found: number[] = [];
    for (const key of keys) for (const bin of this.byKey.get(key) ?? []) if (!found.includes(bin)) found.push(bin);
    if (found.length > 0) return found;
    const tokens = text.toUpperCase().split(/[^A-Z0-9]+/).filter((t) => t !== '');
    for (let i = 0; i < tokens.length; i++) {
      for (const t of [tokens[i]!, tokens[i]! + (tokens[i + 1] ?? '')]) {
        if (!/\d/.test(t) || !/[A-Z]/.test(t)) continue;
        const bin = this.byCompactId.get(t);
        if (bin !== undefined && !found.includes(bin)) found.push(bin);
      }
    }
    return found;
  }

  private distanceM(bin: number, pin: { lat: number; lon: number }): number {
    const b = this.bins[bin]!;
    return distance(pin.lon, pin.lat, b.lon, b.lat) * 1000;
  }

  private result(ranked: readonly Scored[], method: MatchMethod, decided: boolean): MatchResult {
    const candidates = ranked.map((s) => this.candidate(s));
    if (decided) return { kind: 'matched', binId: candidates[0]!.binId, method, candidates };
    return { kind: 'ambiguous', method, candidates };
  }

  private candidate(s: Scored): Candidate {
    const bin = this.bins[s.bin]!;
    const text = s.address === null && s.kindHint === 0 ? null : (s.address ?? 0) + s.kindHint;
    return {
      binId: bin.id,
      address: bin.address,
      distanceM: s.distanceM === null ? null : round(s.distanceM, 1),
      textScore: text === null ? null : round(text, 3),
      fillPct: s.fillPct,
      score: round(s.score, 3),
    };
  }
}

function compactId(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

function validPin(location: MatchInput['location']): { lat: number; lon: number } | undefined {
  if (!location) return undefined;
  const { latitude: lat, longitude: lon } = location;
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return undefined;
  return { lat, lon };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
