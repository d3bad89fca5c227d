import { createRandom } from '../../../firmware-sim/random.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readBinsFile, type Bin } from '../../../src/registry/index.js';
import { BinMatcher, extractCodes, type MatchInput, type MatchMethod, type MatchResult } from '../../../src/reports/matcher/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CITY = readBinsFile(path.join(ROOT, 'config/bins.example.csv'));
const byId = new Map(CITY.map((b) => [b.id, b]));

// Offsets in metres, good enough over a few hundred metres.
const M_PER_DEG_LAT = 111_320;
function offset(lat: number, lon: number, northM: number, eastM: number): { latitude: number; longitude: number } {
  return { latitude: lat + northM / M_PER_DEG_LAT, longitude: lon + eastM / (M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180)) };
}
function metres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const n = (b.lat - a.lat) * M_PER_DEG_LAT;
  const e = (b.lon - a.lon) * M_PER_DEG_LAT * Math.cos((a.lat * Math.PI) / 180);
  return Math.hypot(n, e);
}
function pinAt(id: string, northM = 0, eastM = 0): { latitude: number; longitude: number } {
  const b = byId.get(id)!;
  return offset(b.lat, b.lon, northM, eastM);
}

// A small synthetic corner: two bins at one spot (rest and paper, 3 m apart), a glass bin 25 m north on another
// street, an isolated bin, a bin whose id is not prefix + number, a second prefix, and two bins 22 m apart.
const BASE = { lat: 52.2, lon: 5.3 };
function synBin(id: string, kind: string, address: string, northM: number, eastM: number): Bin {
  const p = offset(BASE.lat, BASE.lon, northM, eastM);
  return { id, lat: p.latitude, lon: p.longitude, address, zone: 'test', kind, capacity_l: 1100, depth_mm: 1200, sensor_offset_mm: 0 };
}
const SYN: Bin[] = [
  synBin('SYN-0001', 'rest', 'Teststraat 10', 0, 0),
  synBin('SYN-0002', 'paper', 'Teststraat 10', 0, 3),
  synBin('SYN-0003', 'glass', 'Proefweg 2', 25, 0),
  synBin('SYN-0004', 'rest', 'Proefweg 40', 400, 0),
  synBin('SYN-0005', 'plastic', 'Teststraat 40', 0, 300),
  synBin('P7-GLAS', 'glass', 'Kerkplein 1', -600, 0),
  synBin('ALT-0012', 'rest', 'Kerkplein 3', -600, 40),
  synBin('SYN-0006', 'rest', 'Meetlaan 1', 0, 1000),
  synBin('SYN-0007', 'rest', 'Meetlaan 3', 0, 1022),
];
const synPin = (northM: number, eastM: number) => offset(BASE.lat, BASE.lon, northM, eastM);

type Expect =
  | { kind: 'matched'; binId: string; method: MatchMethod }
  | { kind: 'ambiguous'; method: MatchMethod; first?: string[]; includes?: string[]; only?: (b: Bin) => boolean; count?: number }
  | { kind: 'none' };
interface Case {
  name: string;
  input: MatchInput;
  expect: Expect;
  bins?: 'city' | 'syn';
  fill?: Record<string, number>;
}

