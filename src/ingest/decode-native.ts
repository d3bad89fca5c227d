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

/** Checks decoded fields against the measurement schema; shared by every decoder. */
export function validateMeasurement(value: unknown): Decoded {
  const r = measurementSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.');
    const range = issue.code === 'too_big' || issue.code === 'too_small';
    return { ok: false, reason: range ? 'out_of_range' : 'invalid', detail: `${field}: ${issue.message}` };
  }
  if (r.data.fill_pct === undefined && r.data.distance_mm === undefined) {
    return { ok: false, reason: 'no_fill', detail: 'neither fill_pct nor distance_mm' };
  }
  return { ok: true, measurement: r.data };
}
