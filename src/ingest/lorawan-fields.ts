import { validateMeasurement, type Decoded } from './decode-native.js';

/**
 * Names of a sensor's decoded-payload fields, per measurement, for sensors whose names binbridge does not
 * know (`mqtt.upstreams[].fields`). A dotted name reaches into nested objects (`sensor.distance`).
 * Mapped values are taken in the unit the measurement names: mm, %, V, °C; tilt as a boolean, 0/1 or "tilt".
 */
export interface FieldMapping {
  fill_pct?: string | undefined;
  distance_mm?: string | undefined;
  battery_pct?: string | undefined;
  battery_v?: string | undefined;
  temperature_c?: string | undefined;
  tilt?: string | undefined;
}

/** Who sent an uplink, as the network server names it. */
export interface UplinkDevice {
  deviceId?: string | undefined;
  /** lower-case hex */
  devEui?: string | undefined;
}

/** A network server's uplink: the device it names (null when not even that could be read) and its measurement. */
export interface LorawanUplink {
  device: UplinkDevice | null;
  decoded: Decoded;
  /** radio details binbridge does not store, for logs */
  fPort?: number | undefined;
  snr?: number | undefined;
}

/** What the envelope carries besides the decoded payload. */
export interface UplinkMeta {
  ts?: string | undefined;
  rssi?: number | undefined;
  /** the network's own idea of the battery (TTS `last_battery_percentage`), used when the payload has none */
  batteryPct?: number | undefined;
}

type Fields = Record<string, unknown>;

// Li-SOCl2 cells (the usual primary cell of LoRaWAN sensors) sit near 3.6 V until nearly empty and are done at 3.0 V.
const CELL_FULL_V = 3.6;
const CELL_EMPTY_V = 3.0;

/** A cell voltage as a percentage: 3.0–3.6 V maps linearly onto 0–100 % (clamped), one decimal. */
export function batteryPctFromVolts(volts: number): number {
  const pct = (100 * (volts - CELL_EMPTY_V)) / (CELL_FULL_V - CELL_EMPTY_V);
  return Math.round(Math.min(100, Math.max(0, pct)) * 10) / 10;
}

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function at(fields: Fields, dotted: string): unknown {
  let v: unknown = fields;
  for (const key of dotted.split('.')) v = isObject(v) ? v[key] : undefined;
  return v;
}

/** First present (not null) of the given names, exact first and then ignoring case ("Distance", "Battery"). */
function pick(fields: Fields, lower: Map<string, unknown>, names: readonly string[]): { name: string; value: unknown } | undefined {
  for (const name of names) {
    const v = fields[name];
    if (v !== undefined && v !== null) return { name, value: v };
  }
  for (const name of names) {
    const v = lower.get(name.toLowerCase());
    if (v !== undefined && v !== null) return { name, value: v };
  }
  return undefined;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const round1 = (v: number): number => Math.round(v * 10) / 10;

function tiltOf(v: unknown): unknown {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'tilt' || s === 'tilted') return true;
    if (s === 'normal' || s === 'upright') return false;
  }
  // anything else goes to validation as it is and is refused there as the wrong type
  return v;
}

/**
 * Maps a decoded payload onto the measurement fields. Names understood without configuration:
 * fill `fill_pct` `fill` `fillLevel` `fill_level` `level` (%); distance `distance_mm` `distance` (mm), `distance_cm`;
 * battery `battery_pct` (%), `battery` (% — or volts when it is at most 5 and not a whole number),
 * `battery_v` `batteryVoltage` `battery_voltage` (V, 3.0–3.6 V → 0–100 %); temperature `temperature_c` `temperature`;
 * tilt `tilt` (boolean) or `position: "tilt" | "normal"`. The mapping's names come first. A value of the wrong
 * type is passed on unchanged, so that validation refuses it.
 */
