// The city the twin runs: its bins (any bins file binbridge reads), binbridge's config made to fit them, a crew
// for every zone, each zone's depot, and the local time the model's rhythms and the crews' shifts follow.
import path from 'node:path';
import { localMinutes } from '../src/dispatch/index.js';
import { loadConfig, type Config, type Crew } from '../src/config/index.js';
import { readBinsFile, type Bin } from '../src/registry/index.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export interface City {
  bins: Bin[];
  /** binbridge's config for this city (ports, data folder and strategy still to be set by the run) */
  config: Config;
  crews: Crew[];
  /** each zone's depot: the centroid of its bins */
  depots: Map<string, { lat: number; lon: number }>;
  /** local midnight starting the first Monday of November 2026 (no daylight-saving change for 28 days) */
  startMs: number;
  utcOffsetMinutes: number;
}

/** The time zone's offset from UTC at that instant, in minutes. */
export function utcOffsetAt(ms: number, timeZone: string): number {
  const utc = Math.floor((ms % DAY) / MINUTE);
  let diff = localMinutes(ms, timeZone) - utc;
  if (diff > 720) diff -= 1440;
  if (diff < -720) diff += 1440;
  return diff;
}

/**
 * Reads the bins file and fits binbridge's config (`configFile`, config/binbridge.yaml by default) to it: the
 * config's zones when they hold every bin's zone, else the bins file's; every kind the file names; the config's
 * crews for the zones they serve here, and a day crew (06:00-22:00) for each zone none serves.
 */
export function loadCity(binsFile: string, configFile = 'config/binbridge.yaml'): City {
  const { config } = loadConfig({ file: configFile, env: {} });
  const bins = readBinsFile(binsFile);
  if (bins.length === 0) throw new Error(`${binsFile}: no bins`);
  const zoneIds = [...new Set(bins.map((b) => b.zone))];
  const configured = new Set(config.zones.map((z) => z.id));
  const zones = zoneIds.every((z) => configured.has(z)) ? config.zones.filter((z) => zoneIds.includes(z.id)) : zoneIds.map((id) => ({ id, name: id }));
  const crews: Crew[] = config.crews
    .map((c) => ({ ...c, zones: c.zones.filter((z) => zoneIds.includes(z)) }))
    .filter((c) => c.zones.length > 0);
  zoneIds.forEach((zone, i) => {
    if (crews.some((c) => c.zones.includes(zone))) return;
    crews.push({ id: `twin-crew-${zone}`.slice(0, 64), name: `Twin crew ${zone}`, phone: `3197${String(100000 + i).padStart(9, '0')}`, zones: [zone], shift: '06:00-22:00', lang: 'en' });
  });
  const depots = new Map<string, { lat: number; lon: number }>();
  for (const zone of zoneIds) {
    const of = bins.filter((b) => b.zone === zone);
    depots.set(zone, { lat: of.reduce((s, b) => s + b.lat, 0) / of.length, lon: of.reduce((s, b) => s + b.lon, 0) / of.length });
  }
  const noonUtc = Date.UTC(2026, 10, 2, 12);
  const utcOffsetMinutes = utcOffsetAt(noonUtc, config.timezone);
  const startMs = Date.UTC(2026, 10, 2) - utcOffsetMinutes * MINUTE;
  const kinds = [...new Set([...config.registry.kinds, ...bins.map((b) => b.kind)])];
  return {
    bins,
    config: { ...config, zones, crews, registry: { ...config.registry, bins_file: path.resolve(binsFile), kinds } },
    crews,
    depots,
    startMs,
    utcOffsetMinutes,
  };
}
