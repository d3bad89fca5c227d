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

/** The `bin_reading` point of one reading and, now and then, its `bin_state` point (SPEC.md "InfluxDB schema"). */
export function readingPoints(
  r: ReadingValues,
  bin: { id: string; zone: string; kind: string; lat: number; lon: number },
  withState: boolean,
): string[] {
  const tags = { bin_id: bin.id, zone: bin.zone, kind: bin.kind };
  const fields = { fill_pct: r.fillPct, distance_mm: r.distanceMm, battery_pct: r.batteryPct, temperature_c: r.temperatureC, tilt: r.tilt, rssi: r.rssi };
  const lines = [lineProtocol('bin_reading', tags, fields, r.ts)];
  if (withState) lines.push(lineProtocol('bin_state', tags, { fill_pct: r.fillPct, lat: bin.lat, lon: bin.lon }, r.ts));
  return lines;
}
