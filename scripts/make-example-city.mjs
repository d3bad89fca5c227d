#!/usr/bin/env node
// Generates the example city: config/bins.example.csv and config/bins.example.geojson.
//
// Bins of one real city, Utrecht (NL), placed along real streets at plausible house numbers. Each street
// is a rough polyline (start, bends, end) typed in from general knowledge of the city map, so a bin
// sits within some tens of metres of where its address is; good enough for a demo map, the matcher's
// "nearest bin" and the docs, not for navigation. Canal-side streets (Oudegracht) use the canal's line
// and put bins on the quays, never on the water.
//
// Deterministic: a seeded PRNG, no clock, no dependencies. Run: node scripts/make-example-city.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const SEED = 0x5eed2026;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CSV_PATH = join(ROOT, 'config', 'bins.example.csv');
const GEOJSON_PATH = join(ROOT, 'config', 'bins.example.geojson');
const HEADER = ['id', 'lat', 'lon', 'address', 'zone', 'kind', 'capacity_l', 'depth_mm', 'sensor_offset_mm'];

// Container types the city uses; depth is the sensor's full range (empty bin) before its offset.
const CONTAINERS = {
  240: { capacity_l: 240, depth_mm: 1000 },
  1100: { capacity_l: 1100, depth_mm: 1200 },
  3000: { capacity_l: 3000, depth_mm: 1600 },
  5000: { capacity_l: 5000, depth_mm: 2000 },
};

// Mix of container sizes by kind of street: underground containers dominate the old centre and the
// shopping streets, wheelie bins and 1100 L containers the residential streets.
const PROFILES = {
  centre: { 240: 0.05, 1100: 0.2, 3000: 0.4, 5000: 0.35 },
  urban: { 240: 0.2, 1100: 0.3, 3000: 0.35, 5000: 0.15 },
  residential: { 240: 0.3, 1100: 0.35, 3000: 0.3, 5000: 0.05 },
};
const KINDS = { rest: 0.45, paper: 0.18, plastic: 0.13, glass: 0.12, organic: 0.12 };

/**
 * One street: a polyline of [lat, lon] points in house-number order, the numbers at its two ends,
 * how many bins it gets, how far from the line they stand (metres), and its container profile.
 * `sides: 'square'` numbers a square consecutively instead of odd left / even right.
 */
