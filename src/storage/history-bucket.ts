import { orderTs } from '../rules/index.js';
import type { LatestReading } from './bin-state.js';

/** The embedded history's resolution: one point per bin per quarter of an hour. */
export const BUCKET_MS = 15 * 60_000;
/** How long the embedded history keeps a bin's points. */
export const HISTORY_DAYS = 35;
export const HISTORY_MS = HISTORY_DAYS * 86_400_000;

/**
 * One bin's quarter of an hour, as stored: values in tenths (of a percent, of a degree) so that SQLite keeps them
 * as 1–2 byte integers rather than 8-byte floats. Every field is a commutative merge of the readings in it, so the
 * same readings give the same bucket whatever order they arrive in (a sensor's backlog, a redelivery).
 */
export interface HistoryBucket {
  binId: string;
  /** floor(orderTs / BUCKET_MS) */
  bucket: number;
  readings: number;
  /** the fill of the bucket's last reading (the latest orderTs; on a tie, the higher fill) */
  fill: number;
  /** that reading's orderTs, in ms after the bucket's start */
  fillAt: number;
  fillMin: number;
  fillMax: number;
  /** the lowest battery level in the bucket (a battery sags in the cold; the low one is the one that matters) */
  batteryMin: number | null;
  /** the highest temperature in the bucket (a fire shows as a peak that a later reading must not hide) */
  temperatureMax: number | null;
}

/** A value in tenths, half away from zero (so -3.25 °C is -3.3 as 3.25 °C is 3.3). */
export function tenths(v: number): number {
  const t = Math.round(Math.abs(v) * 10);
  return v < 0 && t !== 0 ? -t : t;
}

/** One reading as a bucket of its own; it is placed at its orderTs, like every "which is newest" in binbridge. */
export function bucketOf(r: LatestReading): HistoryBucket {
  const at = orderTs(r);
  const bucket = Math.floor(at / BUCKET_MS);
  const fill = tenths(r.fillPct);
  return {
    binId: r.binId,
    bucket,
    readings: 1,
    fill,
    fillAt: at - bucket * BUCKET_MS,
    fillMin: fill,
    fillMax: fill,
    batteryMin: r.batteryPct === undefined ? null : tenths(r.batteryPct),
    temperatureMax: r.temperatureC === undefined ? null : tenths(r.temperatureC),
  };
}

const pick = (a: number | null, b: number | null, f: (x: number, y: number) => number): number | null =>
  a === null ? b : b === null ? a : f(a, b);

/** Two parts of the same bin's bucket as one; the SQL upsert in ReadingHistory does the same. */
export function mergeBuckets(a: HistoryBucket, b: HistoryBucket): HistoryBucket {
  const later = b.fillAt > a.fillAt || (b.fillAt === a.fillAt && b.fill > a.fill) ? b : a;
  return {
    binId: a.binId,
    bucket: a.bucket,
    readings: a.readings + b.readings,
    fill: later.fill,
    fillAt: later.fillAt,
    fillMin: Math.min(a.fillMin, b.fillMin),
    fillMax: Math.max(a.fillMax, b.fillMax),
    batteryMin: pick(a.batteryMin, b.batteryMin, Math.min),
    temperatureMax: pick(a.temperatureMax, b.temperatureMax, Math.max),
  };
}

/** A group of readings (one journal commit) as one bucket per bin and quarter; readings before `since` are left out. */
export function downsample(readings: readonly LatestReading[], since = -Infinity): HistoryBucket[] {
  const byKey = new Map<string, HistoryBucket>();
  for (const r of readings) {
    if (orderTs(r) < since) continue;
    const b = bucketOf(r);
    const key = `${b.bucket}\u0000${b.binId}`;
    const seen = byKey.get(key);
    byKey.set(key, seen ? mergeBuckets(seen, b) : b);
  }
  return [...byKey.values()];
}
