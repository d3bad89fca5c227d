// The decoders target: the pure payload decoders called directly, as fast-check properties (so a failure is
// shrunk to a minimal input): native JSON, The Things Stack v3 and ChirpStack v4 uplinks, and toReading, fed
// with JSON-structure-aware inputs (fc.json(), fc.anything(), records with the real field names and hostile
// values, mutated real payloads). Each must never throw and must answer either ok with a measurement that obeys
// the schema, or a rejection with a known reason and a detail. toReading must also never accept an instant that
// does not exist (Feb 30, month 13, 25:61) nor move a real one.
import fc from 'fast-check';
import {
  decodeChirpstackUplink,
  decodeNative,
  decodeTtnUplink,
  measurementSchema,
  toReading,
  type Decoded,
  type FieldMapping,
  type Measurement,
  type RejectReason,
} from '../../src/ingest/index.js';
import { anyText, anyValue, edgeNumber, isoCalendar, isoLike } from '../hostile.js';
import { deriveSeed } from '../rng.js';
import { clip, type TargetStats } from '../stats.js';

const REASONS = new Set<RejectReason>([
  'bad_json',
  'invalid',
  'out_of_range',
  'no_fill',
  'bad_ts',
  'future_ts',
  'unknown_bin',
  'oversize',
  'spool_full',
  'store_error',
  'no_decoded_payload',
  'unknown_device',
  'not_an_uplink',
]);

const FIELDS = [
  'fill_pct', 'fill', 'fillLevel', 'fill_level', 'level', 'distance_mm', 'distance', 'distance_cm', 'battery_pct', 'battery', 'battery_v',
  'batteryVoltage', 'battery_voltage', 'temperature_c', 'temperature', 'tilt', 'position', 'ts', 'rssi', 'Distance', 'BATTERY', 'FILL',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf',
];

const tsValue = fc.oneof(
  { weight: 4, arbitrary: isoLike },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4_102_444_800_000 }) },
  { weight: 1, arbitrary: edgeNumber },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,25}$/) },
  { weight: 1, arbitrary: anyText(40) },
  { weight: 1, arbitrary: fc.constantFrom('2026-02-30T00:00:00Z', '2026-02-29T12:00:00Z', '2024-02-29T12:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-06-15T24:00:00Z', '2026-06-15T25:00:00Z', '2026-06-15T12:60:00Z', '2026-06-15T12:00:61Z', '2016-12-31T23:59:60Z', '2026-06-15T12:00:00+24:00', '2026-06-15T12:00:00.123456789Z', '2026-06-15T12:00Z', '1999-12-31T23:59:59Z', '0000-01-01T00:00:00Z') },
);

const fieldValue = fc.oneof(
  { weight: 4, arbitrary: edgeNumber },
  { weight: 2, arbitrary: fc.double({ min: -100, max: 20_000, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom('tilt', 'tilted', 'normal', 'upright', ' Tilt ', 'sideways', '', '42', '3.3') },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 2, arbitrary: anyValue },
);

/** A decoded payload: the real field names with hostile values (and some made-up names). */
const fieldsArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }), fc.oneof(fieldValue, tsValue), {
  maxKeys: 8,
});

const plausibleReading = fc.record(
  {
    fill_pct: fc.double({ min: -1, max: 101, noNaN: true }),
    distance_mm: fc.double({ min: -1, max: 20_001, noNaN: true }),
    battery_pct: fc.integer({ min: -1, max: 101 }),
    temperature_c: fc.double({ min: -61, max: 501, noNaN: true }),
    tilt: fc.oneof(fc.boolean(), fc.constantFrom(0, 1, 'tilt')),
    rssi: fc.integer({ min: -201, max: 21 }),
    ts: tsValue,
  },
  { requiredKeys: [] },
);

const stringify = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
};