export function measurementFromFields(fields: Fields, mapping: FieldMapping = {}): Fields {
  const lower = new Map<string, unknown>();
  for (const [k, v] of Object.entries(fields)) if (!lower.has(k.toLowerCase())) lower.set(k.toLowerCase(), v);
  const mapped = (name: string | undefined): unknown => (name === undefined ? undefined : (at(fields, name) ?? undefined));
  const out: Fields = {};

  const fill = mapped(mapping.fill_pct) ?? pick(fields, lower, ['fill_pct', 'fill', 'fillLevel', 'fill_level', 'level'])?.value;
  if (fill !== undefined) out.fill_pct = fill;

  const distanceMapped = mapped(mapping.distance_mm);
  if (distanceMapped !== undefined) out.distance_mm = distanceMapped;
  else {
    const d = pick(fields, lower, ['distance_mm', 'distance', 'distance_cm']);
    if (d) out.distance_mm = d.name === 'distance_cm' && num(d.value) ? round1(d.value * 10) : d.value;
  }

  const pctMapped = mapped(mapping.battery_pct);
  const voltsMapped = mapped(mapping.battery_v);
  if (pctMapped !== undefined) out.battery_pct = pctMapped;
  else if (voltsMapped !== undefined) out.battery_pct = num(voltsMapped) ? batteryPctFromVolts(voltsMapped) : voltsMapped;
  else {
    const b = pick(fields, lower, ['battery_pct', 'battery', 'battery_v', 'batteryVoltage', 'battery_voltage']);
    if (b) {
      const volts =
        b.name === 'battery_v' || b.name === 'batteryVoltage' || b.name === 'battery_voltage' ||
        // a bare "battery" of 3.31 is a voltage; a whole 4 is more likely 4 % than a 4.0 V cell
        (b.name === 'battery' && num(b.value) && b.value <= 5 && !Number.isInteger(b.value));
      out.battery_pct = volts && num(b.value) ? batteryPctFromVolts(b.value) : b.value;
    }
  }

  const temp = mapped(mapping.temperature_c) ?? pick(fields, lower, ['temperature_c', 'temperature'])?.value;
  if (temp !== undefined) out.temperature_c = temp;

  const tiltMapped = mapped(mapping.tilt);
  if (tiltMapped !== undefined) out.tilt = tiltOf(tiltMapped);
  else {
    const t = pick(fields, lower, ['tilt', 'position']);
    if (t) out.tilt = tiltOf(t.value);
  }
  return out;
}

/** A decoded payload plus the envelope's time, signal and battery, validated like a native reading. */
export function decodeFields(payload: unknown, meta: UplinkMeta, mapping?: FieldMapping): Decoded {
  if (!isObject(payload)) return { ok: false, reason: 'invalid', detail: 'the decoded payload is not a JSON object' };
  const m = measurementFromFields(payload, mapping);
  if (m.battery_pct === undefined && meta.batteryPct !== undefined) m.battery_pct = round1(meta.batteryPct);
  if (meta.rssi !== undefined) m.rssi = meta.rssi;
  if (meta.ts !== undefined) m.ts = meta.ts;
  return validateMeasurement(m);
}

/** The JSON object of an envelope, or the refusal that says why not. */
export function parseEnvelope(payload: Buffer | string): { ok: true; value: Fields } | { ok: false; decoded: Decoded } {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, decoded: { ok: false, reason: 'bad_json', detail: 'payload is not JSON' } };
  }
  if (!isObject(value)) return { ok: false, decoded: { ok: false, reason: 'bad_json', detail: 'payload is not a JSON object' } };
  return { ok: true, value };
}

/** Strongest reception over the gateways that heard the uplink: highest RSSI and highest SNR. */
export function bestSignal(receptions: unknown, rssiKeys: readonly string[]): { rssi?: number; snr?: number } {
  const best: { rssi?: number; snr?: number } = {};
  if (!Array.isArray(receptions)) return best;
  for (const r of receptions) {
    if (!isObject(r)) continue;
    const rssi = rssiKeys.map((k) => r[k]).find(num);
    if (rssi !== undefined && (best.rssi === undefined || rssi > best.rssi)) best.rssi = rssi;
    if (num(r.snr) && (best.snr === undefined || r.snr > best.snr)) best.snr = r.snr;
  }
  return best;
}

/**
 * What every network decoder starts with: the event kind from the topic (anything but `up` is not an uplink),
 * then JSON, then the network's envelope schema. Refusals carry the device the topic names, when it names one.
 */
export function readEnvelope<T>(
  topic: string,
  payload: Buffer | string,
  topicPattern: RegExp,
  deviceFromTopic: (m: RegExpExecArray) => UplinkDevice,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } },
): { ok: true; value: T; raw: Fields } | { ok: false; uplink: LorawanUplink } {
  const t = topicPattern.exec(topic);
  const device = t ? deviceFromTopic(t) : null;
  if (t && t[2] !== 'up') return { ok: false, uplink: { device, decoded: { ok: false, reason: 'not_an_uplink', detail: `a ${t[2]} event, not an uplink` } } };
  const json = parseEnvelope(payload);
  if (!json.ok) return { ok: false, uplink: { device, decoded: json.decoded } };
  const r = schema.safeParse(json.value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { ok: false, uplink: { device, decoded: { ok: false, reason: 'invalid', detail: `${issue.path.map(String).join('.')}: ${issue.message}` } } };
  }
  return { ok: true, value: r.data, raw: json.value };
}