const STREETS = [
  // --- centrum (Binnenstad, inside the singel) ---
  // the canal's line; the quay streets on both sides carry the numbers (odd west, even east)
  {
    name: 'Oudegracht', zone: 'centrum', from: 1, to: 420, bins: 30, offset: 19, profile: 'centre',
    pts: [[52.0967, 5.1166], [52.095, 5.1162], [52.0935, 5.1161], [52.0924, 5.1172], [52.0915, 5.1186],
      [52.0903, 5.1195], [52.0885, 5.1204], [52.0866, 5.1214], [52.0848, 5.1232], [52.0832, 5.1255],
      [52.0825, 5.1267]],
  },
  { name: 'Lange Viestraat', zone: 'centrum', from: 1, to: 30, bins: 3, offset: 7, profile: 'centre',
    pts: [[52.0931, 5.1143], [52.0935, 5.1156]] },
  { name: 'Vredenburg', zone: 'centrum', from: 1, to: 40, bins: 3, offset: 12, profile: 'centre', sides: 'square',
    pts: [[52.0927, 5.1132], [52.0917, 5.1146]] },
  { name: 'Neude', zone: 'centrum', from: 1, to: 38, bins: 4, offset: 14, profile: 'centre', sides: 'square',
    pts: [[52.0934, 5.1181], [52.0926, 5.1193]] },
  { name: 'Voorstraat', zone: 'centrum', from: 1, to: 104, bins: 8, offset: 7, profile: 'centre',
    pts: [[52.0953, 5.118], [52.0951, 5.121], [52.095, 5.1239]] },
  { name: 'Wittevrouwenstraat', zone: 'centrum', from: 1, to: 42, bins: 4, offset: 7, profile: 'centre',
    pts: [[52.095, 5.1241], [52.0947, 5.1271]] },
  { name: 'Nobelstraat', zone: 'centrum', from: 1, to: 310, bins: 6, offset: 7, profile: 'centre',
    pts: [[52.0934, 5.1228], [52.0933, 5.1275]] },
  { name: 'Janskerkhof', zone: 'centrum', from: 1, to: 30, bins: 3, offset: 12, profile: 'centre', sides: 'square',
    pts: [[52.0938, 5.1207], [52.0932, 5.1223]] },
  { name: 'Lange Nieuwstraat', zone: 'centrum', from: 1, to: 140, bins: 8, offset: 7, profile: 'centre',
    pts: [[52.0893, 5.1222], [52.0868, 5.1234], [52.0843, 5.1246]] },
  { name: 'Springweg', zone: 'centrum', from: 1, to: 170, bins: 6, offset: 7, profile: 'centre',
    pts: [[52.0886, 5.1185], [52.0869, 5.1193], [52.0852, 5.1203]] },
  { name: 'Mariaplaats', zone: 'centrum', from: 1, to: 50, bins: 3, offset: 12, profile: 'centre', sides: 'square',
    pts: [[52.0896, 5.1171], [52.0889, 5.1183]] },
  { name: 'Domplein', zone: 'centrum', from: 1, to: 30, bins: 2, offset: 12, profile: 'centre', sides: 'square',
    pts: [[52.0911, 5.1216], [52.091, 5.1229]] },

  // --- noordoost (Wittevrouwen, Vogelenbuurt, Lauwerecht, Zeeheldenbuurt, Voordorp) ---
  { name: 'Biltstraat', zone: 'noordoost', from: 1, to: 450, bins: 14, offset: 9, profile: 'urban',
    pts: [[52.0945, 5.1291], [52.096, 5.136], [52.0973, 5.1415], [52.0982, 5.1447]] },
  { name: 'Adelaarstraat', zone: 'noordoost', from: 1, to: 90, bins: 7, offset: 7, profile: 'residential',
    pts: [[52.0968, 5.1256], [52.0979, 5.1272], [52.099, 5.129]] },
  { name: 'Oudenoord', zone: 'noordoost', from: 1, to: 340, bins: 7, offset: 14, profile: 'urban',
    pts: [[52.0975, 5.1182], [52.0992, 5.119], [52.101, 5.1199]] },
  { name: 'Karel Doormanlaan', zone: 'noordoost', from: 1, to: 320, bins: 8, offset: 10, profile: 'residential',
    pts: [[52.0988, 5.1345], [52.102, 5.1347], [52.1055, 5.1349]] },
  { name: 'Kardinaal de Jongweg', zone: 'noordoost', from: 1, to: 120, bins: 6, offset: 12, profile: 'residential',
    pts: [[52.0983, 5.1408], [52.1015, 5.1404], [52.1045, 5.1402]] },

  // --- oost (Buiten Wittevrouwen, Oudwijk, Wilhelminapark, Schildersbuurt, Abstede, Science Park) ---
  { name: 'Maliebaan', zone: 'oost', from: 1, to: 110, bins: 9, offset: 16, profile: 'residential',
    pts: [[52.0922, 5.1292], [52.0901, 5.1309], [52.0882, 5.1325]] },
  { name: 'Nachtegaalstraat', zone: 'oost', from: 1, to: 90, bins: 7, offset: 7, profile: 'urban',
    pts: [[52.0932, 5.1293], [52.0927, 5.1322], [52.0922, 5.135]] },
  { name: 'Burgemeester Reigerstraat', zone: 'oost', from: 1, to: 90, bins: 7, offset: 7, profile: 'urban',
    pts: [[52.092, 5.1353], [52.0895, 5.1362], [52.087, 5.1372]] },
  { name: 'Prins Hendriklaan', zone: 'oost', from: 1, to: 120, bins: 8, offset: 9, profile: 'residential',
    pts: [[52.0857, 5.1396], [52.0855, 5.1438], [52.0853, 5.1466]] },
  { name: 'Adriaen van Ostadelaan', zone: 'oost', from: 1, to: 180, bins: 9, offset: 9, profile: 'residential',
    pts: [[52.0842, 5.1386], [52.0822, 5.1405], [52.0801, 5.1424]] },
  { name: 'Abstederdijk', zone: 'oost', from: 1, to: 300, bins: 7, offset: 8, profile: 'residential',
    pts: [[52.0848, 5.1302], [52.0829, 5.1331], [52.081, 5.136]] },
  { name: 'Heidelberglaan', zone: 'oost', from: 1, to: 100, bins: 6, offset: 15, profile: 'urban',
    pts: [[52.0855, 5.168], [52.0859, 5.173], [52.0862, 5.178]] },

  // --- zuid (Tolsteeg, Rotsoord, Hoograven, Lunetten) ---
  { name: 'Bollenhofsestraat', zone: 'zuid', from: 1, to: 180, bins: 6, offset: 7, profile: 'residential',
    pts: [[52.0815, 5.1286], [52.0803, 5.1293], [52.0791, 5.1301]] },
  { name: 'Rotsoord', zone: 'zuid', from: 1, to: 40, bins: 3, offset: 10, profile: 'urban',
    pts: [[52.079, 5.1257], [52.0776, 5.1268]] },
  { name: 'Briljantlaan', zone: 'zuid', from: 1, to: 220, bins: 8, offset: 10, profile: 'residential',
    pts: [[52.075, 5.1246], [52.0745, 5.1283], [52.0739, 5.132]] },
  { name: 'Smaragdplein', zone: 'zuid', from: 1, to: 40, bins: 3, offset: 12, profile: 'urban', sides: 'square',
    pts: [[52.0752, 5.1272], [52.0746, 5.1284]] },
  { name: 'Hoogravenseweg', zone: 'zuid', from: 1, to: 240, bins: 7, offset: 9, profile: 'residential',
    pts: [[52.079, 5.1302], [52.0758, 5.1297], [52.0726, 5.1291]] },
  { name: 'Hondsrug', zone: 'zuid', from: 1, to: 60, bins: 6, offset: 10, profile: 'urban',
    pts: [[52.0645, 5.1386], [52.0635, 5.141], [52.0626, 5.1434]] },
  { name: 'Ravellaan', zone: 'zuid', from: 1, to: 160, bins: 5, offset: 10, profile: 'residential',
    pts: [[52.0688, 5.1366], [52.0682, 5.1405], [52.0676, 5.1444]] },

  // --- west (Lombok, Oog in Al) ---
  { name: 'Vleutenseweg', zone: 'west', from: 1, to: 460, bins: 14, offset: 9, profile: 'urban',
    pts: [[52.0936, 5.107], [52.0945, 5.099], [52.0958, 5.088]] },
  { name: 'Kanaalstraat', zone: 'west', from: 1, to: 250, bins: 9, offset: 7, profile: 'urban',
    pts: [[52.0927, 5.1045], [52.0931, 5.1017], [52.0935, 5.099]] },
  { name: 'Damstraat', zone: 'west', from: 1, to: 60, bins: 5, offset: 7, profile: 'residential',
    pts: [[52.0919, 5.104], [52.0924, 5.1001]] },
  { name: 'Laan van Nieuw Guinea', zone: 'west', from: 1, to: 110, bins: 5, offset: 8, profile: 'residential',
    pts: [[52.0942, 5.1015], [52.0928, 5.1017], [52.0915, 5.102]] },
  { name: 'Van Tuyll van Serooskerkenweg', zone: 'west', from: 1, to: 120, bins: 6, offset: 9, profile: 'residential',
    pts: [[52.0893, 5.0948], [52.0876, 5.0936], [52.086, 5.0925]] },

  // --- noordwest (Pijlsweerd, Ondiep, Zuilen) ---
  { name: 'Amsterdamsestraatweg', zone: 'noordwest', from: 1, to: 990, bins: 24, offset: 10, profile: 'urban',
    pts: [[52.0976, 5.1143], [52.1013, 5.1035], [52.1052, 5.0922], [52.1085, 5.0855], [52.1112, 5.079]] },
  { name: 'Daalsedijk', zone: 'noordwest', from: 1, to: 240, bins: 7, offset: 10, profile: 'residential',
    pts: [[52.096, 5.1085], [52.0983, 5.104], [52.1005, 5.0995]] },
  { name: 'Marnixlaan', zone: 'noordwest', from: 1, to: 300, bins: 5, offset: 10, profile: 'residential',
    pts: [[52.104, 5.0905], [52.1052, 5.0922], [52.107, 5.095]] },

  // --- leidsche-rijn (Leidsche Rijn Centrum, Langerak, Terwijde) ---
  { name: 'Brusselplein', zone: 'leidsche-rijn', from: 1, to: 40, bins: 4, offset: 12, profile: 'urban', sides: 'square',
    pts: [[52.0922, 5.0684], [52.0928, 5.07]] },
  { name: 'Berlijnplein', zone: 'leidsche-rijn', from: 1, to: 30, bins: 3, offset: 12, profile: 'urban', sides: 'square',
    pts: [[52.0944, 5.0704], [52.095, 5.0716]] },
  { name: 'Langerakbaan', zone: 'leidsche-rijn', from: 1, to: 300, bins: 7, offset: 10, profile: 'residential',
    pts: [[52.093, 5.058], [52.096, 5.059], [52.099, 5.06]] },
  { name: 'Terwijdelaan', zone: 'leidsche-rijn', from: 1, to: 200, bins: 7, offset: 10, profile: 'residential',
    pts: [[52.0985, 5.047], [52.099, 5.0515], [52.0995, 5.056]] },
  { name: 'Grauwaartsingel', zone: 'leidsche-rijn', from: 1, to: 160, bins: 6, offset: 14, profile: 'residential',
    pts: [[52.101, 5.05], [52.1, 5.054], [52.099, 5.058]] },
];