/** Byte-level damage to a JSON text: truncation, a flipped bit, a stray byte. */
const damaged = (text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
  fc.tuple(text, fc.nat(), fc.nat({ max: 7 }), fc.constantFrom('truncate', 'flip', 'insert')).map(([s, at, bit, how]) => {
    const b = Buffer.from(s);
    if (b.length === 0) return b;
    const i = at % b.length;
    if (how === 'truncate') return b.subarray(0, i);
    if (how === 'flip') {
      b[i]! ^= 1 << bit;
      return b;
    }
    return Buffer.concat([b.subarray(0, i), Buffer.from([[0xff, 0x00, 0x22][bit % 3]!]), b.subarray(i)]);
  });

const payloadOf = (structured: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer> =>
  fc.oneof(
    { weight: 6, arbitrary: structured.map(stringify) },
    { weight: 2, arbitrary: damaged(structured.map(stringify)) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }).map(stringify) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) },
    { weight: 1, arbitrary: anyText(80) },
  );

const mappingArb: fc.Arbitrary<FieldMapping | undefined> = fc.option(
  fc.record(
    {
      fill_pct: fc.constantFrom('fill', 'sensor.level', '__proto__', 'constructor.prototype', 'a.b.c.d', '', '.', 'level.'),
      distance_mm: fc.constantFrom('distance', 'sensor.distance', '__proto__.x', 'toString'),
      battery_pct: fc.constantFrom('bat', 'battery'),
      battery_v: fc.constantFrom('volts', 'power.v'),
      temperature_c: fc.constantFrom('temp', 'env.t'),
      tilt: fc.constantFrom('tilt', 'pos', 'position'),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

const ttnTopic = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('v3/city-bins@ttn/devices/eui-70b3d57ed005b89a/up', 'v3/app/devices/dev-1/up') },
  { weight: 1, arbitrary: fc.constantFrom('v3/app/devices/dev-1/join', 'v3/app/devices/dev-1/down/queued', 'v3/app/devices//up', 'v3//devices/x/up', 'v3/app/devices/x/y/up', '') },
  { weight: 1, arbitrary: anyText(40) },
);

const chirpTopic = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/17c82e96/device/24e124713d123456/event/up', 'application/a/device/0000000000000001/event/up') },
  { weight: 1, arbitrary: fc.constantFrom('application/a/device/x/event/join', 'application/a/device/x/event/status', 'application//device//event/up', '') },
  { weight: 1, arbitrary: anyText(40) },
);

const rxArb = fc.oneof(
  fc.array(fc.record({ rssi: fieldValue, channel_rssi: fieldValue, snr: fieldValue }, { requiredKeys: [] }), { maxLength: 4 }),
  anyValue,
);

const ttnBody = fc.record(
  {
    end_device_ids: fc.oneof(
      { weight: 5, arbitrary: fc.record({ device_id: fc.oneof(fc.constantFrom('eui-70b3d57ed005b89a', 'dev-1'), anyText(30)), dev_eui: fc.oneof(fc.stringMatching(/^[0-9A-F]{16}$/), anyText(20)) }, { requiredKeys: ['device_id'] }) },
      { weight: 1, arbitrary: anyValue },
    ),
    received_at: tsValue,
    correlation_ids: fc.array(fc.string(), { maxLength: 2 }),
    uplink_message: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record(
          {
            f_port: fc.oneof(fc.integer({ min: 0, max: 255 }), anyValue),
            decoded_payload: fc.oneof({ weight: 5, arbitrary: fieldsArb }, { weight: 1, arbitrary: anyValue }),
            received_at: tsValue,
            rx_metadata: rxArb,
            last_battery_percentage: fc.oneof(fc.record({ value: fieldValue }), anyValue),
          },
          { requiredKeys: [] },
        ),
      },
      { weight: 1, arbitrary: anyValue },
    ),
    join_accept: fc.record({ session_key_id: fc.string() }),
  },
  { requiredKeys: [] },
);

const chirpBody = fc.record(
  {
    deviceInfo: fc.oneof(
      { weight: 5, arbitrary: fc.record({ devEui: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{16}$/), anyText(20)), deviceName: fc.oneof(fc.constantFrom('bin-1', ''), anyText(30)) }, { requiredKeys: ['devEui'] }) },
      { weight: 1, arbitrary: anyValue },
    ),
    time: tsValue,
    fPort: fc.oneof(fc.integer({ min: 0, max: 255 }), anyValue),
    object: fc.oneof({ weight: 5, arbitrary: fieldsArb }, { weight: 1, arbitrary: anyValue }),
    rxInfo: rxArb,
    data: fc.oneof(fc.base64String({ maxLength: 24 }), anyValue),
  },
  { requiredKeys: [] },
);

