import { z } from 'zod';
import { measurementSchema, type Measurement, type Rejection } from './reading.js';

export type Decoded = { ok: true; measurement: Measurement } | ({ ok: false } & Rejection);

/** The native payload: one JSON object with the measurement fields of SPEC.md (unknown keys ignored). */
export function decodeNative(payload: Buffer | string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'bad_json', detail: 'payload is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'bad_json', detail: 'payload is not a JSON object' };
  }
  return validateMeasurement(value);
}

type Check = { key: keyof Measurement } & ({ kind: 'number'; min: number; max: number } | { kind: 'boolean' } | { kind: 'string|number' });

/**
 * The schema's fields as plain checks, read from the schema itself (a field of another shape stops the start, so
 * that the two cannot drift apart). A reading passes through these instead of zod, which costs the event loop more
 * per reading than the rest of its decoding; whatever they do not pass goes through zod, for zod's own error.
 */
const CHECKS: readonly Check[] = Object.entries(measurementSchema.shape).map(([key, field]): Check => {
  const inner: z.ZodType = field.unwrap();
  const k = key as keyof Measurement;
  if (inner instanceof z.ZodNumber && inner.minValue !== null && inner.maxValue !== null) return { key: k, kind: 'number', min: inner.minValue, max: inner.maxValue };
  if (inner instanceof z.ZodBoolean) return { key: k, kind: 'boolean' };
  if (inner instanceof z.ZodUnion && inner.options.length === 2 && inner.options[0] instanceof z.ZodString && inner.options[1] instanceof z.ZodNumber) {
    return { key: k, kind: 'string|number' };
  }
  throw new Error(`decode-native: measurementSchema.${key} has a shape its fast check does not know`);
});

/** The fields as zod would give them when they are all valid; null when zod must say what is wrong. */
function quickMeasurement(value: Record<string, unknown>): Measurement | null {
  const m: Record<string, unknown> = {};
  for (const c of CHECKS) {
    const v = value[c.key];
    if (v === undefined) continue;
    if (c.kind === 'number') {
      // NaN fails both comparisons, ±Infinity one
      if (typeof v !== 'number' || !(v >= c.min && v <= c.max)) return null;
    } else if (c.kind === 'boolean') {
      if (typeof v !== 'boolean') return null;
    } else if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return null;
    m[c.key] = v;
  }
  return m as Measurement;
}

/** Checks decoded fields against the measurement schema; shared by every decoder. */
export function validateMeasurement(value: unknown): Decoded {
  const quick = typeof value === 'object' && value !== null && !Array.isArray(value) ? quickMeasurement(value as Record<string, unknown>) : null;
  if (quick) return withFill(quick);
  const r = measurementSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.');
    const range = issue.code === 'too_big' || issue.code === 'too_small';
    return { ok: false, reason: range ? 'out_of_range' : 'invalid', detail: `${field}: ${issue.message}` };
  }
  return withFill(r.data);
}

function withFill(m: Measurement): Decoded {
  if (m.fill_pct === undefined && m.distance_mm === undefined) return { ok: false, reason: 'no_fill', detail: 'neither fill_pct nor distance_mm' };
  return { ok: true, measurement: m };
}