// ---------------------------------------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence on every machine for the same seed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(rng, weights) {
  const entries = Object.entries(weights);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let r = rng() * total;
  for (const [key, w] of entries) {
    r -= w;
    if (r < 0) return key;
  }
  return entries[entries.length - 1][0];
}

// Local flat projection around the city centre; errors are far below the map's own accuracy.
const LAT0 = 52.09;
const M_PER_DEG_LAT = 111_132;
const M_PER_DEG_LON = 111_320 * Math.cos((LAT0 * Math.PI) / 180);
const toXY = ([lat, lon]) => [lon * M_PER_DEG_LON, lat * M_PER_DEG_LAT];
const toLatLon = ([x, y]) => [y / M_PER_DEG_LAT, x / M_PER_DEG_LON];

/** Point at fraction t of the polyline's length, with the unit normal to its left. */
function along(pts, t) {
  const xy = pts.map(toXY);
  const lengths = xy.slice(1).map((p, i) => Math.hypot(p[0] - xy[i][0], p[1] - xy[i][1]));
  let d = t * lengths.reduce((a, b) => a + b, 0);
  for (let i = 0; i < lengths.length; i++) {
    if (d <= lengths[i] || i === lengths.length - 1) {
      const f = Math.min(1, d / lengths[i]);
      const [ax, ay] = xy[i];
      const [bx, by] = xy[i + 1];
      const [ux, uy] = [(bx - ax) / lengths[i], (by - ay) / lengths[i]];
      return { x: ax + f * (bx - ax), y: ay + f * (by - ay), nx: -uy, ny: ux };
    }
    d -= lengths[i];
  }
  throw new Error('unreachable');
}