const binArb = fc.record({
  id: fc.constantFrom('UTR-0001', 'X'),
  depth_mm: fc.integer({ min: 100, max: 10_000 }),
  sensor_offset_mm: fc.integer({ min: 0, max: 2000 }),
});

/** A measurement as the schema lets it through, with any ts the schema allows. */
const measurementArb: fc.Arbitrary<Measurement> = fc
  .record(
    {
      fill_pct: fc.double({ min: 0, max: 100, noNaN: true }),
      distance_mm: fc.double({ min: 0, max: 20_000, noNaN: true }),
      battery_pct: fc.double({ min: 0, max: 100, noNaN: true }),
      temperature_c: fc.double({ min: -60, max: 500, noNaN: true }),
      tilt: fc.boolean(),
      rssi: fc.double({ min: -200, max: 20, noNaN: true }),
      ts: fc.oneof(tsValue.filter((v) => typeof v === 'string' || typeof v === 'number')) as fc.Arbitrary<string | number>,
    },
    { requiredKeys: [] },
  )
  .chain((m) => (m.fill_pct === undefined && m.distance_mm === undefined ? fc.double({ min: 0, max: 20_000, noNaN: true }).map((d) => ({ ...m, distance_mm: d })) : fc.constant(m)));

const ctxArb = fc.record({
  now: fc.oneof(fc.constant(Date.UTC(2026, 5, 15, 12)), fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) })),
  maxFutureMs: fc.oneof(fc.constant(300_000), fc.integer({ min: 0, max: 86_400_000 })),
});

// ---------------------------------------------------------------------------------------------------------
// oracles: each returns null when the answer is right, else what is wrong

function checkDecoded(d: unknown): string | null {
  if (!d || typeof d !== 'object') return `not a result: ${stringify(d)}`;
  const r = d as Decoded;
  if (r.ok === true) {
    const p = measurementSchema.safeParse(r.measurement);
    if (!p.success) return `ok, but the measurement breaks the schema: ${p.error.issues[0]?.message}`;
    for (const [k, v] of Object.entries(r.measurement)) if (typeof v === 'number' && !Number.isFinite(v)) return `ok with ${k} = ${v}`;
    if (r.measurement.fill_pct === undefined && r.measurement.distance_mm === undefined) return 'ok without fill_pct or distance_mm';
    return null;
  }
  if (r.ok === false) {
    if (!REASONS.has(r.reason)) return `refused with an unknown reason ${stringify(r.reason)}`;
    if (typeof r.detail !== 'string' || r.detail.length === 0) return 'refused without a detail';
    return null;
  }
  return `neither ok nor refused: ${clip(stringify(d), 200)}`;
}

function checkUplink(u: unknown): string | null {
  if (!u || typeof u !== 'object') return `not an uplink result: ${stringify(u)}`;
  const up = u as { device: unknown; decoded: unknown };
  if (up.device !== null) {
    if (typeof up.device !== 'object') return `device is ${stringify(up.device)}`;
    const dev = up.device as { deviceId?: unknown; devEui?: unknown };
    if (dev.deviceId !== undefined && typeof dev.deviceId !== 'string') return `deviceId is ${stringify(dev.deviceId)}`;
    if (dev.devEui !== undefined && (typeof dev.devEui !== 'string' || dev.devEui !== dev.devEui.toLowerCase())) return `devEui is ${stringify(dev.devEui)}`;
  }
  return checkDecoded(up.decoded);
}

type ReadingResult = ReturnType<typeof toReading>;

