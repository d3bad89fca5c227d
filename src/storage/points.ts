import { Point, type PointSettings } from '@influxdata/influxdb-client';
import type { ReadingValues } from '../reading.js';

// Every point binbridge writes goes through the official client's Point, with millisecond timestamps
// (the reading's own time), and both write APIs are called with precision=ms. Numeric fields are always
// floats: InfluxDB refuses a field whose type changes, so a sensor sending 412 and then 412.5 must not matter.
const settings: PointSettings = { convertTime: (t) => (t === undefined ? undefined : String(t)) };

export type FieldValue = number | boolean | string | undefined | null;

/** One line of line protocol; tags with empty values and absent fields are left out. */
export function lineProtocol(measurement: string, tags: Record<string, string>, fields: Record<string, FieldValue>, tsMs: number): string {
  const p = new Point(measurement);
  for (const [k, v] of Object.entries(tags)) if (v) p.tag(k, v);
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'number') p.floatField(k, v);
    else if (typeof v === 'boolean') p.booleanField(k, v);
    else p.stringField(k, v);
  }
  p.timestamp(Math.round(tsMs));
  const line = p.toLineProtocol(settings);
  if (line === undefined) throw new Error(`point ${measurement} has no fields`);
  return line;
}

/** What a reading's points take from its bin. */
export interface PointBin {
  id: string;
  zone: string;
  kind: string;
  lat: number;
  lon: number;
}

/** A reading's own points, to be made where its journal entry is committed (readingPoints). */
export interface ReadingPointsOf {
  bin: PointBin;
  /** with its bin_state point too */
  withState: boolean;
}

/** A bin's parts of its points that no reading changes, made by lineProtocol itself (so escaped as it escapes). */
interface BinParts {
  id: string;
  zone: string;
  kind: string;
  lat: number;
  lon: number;
  /** `bin_reading,<tags> ` */
  reading: string;
  /** `bin_state,<tags> fill_pct=` */
  state: string;
  /** `,lat=…,lon=… `, made with the first bin_state point (lineProtocol refuses a place that is no number only there) */
  latLon: string | null;
}

const finite = (v: number | undefined): boolean => v === undefined || Number.isFinite(v);

const binParts = new WeakMap<PointBin, BinParts>();

function partsOf(bin: PointBin): BinParts {
  const p = binParts.get(bin);
  // a bin edited in place (id, zone, kind, place) gets its parts made again
  if (p && p.id === bin.id && p.zone === bin.zone && p.kind === bin.kind && p.lat === bin.lat && p.lon === bin.lon) return p;
  const tags = { bin_id: bin.id, zone: bin.zone, kind: bin.kind };
  // every line ends in ` <fields> <ts>`: with one field `x=0` and ts 0, what comes before it is the measurement and tags
  const made: BinParts = {
    id: bin.id,
    zone: bin.zone,
    kind: bin.kind,
    lat: bin.lat,
    lon: bin.lon,
    reading: lineProtocol('bin_reading', tags, { x: 0 }, 0).slice(0, -' x=0 0'.length) + ' ',
    state: lineProtocol('bin_state', tags, { x: 0 }, 0).slice(0, -' x=0 0'.length) + ' fill_pct=',
    latLon: null,
  };
  binParts.set(bin, made);
  return made;
}

/**
 * The `bin_reading` point of one reading and, now and then, its `bin_state` point (SPEC.md "InfluxDB schema").
 * Byte for byte what lineProtocol makes of them (points.test.ts compares), without its Point and its sorting per
 * reading: the bin's measurement and tags are made once, the fields are written in lineProtocol's (sorted) order.
 */
export function readingPoints(r: ReadingValues, bin: PointBin, withState: boolean): string[] {
  // lineProtocol's own error for a value that is no finite number (validation lets none through)
  if (!finite(r.fillPct) || !finite(r.distanceMm) || !finite(r.batteryPct) || !finite(r.temperatureC) || !finite(r.rssi) || !finite(r.ts)) {
    return referencePoints(r, bin, withState);
  }
  const p = partsOf(bin);
  // sorted as lineProtocol sorts: battery_pct, distance_mm, fill_pct, rssi, temperature_c, tilt
  let fields = '';
  if (r.batteryPct !== undefined) fields += `battery_pct=${r.batteryPct},`;
  if (r.distanceMm !== undefined) fields += `distance_mm=${r.distanceMm},`;
  fields += `fill_pct=${r.fillPct}`;
  if (r.rssi !== undefined) fields += `,rssi=${r.rssi}`;
  if (r.temperatureC !== undefined) fields += `,temperature_c=${r.temperatureC}`;
  if (r.tilt !== undefined) fields += r.tilt ? ',tilt=T' : ',tilt=F';
  const ts = String(Math.round(r.ts));
  const reading = `${p.reading}${fields} ${ts}`;
  if (!withState) return [reading];
  p.latLon ??= latLonOf(bin);
  return [reading, `${p.state}${r.fillPct}${p.latLon}${ts}`];
}

/**
 * Throws what readingPoints would throw for these points, so that a reading whose points are made later (in the
 * journal worker, with others in one transaction) is refused alone and now; costs a lookup and a few comparisons.
 */
export function checkPoints(r: ReadingValues, bin: PointBin, withState: boolean): void {
  if (!finite(r.fillPct) || !finite(r.distanceMm) || !finite(r.batteryPct) || !finite(r.temperatureC) || !finite(r.rssi) || !finite(r.ts)) {
    referencePoints(r, bin, withState);
  }
  const p = partsOf(bin);
  if (withState) p.latLon ??= latLonOf(bin);
}

const latLonOf = (bin: PointBin): string => ',' + lineProtocol('p', {}, { lat: bin.lat, lon: bin.lon }, 0).slice('p '.length, -' 0'.length) + ' ';

/** The same points through lineProtocol: the definition readingPoints keeps to. */
export function referencePoints(r: ReadingValues, bin: PointBin, withState: boolean): string[] {
  const tags = { bin_id: bin.id, zone: bin.zone, kind: bin.kind };
  const fields = { fill_pct: r.fillPct, distance_mm: r.distanceMm, battery_pct: r.batteryPct, temperature_c: r.temperatureC, tilt: r.tilt, rssi: r.rssi };
  const lines = [lineProtocol('bin_reading', tags, fields, r.ts)];
  if (withState) lines.push(lineProtocol('bin_state', tags, { fill_pct: r.fillPct, lat: bin.lat, lon: bin.lon }, r.ts));
  return lines;
}
