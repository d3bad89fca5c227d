import { fillFromDistance, type BinGeometry } from './fill.js';
import type { Measurement, Reading, ReadingSource, Rejection } from './reading.js';
import { readTimestamp } from './timestamp.js';

/**
 * Turns validated fields into a Reading of a known bin: resolves the timestamp (receive time when absent;
 * refused when more than maxFutureMs ahead; a backlog of older readings is fine) and the fill level
 * (fill_pct as sent, or converted from distance_mm with the bin's geometry).
 */
export function toReading(
  m: Measurement,
  bin: BinGeometry & { id: string },
  ctx: { now: number; maxFutureMs: number; source: ReadingSource },
): { ok: true; reading: Reading } | ({ ok: false } & Rejection) {
  let ts = ctx.now;
  if (m.ts !== undefined) {
    const t = readTimestamp(m.ts);
    if (!t.ok) return { ok: false, reason: 'bad_ts', detail: `ts ${asSent(m.ts)}: ${t.why}` };
    const parsed = t.ms;
    // earlier than 2000-01-01 is a sensor without a clock, not a backlog
    if (parsed < 946_684_800_000) return { ok: false, reason: 'bad_ts', detail: `ts ${asSent(m.ts)} is before 2000: a sensor without a clock` };
    if (parsed > ctx.now + ctx.maxFutureMs) return { ok: false, reason: 'future_ts', detail: `ts is ${Math.round((parsed - ctx.now) / 1000)} s in the future` };
    ts = parsed;
  }
  const fillPct = m.fill_pct ?? fillFromDistance(m.distance_mm!, bin);
  return {
    ok: true,
    reading: {
      binId: bin.id,
      ts,
      receivedAt: ctx.now,
      fillPct,
      distanceMm: m.distance_mm,
      batteryPct: m.battery_pct,
      temperatureC: m.temperature_c,
      tilt: m.tilt,
      rssi: m.rssi,
      source: ctx.source,
    },
  };
}

/** A timestamp as sent, for a refusal's detail (made only then: a JSON.stringify per reading is a cost the loop feels). */
function asSent(ts: unknown): string {
  return JSON.stringify(ts).slice(0, 64);
}