function containerFor(rng, profile, kind) {
  let size = Number(pick(rng, PROFILES[profile]));
  // organic waste goes in small bins that are emptied often; glass banks are underground
  if (kind === 'organic' && size > 1100) size = rng() < 0.6 ? 240 : 1100;
  if (kind === 'glass' && size < 3000) size = 3000;
  return CONTAINERS[size];
}

function generate() {
  const rng = prng(SEED);
  const bins = [];
  const usedAddresses = new Set();
  for (const street of STREETS) {
    for (let i = 0; i < street.bins; i++) {
      // stratified along the street so that bins spread out instead of clumping
      const t = (i + 0.15 + 0.7 * rng()) / street.bins;
      const side = rng() < 0.5 ? 1 : -1; // +1 left (odd numbers), -1 right (even numbers)
      const p = along(street.pts, t);
      const offset = street.offset * (0.85 + 0.3 * rng());
      const [lat, lon] = toLatLon([p.x + side * offset * p.nx, p.y + side * offset * p.ny]);

      let number = Math.max(street.from, Math.round(street.from + t * (street.to - street.from)));
      if (street.sides !== 'square') {
        const wantOdd = side === 1;
        if ((number % 2 === 1) !== wantOdd) number += number + 1 <= street.to ? 1 : -1;
      }
      while (usedAddresses.has(`${street.name} ${number}`)) number += street.sides === 'square' ? 1 : 2;
      const address = `${street.name} ${number}`;
      usedAddresses.add(address);

      const kind = pick(rng, KINDS);
      const container = containerFor(rng, street.profile, kind);
      bins.push({
        lat: Number(lat.toFixed(6)),
        lon: Number(lon.toFixed(6)),
        address,
        zone: street.zone,
        kind,
        capacity_l: container.capacity_l,
        depth_mm: container.depth_mm,
        sensor_offset_mm: 40 + Math.floor(rng() * 41),
      });
    }
  }
  return bins.map((bin, i) => ({ id: `UTR-${String(i + 1).padStart(4, '0')}`, ...bin }));
}

const csvField = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

function toCsv(bins) {
  const rows = bins.map((b) => HEADER.map((h) => csvField(h === 'lat' || h === 'lon' ? b[h].toFixed(6) : b[h])).join(','));
  return `${HEADER.join(',')}\n${rows.join('\n')}\n`;
}

function toGeoJson(bins) {
  return {
    type: 'FeatureCollection',
    features: bins.map(({ lat, lon, ...properties }) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [lon, lat] },
      properties,
    })),
  };
}

const bins = generate();
if (bins.length < 300 || bins.length > 400) throw new Error(`expected 300..400 bins, got ${bins.length}`);
mkdirSync(dirname(CSV_PATH), { recursive: true });
writeFileSync(CSV_PATH, toCsv(bins));
// one feature a line: small, and a diff shows which bins changed
const { features } = toGeoJson(bins);
writeFileSync(
  GEOJSON_PATH,
  `{"type":"FeatureCollection","features":[\n${features.map((f) => JSON.stringify(f)).join(',\n')}\n]}\n`,
);
const zones = new Set(bins.map((b) => b.zone)).size;
process.stdout.write(`wrote ${bins.length} bins in ${zones} zones on ${STREETS.length} streets\n  ${CSV_PATH}\n  ${GEOJSON_PATH}\n`);