function checkReading(m: Measurement, bin: { id: string }, ctx: { now: number; maxFutureMs: number }, r: ReadingResult): string | null {
  if (!r.ok) {
    if (r.reason !== 'bad_ts' && r.reason !== 'future_ts') return `refused with ${r.reason}`;
    if (typeof r.detail !== 'string' || !r.detail) return 'refused without a detail';
    if (m.ts === undefined) return 'refused a reading without ts';
    return null;
  }
  const x = r.reading;
  if (!Number.isInteger(x.ts)) return `ts ${x.ts} is not whole milliseconds`;
  if (x.ts < 946_684_800_000) return `ts ${x.ts} is before 2000`;
  if (x.ts > ctx.now + ctx.maxFutureMs) return `ts ${x.ts} is past the future limit`;
  if (!Number.isFinite(x.fillPct) || x.fillPct < 0 || x.fillPct > 100) return `fillPct ${x.fillPct}`;
  if (x.binId !== bin.id || x.receivedAt !== ctx.now) return 'bin or receive time changed';
  if (m.ts === undefined && x.ts !== ctx.now) return 'a reading without ts is not stamped with the receive time';
  if (typeof m.ts === 'string') {
    const cal = isoCalendar(m.ts);
    if (cal?.verdict === 'invalid') return `accepted ts ${JSON.stringify(m.ts)}, a date or time that does not exist (stored as ${new Date(x.ts).toISOString()})`;
    if (cal?.verdict === 'valid' && cal.ms !== undefined && Math.abs(cal.ms - x.ts) > 1) return `ts ${JSON.stringify(m.ts)} stored as ${new Date(x.ts).toISOString()}, not the instant it names`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------

interface Property<T> {
  name: string;
  weight: number;
  arb: fc.Arbitrary<T>;
  run: (input: T) => { verdict: string | null; answer: string };
  show: (input: T) => string;
}

const showPayload = (p: string | Buffer): string => (typeof p === 'string' ? JSON.stringify(p) : `bytes ${p.toString('base64')}`);
const answerOf = (d: Decoded): string => (d.ok ? 'ok' : d.reason);

const PROPERTIES: Property<never>[] = [
  {
    name: 'decodeNative',
    weight: 35,
    arb: payloadOf(fc.oneof({ weight: 3, arbitrary: plausibleReading }, { weight: 3, arbitrary: fieldsArb }, { weight: 1, arbitrary: anyValue })),
    run: (p: string | Buffer) => {
      const d = decodeNative(p);
      return { verdict: checkDecoded(d), answer: answerOf(d) };
    },
    show: showPayload,
  } satisfies Property<string | Buffer>,
  {
    name: 'decodeTtnUplink',
    weight: 20,
    arb: fc.tuple(ttnTopic, payloadOf(ttnBody), mappingArb),
    run: ([topic, p, mapping]: [string, string | Buffer, FieldMapping | undefined]) => {
      const u = decodeTtnUplink(topic, p, mapping);
      return { verdict: checkUplink(u), answer: answerOf(u.decoded) };
    },
    show: ([topic, p, mapping]: [string, string | Buffer, FieldMapping | undefined]) => `topic ${JSON.stringify(topic)} payload ${showPayload(p)} mapping ${stringify(mapping)}`,
  } satisfies Property<[string, string | Buffer, FieldMapping | undefined]>,
  {
    name: 'decodeChirpstackUplink',
    weight: 20,
    arb: fc.tuple(chirpTopic, payloadOf(chirpBody), mappingArb),
    run: ([topic, p, mapping]: [string, string | Buffer, FieldMapping | undefined]) => {
      const u = decodeChirpstackUplink(topic, p, mapping);
      return { verdict: checkUplink(u), answer: answerOf(u.decoded) };
    },
    show: ([topic, p, mapping]: [string, string | Buffer, FieldMapping | undefined]) => `topic ${JSON.stringify(topic)} payload ${showPayload(p)} mapping ${stringify(mapping)}`,
  } satisfies Property<[string, string | Buffer, FieldMapping | undefined]>,
  {
    name: 'toReading',
    weight: 15,
    arb: fc.tuple(measurementArb, binArb, ctxArb),
    run: ([m, bin, ctx]: [Measurement, { id: string; depth_mm: number; sensor_offset_mm: number }, { now: number; maxFutureMs: number }]) => {
      const r = toReading(m, bin, { ...ctx, source: 'mqtt' });
      return { verdict: checkReading(m, bin, ctx, r), answer: r.ok ? 'ok' : r.reason };
    },
    show: (x: [Measurement, object, object]) => stringify(x),
  } satisfies Property<[Measurement, { id: string; depth_mm: number; sensor_offset_mm: number }, { now: number; maxFutureMs: number }]>,
  {
    // the whole way of a native payload: decode, then toReading for a real bin, as ingest does
    name: 'decodeNative+toReading',
    weight: 10,
    arb: fc.tuple(payloadOf(plausibleReading), binArb, ctxArb),
    run: ([p, bin, ctx]: [string | Buffer, { id: string; depth_mm: number; sensor_offset_mm: number }, { now: number; maxFutureMs: number }]) => {
      const d = decodeNative(p);
      const v = checkDecoded(d);
      if (v || !d.ok) return { verdict: v, answer: answerOf(d) };
      const r = toReading(d.measurement, bin, { ...ctx, source: 'mqtt' });
      return { verdict: checkReading(d.measurement, bin, ctx, r), answer: r.ok ? 'ok' : r.reason };
    },
    show: ([p, bin, ctx]: [string | Buffer, object, object]) => `${showPayload(p)} bin ${stringify(bin)} ctx ${stringify(ctx)}`,
  } satisfies Property<[string | Buffer, { id: string; depth_mm: number; sensor_offset_mm: number }, { now: number; maxFutureMs: number }]>,
] as unknown as Property<never>[];

/** Runs every property with its share of `budget`, stopping early at `deadline`. */
export function fuzzDecoders(stats: TargetStats, seed: number, budget: number, deadline: number): void {
  const total = PROPERTIES.reduce((s, p) => s + p.weight, 0);
  stats.begin();
  try {
    for (const prop of PROPERTIES) {
      let remaining = Math.max(1, Math.round((budget * prop.weight) / total));
      const seen = new Set<string>();
      // after a failure the rest of the budget still runs (new seeds), so the counts stay comparable; the
      // same defect found again is counted, not reported again
      for (let round = 0; remaining > 0 && Date.now() < deadline && round < 2000; round++) {
        let failed = false;
        let counted = 0;
        const count = (answer: string): void => {
          if (Date.now() > deadline) return;
          counted++;
          stats.inputs++;
          stats.answer(`${prop.name}:${answer}`);
          if (answer !== 'ok') stats.refusals++;
        };
        const details = fc.check(
          fc.property(prop.arb, (input: never) => {
            // shrinking re-runs the predicate: only the first pass counts as inputs
            if (!failed && Date.now() > deadline) return true;
            let out: { verdict: string | null; answer: string };
            try {
              out = prop.run(input);
            } catch (err) {
              if (!failed) count('threw');
              failed = true;
              throw err;
            }
            if (!failed) count(out.answer);
            if (out.verdict !== null) {
              failed = true;
              throw new Error(out.verdict);
            }
            return true;
          }),
          // the first rounds shrink what fails to a minimal input; later ones only count
          { seed: deriveSeed(seed, 'decoders', prop.name, round), numRuns: remaining, endOnFailure: round >= 3 },
        );
        remaining -= Math.max(1, counted);
        if (!details.failed) break;
        const ex = details.counterexample?.[0] as never;
        const err = details.errorInstance;
        const why = err instanceof Error ? err.message : String(err);
        // one report per kind of failure: the message without its numbers and quoted values
        const kind = why.replace(/"[^"]*"|\d+(\.\d+)?/g, '#').slice(0, 80);
        if (seen.has(kind)) {
          stats.answer(`finding:decoder_${prop.name}`);
          continue;
        }
        seen.add(kind);
        stats.find({
          check: `decoder_${prop.name}`,
          message: `${prop.name}: ${clip(why, 400)} (shrunk ${details.numShrinks} times)`,
          input: ex === undefined ? undefined : clip(prop.show(ex), 1500),
          at: `--seed ${seed} decoders ${prop.name} round ${round} (fast-check seed ${details.seed}, path ${details.counterexamplePath})`,
        });
      }
    }
  } finally {
    stats.end();
  }
}