const codeCases: Case[] = [
  { name: 'canonical code', input: { text: 'UTR-0012' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'lower case', input: { text: 'utr-0012' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'space, no padding', input: { text: 'utr 12' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'no separator', input: { text: 'UTR0012' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'underscore, other padding', input: { text: 'Utr_000012' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'missing prefix after "bin"', input: { text: 'bin 12' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'missing prefix after "#"', input: { text: 'bak #0157 vol' }, expect: { kind: 'matched', binId: 'UTR-0157', method: 'code' } },
  { name: 'padded number only', input: { text: '0231' }, expect: { kind: 'matched', binId: 'UTR-0231', method: 'code' } },
  { name: 'wa.me link', input: { text: 'https://wa.me/31612345678?text=Bin%20UTR-0012' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'wa.me link, + for space', input: { text: 'wa.me/31612345678?text=Bin+utr+0044' }, expect: { kind: 'matched', binId: 'UTR-0044', method: 'code' } },
  { name: 'api.whatsapp.com link', input: { text: 'https://api.whatsapp.com/send?phone=31612345678&text=UTR-0300' }, expect: { kind: 'matched', binId: 'UTR-0300', method: 'code' } },
  { name: 'code inside a Dutch sentence', input: { text: 'Hoi, de bak UTR-0088 zit al 3 dagen vol!' }, expect: { kind: 'matched', binId: 'UTR-0088', method: 'code' } },
  { name: 'code inside an English sentence', input: { text: 'bin utr 7 is overflowing, please empty' }, expect: { kind: 'matched', binId: 'UTR-0007', method: 'code' } },
  { name: 'code beats a pin elsewhere', input: { text: 'UTR-0012', location: pinAt('UTR-0300') }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'code beats an address', input: { text: 'UTR-0012 at Biltstraat 7' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'code' } },
  { name: 'two codes → ask', input: { text: 'UTR-0012 and UTR-0013 are both full' }, expect: { kind: 'ambiguous', method: 'code', first: ['UTR-0012', 'UTR-0013'], count: 2 } },
  { name: 'unknown code → none', input: { text: 'UTR-9999' }, expect: { kind: 'none' } },
  { name: 'unknown code falls through to the address', input: { text: 'UTR-9999 Oudegracht 165' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'unknown code falls through to the pin', input: { text: 'utr 9999', location: pinAt('UTR-0012', 6, -4) }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'location' } },
  { name: '"Utrecht 12" is not a code', input: { text: 'Utrecht 12' }, expect: { kind: 'none' } },
  { name: 'id that is not prefix + number', bins: 'syn', input: { text: 'bak P7-GLAS vol' }, expect: { kind: 'matched', binId: 'P7-GLAS', method: 'code' } },
  { name: 'id written without its dash', bins: 'syn', input: { text: 'p7glas' }, expect: { kind: 'matched', binId: 'P7-GLAS', method: 'code' } },
  { name: 'second prefix', bins: 'syn', input: { text: 'ALT12 is full' }, expect: { kind: 'matched', binId: 'ALT-0012', method: 'code' } },
  { name: 'bare number with two prefixes is no code', bins: 'syn', input: { text: 'bin 12' }, expect: { kind: 'none' } },
];

// Pins with 5–40 m of GPS error in seeded random directions, on bins whose neighbours are far enough that the
// error cannot put the pin nearer to another bin (nearest neighbour ≥ 2 × error + 35 m).
const nearestNeighbourM = new Map(CITY.map((a) => [a.id, Math.min(...CITY.filter((b) => b !== a).map((b) => metres(a, b)))]));
const rnd = createRandom(42).next;
const pinCases: Case[] = [];
for (let k = 0; k < 16; k++) {
  const errorM = Math.round(5 + (35 * k) / 15); // 5 … 40 m, spread evenly
  const bearing = rnd() * 2 * Math.PI;
  const fits = CITY.filter((b) => nearestNeighbourM.get(b.id)! >= 2 * errorM + 35 && !pinCases.some((c) => c.name.endsWith(b.id)));
  const bin = fits[Math.floor(rnd() * fits.length)]!;
  pinCases.push({
    name: `pin ${errorM} m off ${bin.id}`,
    input: { location: pinAt(bin.id, errorM * Math.cos(bearing), errorM * Math.sin(bearing)) },
    expect: { kind: 'matched', binId: bin.id, method: 'location' },
  });
}
// a bin alone within 150 m, for a pin that misses the radius
const lonely = CITY.find((b) => nearestNeighbourM.get(b.id)! >= 150)!;
pinCases.push(
  { name: 'pin on the bin', input: { location: pinAt('UTR-0012') }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'location' } },
  { name: 'pin in a field far from any bin', input: { location: { latitude: 52.0, longitude: 5.0 } }, expect: { kind: 'none' } },
  { name: 'pin 300 m from the nearest bin', bins: 'syn', input: { location: synPin(-150, -200) }, expect: { kind: 'none' } },
  { name: 'pin 70 m from a lonely bin → offered, not chosen', input: { location: pinAt(lonely.id, 70, 0) }, expect: { kind: 'ambiguous', method: 'location', first: [lonely.id], count: 1 } },
  { name: 'pin 70 m from a lonely synthetic bin', bins: 'syn', input: { location: synPin(470, 0) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0004'] } },
  { name: 'invalid pin is ignored', input: { location: { latitude: Number.NaN, longitude: 5.1 } }, expect: { kind: 'none' } },
);

const pairCases: Case[] = [
  { name: 'two bins 3 m apart → ask', bins: 'syn', input: { location: synPin(1, 1) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0001', 'SYN-0002'] } },
  { name: 'two bins 3 m apart, 10 m error → ask', bins: 'syn', input: { location: synPin(-8, 6) }, expect: { kind: 'ambiguous', method: 'location', includes: ['SYN-0001', 'SYN-0002'] } },
  { name: '"papier" picks the paper bin', bins: 'syn', input: { text: 'papier', location: synPin(1, 1) }, expect: { kind: 'matched', binId: 'SYN-0002', method: 'location' } },
  { name: '"paper bin is full" picks the paper bin', bins: 'syn', input: { text: 'the paper bin is full', location: synPin(-3, 0) }, expect: { kind: 'matched', binId: 'SYN-0002', method: 'location' } },
  { name: '"restafval" picks the rest bin', bins: 'syn', input: { text: 'restafval puilt uit', location: synPin(0, 4) }, expect: { kind: 'matched', binId: 'SYN-0001', method: 'location' } },
  { name: '"glasbak" picks the glass bin 25 m away', bins: 'syn', input: { text: 'glasbak vol', location: synPin(0, 0) }, expect: { kind: 'matched', binId: 'SYN-0003', method: 'location' } },
  { name: '"plastic" with no plastic bin nearby → ask', bins: 'syn', input: { text: 'plastic', location: synPin(0, 1) }, expect: { kind: 'ambiguous', method: 'location', includes: ['SYN-0001', 'SYN-0002'] } },
  { name: 'a full bin beside an empty one', bins: 'syn', fill: { 'SYN-0001': 95, 'SYN-0002': 10 }, input: { location: synPin(0, 2) }, expect: { kind: 'matched', binId: 'SYN-0001', method: 'location' } },
  { name: 'the full one is the further one', bins: 'syn', fill: { 'SYN-0001': 15, 'SYN-0002': 100 }, input: { location: synPin(0, -2) }, expect: { kind: 'matched', binId: 'SYN-0002', method: 'location' } },
  { name: 'both full → ask', bins: 'syn', fill: { 'SYN-0001': 92, 'SYN-0002': 88 }, input: { location: synPin(0, 1) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0001', 'SYN-0002'] } },
  { name: 'fill below 70 % says nothing', bins: 'syn', fill: { 'SYN-0001': 65, 'SYN-0002': 5 }, input: { location: synPin(0, 1) }, expect: { kind: 'ambiguous', method: 'location' } },
  { name: 'same address, two kinds → ask', bins: 'syn', input: { text: 'Teststraat 10' }, expect: { kind: 'ambiguous', method: 'address', first: ['SYN-0001', 'SYN-0002'] } },
  { name: 'same address, kind word in the text', bins: 'syn', input: { text: 'the paper container at Teststraat 10 is full' }, expect: { kind: 'matched', binId: 'SYN-0002', method: 'address' } },
  { name: 'same address, fill tells them apart', bins: 'syn', fill: { 'SYN-0001': 97 }, input: { text: 'teststraat 10' }, expect: { kind: 'matched', binId: 'SYN-0001', method: 'address' } },
  { name: 'bins 22 m apart, pin 3 m from one', bins: 'syn', input: { location: synPin(2, 1002) }, expect: { kind: 'matched', binId: 'SYN-0006', method: 'location' } },
  { name: 'bins 22 m apart, pin 8 m from one', bins: 'syn', input: { location: synPin(0, 1030) }, expect: { kind: 'matched', binId: 'SYN-0007', method: 'location' } },
  { name: 'bins 22 m apart, pin 6 and 16 m away → ask', bins: 'syn', input: { location: synPin(0, 1006) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0006', 'SYN-0007'] } },
  { name: 'bins 22 m apart, pin in between → ask', bins: 'syn', input: { location: synPin(-5, 1011) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0006', 'SYN-0007'] } },
  { name: 'pin between two streets, text names one', bins: 'syn', input: { text: 'Proefweg', location: synPin(12, 0) }, expect: { kind: 'matched', binId: 'SYN-0003', method: 'location' } },
  { name: 'pin far away, exact address in the text', bins: 'syn', input: { text: 'Proefweg 40', location: synPin(-150, -200) }, expect: { kind: 'matched', binId: 'SYN-0004', method: 'address' } },
  { name: 'address near the pin ranks first', bins: 'syn', input: { text: 'teststraat', location: synPin(20, 0) }, expect: { kind: 'ambiguous', method: 'location', first: ['SYN-0001', 'SYN-0002'] } },
];

const onStreet = (street: string) => (b: Bin) => b.address.startsWith(`${street} `);
const addressCases: Case[] = [
  { name: 'exact address', input: { text: 'Oudegracht 165' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'lower case, one letter missing', input: { text: 'oudegrcht 165' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'one letter wrong', input: { text: 'Oudegraht 165' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'two letters swapped', input: { text: 'Oudegracth 165' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'one letter doubled', input: { text: 'Kanaalstraaat 22' }, expect: { kind: 'matched', binId: 'UTR-0228', method: 'address' } },
  { name: 'two typos', input: { text: 'Nachtegalstrat 9' }, expect: { kind: 'matched', binId: 'UTR-0132', method: 'address' } },
  { name: 'typo in a long name', input: { text: 'Amsterdamsestratweg 16' }, expect: { kind: 'matched', binId: 'UTR-0253', method: 'address' } },
  { name: '"str." abbreviation', input: { text: 'Biltstr. 7' }, expect: { kind: 'matched', binId: 'UTR-0081', method: 'address' } },
  { name: 'suffix written apart', input: { text: 'bilt straat 7' }, expect: { kind: 'matched', binId: 'UTR-0081', method: 'address' } },
  { name: 'name written apart', input: { text: 'amsterdamse straatweg 16' }, expect: { kind: 'matched', binId: 'UTR-0253', method: 'address' } },
  { name: 'English "street"', input: { text: 'nobel street 15' }, expect: { kind: 'matched', binId: 'UTR-0053', method: 'address' } },
  { name: 'multi-word street', input: { text: 'adriaen van ostadelaan 8' }, expect: { kind: 'matched', binId: 'UTR-0154', method: 'address' } },
  { name: 'multi-word street, typo', input: { text: 'Burgemeester Reigersraat 7' }, expect: { kind: 'matched', binId: 'UTR-0139', method: 'address' } },
  { name: 'accents and punctuation', input: { text: 'Prins-Héndriklaan, 8!' }, expect: { kind: 'matched', binId: 'UTR-0146', method: 'address' } },
  { name: 'address in an English sentence', input: { text: 'the bin at Oudegracht 165 is overflowing' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'address in a Dutch sentence', input: { text: 'De container bij de Kanaalstraat 22 is al dagen vol' }, expect: { kind: 'matched', binId: 'UTR-0228', method: 'address' } },
  { name: 'mixed Dutch and English', input: { text: 'hoi! bin op Vleutenseweg 9 is full, graag legen thx' }, expect: { kind: 'matched', binId: 'UTR-0214', method: 'address' } },
  { name: '"nr." between street and number', input: { text: 'Damstraat nr. 8' }, expect: { kind: 'matched', binId: 'UTR-0237', method: 'address' } },
  { name: 'a number that is not a house number', input: { text: 'Oudegracht is full since 3 days' }, expect: { kind: 'ambiguous', method: 'address', only: onStreet('Oudegracht'), count: 10 } },
  { name: 'no house number → the street', input: { text: 'Oudegracht' }, expect: { kind: 'ambiguous', method: 'address', only: onStreet('Oudegracht'), count: 10 } },
  { name: 'no house number, typo', input: { text: 'the bins on Maliebaaan' }, expect: { kind: 'ambiguous', method: 'address', only: onStreet('Maliebaan'), count: 9 } },
  { name: 'no house number, fullest first', fill: { 'UTR-0127': 96, 'UTR-0125': 80 }, input: { text: 'Maliebaan' }, expect: { kind: 'ambiguous', method: 'address', first: ['UTR-0127', 'UTR-0125'] } },
  { name: 'no house number, kind word first', input: { text: 'glasbak Oudegracht' }, expect: { kind: 'ambiguous', method: 'address', first: ['UTR-0009'] } },
  { name: 'wrong house number → nearest numbers first', input: { text: 'Biltstraat 100' }, expect: { kind: 'ambiguous', method: 'address', first: ['UTR-0084'], only: onStreet('Biltstraat') } },
  { name: 'part of a name → both streets', input: { text: 'lange straat' }, expect: { kind: 'ambiguous', method: 'address', includes: ['UTR-0031', 'UTR-0062'] } },
  { name: 'square with no number', input: { text: 'Neude' }, expect: { kind: 'ambiguous', method: 'address', only: onStreet('Neude'), count: 4 } },
  { name: 'two pairs of letters swapped', input: { text: 'Nahctegaalsrtaat 9' }, expect: { kind: 'matched', binId: 'UTR-0132', method: 'address' } },
  { name: 'number glued to the street', input: { text: 'Vleutenseweg9' }, expect: { kind: 'matched', binId: 'UTR-0214', method: 'address' } },
  { name: 'last word of a long name only', input: { text: 'serooskerkenweg 11' }, expect: { kind: 'matched', binId: 'UTR-0247', method: 'address' } },
  { name: 'name that starts with "Laan"', input: { text: 'laan v nieuw guinea 10' }, expect: { kind: 'matched', binId: 'UTR-0242', method: 'address' } },
  { name: 'abbreviated first word', input: { text: 'burg reigerstraat 7' }, expect: { kind: 'matched', binId: 'UTR-0139', method: 'address' } },
  { name: 'house number with a letter', input: { text: 'Oudegracht 165a' }, expect: { kind: 'matched', binId: 'UTR-0012', method: 'address' } },
  { name: 'city after a comma', input: { text: 'Neude 8, Utrecht' }, expect: { kind: 'matched', binId: 'UTR-0037', method: 'address' } },
  { name: 'street with one bin per number', input: { text: 'janskerkhof 3' }, expect: { kind: 'matched', binId: 'UTR-0059', method: 'address' } },
];

const nothingCases: Case[] = [
  { name: 'empty input', input: {}, expect: { kind: 'none' } },
  { name: 'empty text', input: { text: '' }, expect: { kind: 'none' } },
  { name: 'white space', input: { text: '  \n ' }, expect: { kind: 'none' } },
  { name: 'a greeting', input: { text: 'Hello there!' }, expect: { kind: 'none' } },
  { name: 'a complaint without a place', input: { text: 'De bak is vol, graag legen' }, expect: { kind: 'none' } },
  { name: 'only a kind word', input: { text: 'glass' }, expect: { kind: 'none' } },
  { name: 'a street not in the registry', input: { text: 'Kalverstraat 12' }, expect: { kind: 'none' } },
  { name: 'a street three letters from a registry street', input: { text: 'Herengracht 1' }, expect: { kind: 'none' } },
  { name: 'another city', input: { text: 'I am in Rotterdam, Coolsingel 40' }, expect: { kind: 'none' } },
  { name: 'a link that is not WhatsApp', input: { text: 'https://example.com/utrecht?bin=12' }, expect: { kind: 'none' } },
];

const city = new BinMatcher(CITY);
const syn = new BinMatcher(SYN);

function check(result: MatchResult, expected: Expect, binsOf: Map<string, Bin>): void {
  if (expected.kind === 'none') {
    expect(result).toEqual({ kind: 'none' });
    return;
  }
  expect(result.kind, JSON.stringify(result)).toBe(expected.kind);
  if (result.kind === 'none') return;
  expect(result.method).toBe(expected.method);
  expect(result.candidates.length).toBeGreaterThan(0);
  expect(result.candidates.length).toBeLessThanOrEqual(10);
  const ids = result.candidates.map((c) => c.binId);
  for (let i = 1; i < result.candidates.length; i++) expect(result.candidates[i - 1]!.score).toBeGreaterThanOrEqual(result.candidates[i]!.score);
  if (expected.kind === 'matched') {
    expect(result.kind === 'matched' && result.binId).toBe(expected.binId);
    expect(ids[0]).toBe(expected.binId);
    return;
  }
  if (expected.first) expect(ids.slice(0, expected.first.length).sort()).toEqual([...expected.first].sort());
  if (expected.first?.length === 1) expect(ids[0]).toBe(expected.first[0]);
  if (expected.includes) expect(ids).toEqual(expect.arrayContaining(expected.includes));
  if (expected.count !== undefined) expect(ids).toHaveLength(expected.count);
  if (expected.only) for (const id of ids) expect(expected.only(binsOf.get(id)!), id).toBe(true);
}

const synById = new Map(SYN.map((b) => [b.id, b]));
describe.each([
  ['codes', codeCases],
  ['pins', pinCases],
  ['bins a few metres apart', pairCases],
  ['addresses', addressCases],
  ['nothing to match', nothingCases],
])('BinMatcher: %s', (_group, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const matcher = c.bins === 'syn' ? syn : city;
    const fill = c.fill ? (id: string) => c.fill![id] ?? null : undefined;
    check(matcher.match(c.input, fill), c.expect, c.bins === 'syn' ? synById : byId);
  });
});

describe('BinMatcher', () => {
  it('has at least 60 table cases', () => {
    expect(codeCases.length + pinCases.length + pairCases.length + addressCases.length + nothingCases.length).toBeGreaterThanOrEqual(60);
  });

  it('reports distance, text score and fill on candidates', () => {
    const r = syn.match({ text: 'papier', location: synPin(0, 3) }, (id) => (id === 'SYN-0002' ? 81 : null));
    expect(r.kind).toBe('matched');
    if (r.kind !== 'matched') return;
    const paper = r.candidates.find((c) => c.binId === 'SYN-0002')!;
    expect(paper).toMatchObject({ address: 'Teststraat 10', fillPct: 81, textScore: 1 });
    expect(paper.distanceM).toBeLessThan(0.5);
    expect(r.candidates.find((c) => c.binId === 'SYN-0001')).toMatchObject({ textScore: null, fillPct: null });
  });

  it('takes its prefixes from the options', () => {
    const m = new BinMatcher(SYN, { codePrefixes: ['SYN'] });
    expect(m.match({ text: 'bin 3' })).toMatchObject({ kind: 'matched', binId: 'SYN-0003', method: 'code' });
  });

  it('uses the snap radius from the options', () => {
    const pin = pinAt('UTR-0012', 0, 0);
    const wide = new BinMatcher(CITY, { snapRadiusM: 10 });
    expect(wide.match({ location: offset(pin.latitude, pin.longitude, 30, 0) })).toMatchObject({ kind: 'none' });
  });

  it('matches nothing in an empty registry', () => {
    expect(new BinMatcher([]).match({ text: 'UTR-0012 Oudegracht 165', location: pinAt('UTR-0012') })).toEqual({ kind: 'none' });
  });
});

describe('extractCodes', () => {
  it.each([
    ['UTR-0012', ['UTR'], ['UTR-12']],
    ['utr 12 and Utr0013', ['UTR'], ['UTR-12', 'UTR-13']],
    ['bin 12', ['UTR'], ['UTR-12']],
    ['bin 12', ['UTR', 'AMS'], []],
    ['ams-7 en utr-7', ['UTR', 'AMS'], ['AMS-7', 'UTR-7']],
    ['https://wa.me/31612345678?text=Bin%20UTR-0012', ['UTR'], ['UTR-12']],
    ['UTR-12 UTR-0012', ['UTR'], ['UTR-12']],
    ['Utrecht 12', ['UTR'], []],
    ['Oudegracht 158', ['UTR'], []],
    ['', ['UTR'], []],
  ])('%j with %j → %j', (text, prefixes, codes) => {
    expect(extractCodes(text, prefixes)).toEqual(codes);
  });
});
