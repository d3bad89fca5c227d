// Load generator for bench/ingest.ts, in a process of its own (started by the driver with `node --import tsx`).
// K sensors publish QoS 1 telemetry on a paced open-loop schedule: R readings/s in total, spread round-robin over
// the sensors, for a warm-up of W s and a measured window of D s. Sending never waits for PUBACKs, but each sensor
// keeps at most --max-inflight unacknowledged publishes (hits are counted). Each sensor is one TCP socket speaking
// MQTT 3.1.1 through mqtt-packet, as light as firmware (Nagle on, as in device TCP stacks and MQTT.js): the
// generator shares the machine's cores with what it measures, and a full client library cost more CPU per reading
// than the bare broker it drives. Publish -> PUBACK latency is timed per packet id (performance.now()). Results go
// to the driver over IPC (process.send); without an IPC channel the report is printed as one JSON line on stdout.
import net from 'node:net';
import { parseArgs } from 'node:util';
import mqttPacket, { type Packet } from 'mqtt-packet';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    sensors: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    prefix: { type: 'string', default: 'BENCH-' },
    'base-ts': { type: 'string' },
    'max-inflight': { type: 'string', default: '1000' },
    'drain-timeout': { type: 'string', default: '30' },
    // ordinary levels only: each sensor holds a level of its own in [fill-min, fill-max] with a little jitter
    // (no trend, no jumps, never one value repeated); without them fill cycles 0..97 % and crosses thresholds
    'fill-min': { type: 'string' },
    'fill-max': { type: 'string' },
  },
});

function num(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got ${v})`);
  return n;
}

const PORT = num('port', opts.port, 1);
const SENSORS = Math.floor(num('sensors', opts.sensors, 1));
const RATE = num('rate', opts.rate, 1);
const DURATION_S = num('duration', opts.duration, 1);
const WARMUP_S = num('warmup', opts.warmup, 0);
const MAX_INFLIGHT = Math.floor(num('max-inflight', opts['max-inflight'], 1));
/** packet ids 1..MAX_ID, one more than may be in flight (a sensor's tables stay small with a thousand sensors) */
const MAX_ID = MAX_INFLIGHT + 1;
if (MAX_ID > 65535) throw new Error(`--max-inflight must be at most 65534, the packet ids less one (got ${MAX_INFLIGHT})`);
const DRAIN_TIMEOUT_MS = num('drain-timeout', opts['drain-timeout'], 1) * 1000;
const FILL_MIN = opts['fill-min'] === undefined ? undefined : num('fill-min', opts['fill-min'], 0);
const FILL_MAX = opts['fill-max'] === undefined ? undefined : num('fill-max', opts['fill-max'], 0);
if ((FILL_MIN === undefined) !== (FILL_MAX === undefined) || (FILL_MIN !== undefined && (FILL_MAX! > 100 || FILL_MAX! - FILL_MIN < 2))) {
  throw new Error('--fill-min and --fill-max go together, with 0 <= min <= max - 2 <= 98');
}
const BASE_TS = opts['base-ts'] ? num('base-ts', opts['base-ts'], 0) : Date.now() - 6 * 3600_000;

export interface LatencySummary {
  count: number;
  mean_ms: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** upper bounds in ms of histogram buckets (last one: Infinity, sent as null) */
  hist_le_ms: (number | null)[];
  hist: number[];
}

export interface WindowReport {
  /** publishes issued in this window */
  published: number;
  /** of those, acknowledged (any time before the report) */
  acked: number;
  /** PUBACKs that arrived during this window (whatever window their publish was in) */
  acks_arrived: number;
  /** scheduled readings still waiting (in-flight bound) when the window ended; carried over / never sent */
  behind_at_end: number;
  latency: LatencySummary;
}

export type LoadMessage =
  | { type: 'ready'; connected: number; connect_ms: number }
  | { type: 'phase'; phase: 'measure' | 'end'; t_ms: number }
  | {
      type: 'result';
      sensors: number;
      rate: number;
      warmup: WindowReport;
      measure: WindowReport;
      published: number;
      acked: number;
      unacked: number;
      /** scheduled readings never sent (still held back by the in-flight bound when sending stopped) */
      unsent: number;
      inflight_bound_hits: number;
      max_inflight_seen: number;
      /** largest lag of the sender behind the open-loop schedule, ms */
      max_schedule_lag_ms: number;
      errors: number;
      error_samples: string[];
      drain_ms: number;
      measure_s: number;
    };

function send(msg: LoadMessage): void {
  if (process.send) process.send(msg);
  else process.stdout.write(JSON.stringify(msg) + '\n');
}

// ---------------------------------------------------------------------------------------------------------
// latency recording: one growing Float64Array per window (ms)

class Samples {
  private buf = new Float64Array(1 << 16);
  n = 0;
  add(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
  summary(): LatencySummary {
    const les = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, Infinity];
    const hist = new Array<number>(les.length).fill(0);
    const s = this.buf.slice(0, this.n).sort();
    let sum = 0;
    let b = 0;
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      sum += v;
      while (v > les[b]!) b++;
      hist[b]!++;
    }
    const q = (p: number): number => (s.length === 0 ? 0 : round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!));
    return {
      count: s.length,
      mean_ms: s.length ? round(sum / s.length) : 0,
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      p999: q(0.999),
      max: s.length ? round(s[s.length - 1]!) : 0,
      hist_le_ms: les.map((l) => (Number.isFinite(l) ? l : null)),
      hist,
    };
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

// ---------------------------------------------------------------------------------------------------------

type Phase = 'warmup' | 'measure' | 'done';

interface WindowCounters {
  published: number;
  acked: number;
  acksArrived: number;
  behindAtEnd: number;
  lat: Samples;
}

const win: Record<'warmup' | 'measure', WindowCounters> = {
  warmup: { published: 0, acked: 0, acksArrived: 0, behindAtEnd: 0, lat: new Samples() },
  measure: { published: 0, acked: 0, acksArrived: 0, behindAtEnd: 0, lat: new Samples() },
};

let phase: Phase = 'warmup';
let errors = 0;
const errorSamples: string[] = [];
function noteError(what: string): void {
  errors++;
  if (errorSamples.length < 10 && !errorSamples.includes(what)) errorSamples.push(what);
}

interface Sensor {
  socket: net.Socket;
  topic: string;
  /** payload prefixes this sensor cycles through (all but ts) */
  fills: string[];
  /** next reading number of this sensor (its ts is BASE_TS + seq * 1000) */
  seq: number;
  /** readings due by the schedule but not sent yet (held back by the in-flight bound) */
  due: number;
  inflight: number;
  blocked: boolean;
  /** the next packet id to try (1..MAX_ID) */
  nextId: number;
  /** per packet id: when its PUBLISH was written (performance.now()), NaN while free */
  sentAt: Float64Array;
  /** per packet id: the window it was published in */
  sentIn: Uint8Array;
}

// cheap payloads: a handful of precomputed prefixes, only ts changes
const prefix = (fill: number): string => `{"fill_pct":${fill.toFixed(1)},"battery_pct":80,"ts":`;
const FILL = Array.from({ length: 101 }, (_, i) => prefix(i * 0.97));
/** --fill-min/--fill-max: sensor i holds a level of its own, jittering by up to +-1 % around it */
function fillsOf(i: number): string[] {
  if (FILL_MIN === undefined || FILL_MAX === undefined) return FILL;
  const lo = FILL_MIN + 1;
  const span = FILL_MAX - 1 - lo;
  const level = lo + (SENSORS === 1 ? span / 2 : (span * i) / (SENSORS - 1));
  return [0, 0.4, 1, 0.6, -0.2, -1, -0.6].map((d) => prefix(level + d));
}

const sensors: Sensor[] = [];
let inflightBoundHits = 0;
let maxInflightSeen = 0;
let totalInflight = 0;
/** largest gap between the open-loop schedule and the sender (event-loop stalls of the generator) */
let maxScheduleLagMs = 0;

/** the windows by index, as a sensor's `sentIn` keeps them: 0 the warm-up, 1 the measured window */
const windowAt = (i: number): WindowCounters => (i === 1 ? win.measure : win.warmup);
const windowNow = (): number => (phase === 'measure' ? 1 : 0);

function publishOne(s: Sensor): void {
  const seq = s.seq++;
  const payload = Buffer.from(s.fills[seq % s.fills.length]! + (BASE_TS + seq * 1000) + '}');
  let id = s.nextId;
  // an id is reused only once its PUBACK came (there is always a free one: at most MAX_INFLIGHT in flight)
  while (!Number.isNaN(s.sentAt[id]!)) id = id === MAX_ID ? 1 : id + 1;
  s.nextId = id === MAX_ID ? 1 : id + 1;
  const w = windowNow();
  windowAt(w).published++;
  s.inflight++;
  totalInflight++;
  if (s.inflight > maxInflightSeen) maxInflightSeen = s.inflight;
  s.sentIn[id] = w;
  s.sentAt[id] = performance.now();
  s.socket.write(mqttPacket.generate({ cmd: 'publish', topic: s.topic, payload, qos: 1, messageId: id, dup: false, retain: false }));
}

function onPuback(s: Sensor, id: number): void {
  const t0 = s.sentAt[id]!;
  if (Number.isNaN(t0)) {
    noteError(`PUBACK for packet id ${id}, which is not in flight`);
    return;
  }
  s.sentAt[id] = NaN;
  s.inflight--;
  totalInflight--;
  if (phase !== 'done') windowAt(windowNow()).acksArrived++;
  const w = windowAt(s.sentIn[id]!);
  w.acked++;
  w.lat.add(performance.now() - t0);
  // the bound frees up as PUBACKs come in
  if (s.due > 0 && phase !== 'done') pump(s);
}

function pump(s: Sensor): void {
  while (s.due > 0) {
    if (s.inflight >= MAX_INFLIGHT) {
      if (!s.blocked) {
        s.blocked = true;
        inflightBoundHits++;
      }
      return;
    }
    s.blocked = false;
    s.due--;
    publishOne(s);
  }
}

/** One sensor's connection: CONNECT, then PUBACKs (and PINGRESPs); resolves at its CONNACK. */
function connectSensor(i: number): Promise<void> {
  const binId = `${opts.prefix}${String(i + 1).padStart(4, '0')}`;
  const socket = net.connect({ port: PORT, host: opts.host });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const s: Sensor = {
    socket,
    topic: `bins/${binId}/telemetry`,
    fills: fillsOf(i),
    seq: 0,
    due: 0,
    inflight: 0,
    blocked: false,
    nextId: 1,
    sentAt: new Float64Array(MAX_ID + 1).fill(NaN),
    sentIn: new Uint8Array(MAX_ID + 1),
  };
  sensors.push(s);
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  parser.on('error', (err) => {
    noteError(`${binId}: ${err.message}`);
    socket.destroy();
  });
  socket.on('error', (err) => noteError(`client: ${err.message}`));
  return new Promise<void>((resolve, reject) => {
    let connected = false;
    socket.once('connect', () => {
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `bench-${binId}`, keepalive: KEEPALIVE_S }));
    });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'puback') onPuback(s, p.messageId!);
      else if (p.cmd === 'connack') {
        if (p.returnCode !== 0) return reject(new Error(`${binId}: CONNACK return code ${p.returnCode}`));
        connected = true;
        resolve();
      } else if (p.cmd !== 'pingresp') noteError(`${binId}: unexpected ${p.cmd}`);
    });
    socket.once('close', () => {
      if (!connected) reject(new Error(`${binId}: connection closed before CONNACK`));
      // a dropped connection is an error of the run, not something to paper over
      else if (phase !== 'done') noteError('connection closed during the run');
    });
  });
}

const KEEPALIVE_S = 60;
// keepalive: a PINGREQ from every sensor each half keepalive (a sensor with a low rate may publish less often)
const PINGREQ = mqttPacket.generate({ cmd: 'pingreq' });
setInterval(() => {
  for (const s of sensors) if (!s.socket.destroyed) s.socket.write(PINGREQ);
}, (KEEPALIVE_S * 1000) / 2).unref();

async function connectAll(): Promise<void> {
  const t0 = Date.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < SENSORS; i++) {
    const connected = connectSensor(i);
    // a refusal while the others are still being started is reported by Promise.all below, not as unhandled
    connected.catch(() => undefined);
    pending.push(connected);
    // the bridge limits new connections per second per address; stay well under it
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
  }
  // a connect timeout, as MQTT.js had
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('not every sensor had its CONNACK within 10 s')), 10_000);
  });
  try {
    await Promise.race([Promise.all(pending), timeout]);
  } finally {
    clearTimeout(timer);
  }
  send({ type: 'ready', connected: sensors.length, connect_ms: Date.now() - t0 });
}

function run(): Promise<void> {
  const warmupMs = WARMUP_S * 1000;
  const endMs = warmupMs + DURATION_S * 1000;
  const perMs = RATE / 1000;
  let scheduled = 0; // readings handed to sensors so far
  let next = 0; // round-robin cursor
  const t0 = performance.now();
  return new Promise((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - t0;
      if (phase === 'warmup' && elapsed >= warmupMs) {
        for (const s of sensors) win.warmup.behindAtEnd += s.due;
        phase = 'measure';
        send({ type: 'phase', phase: 'measure', t_ms: Date.now() });
      }
      const until = Math.min(elapsed, endMs);
      const target = Math.floor(until * perMs);
      const lagReadings = target - scheduled;
      if (lagReadings > 1) maxScheduleLagMs = Math.max(maxScheduleLagMs, lagReadings / perMs);
      for (; scheduled < target; scheduled++) {
        const s = sensors[next]!;
        next = next + 1 === sensors.length ? 0 : next + 1;
        s.due++;
        pump(s);
      }
      if (elapsed >= endMs) {
        for (const s of sensors) win.measure.behindAtEnd += s.due;
        phase = 'done';
        send({ type: 'phase', phase: 'end', t_ms: Date.now() });
        resolve();
        return;
      }
      setTimeout(tick, 1);
    };
    if (warmupMs === 0) {
      phase = 'measure';
      send({ type: 'phase', phase: 'measure', t_ms: Date.now() });
    }
    tick();
  });
}

async function drain(): Promise<number> {
  const t0 = Date.now();
  while (totalInflight > 0 && Date.now() - t0 < DRAIN_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 20));
  return Date.now() - t0;
}

let finished = false;

async function main(): Promise<void> {
  // the driver went away (killed): stop at once rather than load a bridge nobody measures
  process.on('disconnect', () => {
    if (!finished) process.exit(1);
  });
  await connectAll();
  // wait for the driver's go (over IPC); standalone: go at once
  if (process.send) {
    await new Promise<void>((resolve) => {
      process.on('message', (m: { type?: string }) => {
        if (m?.type === 'go') resolve();
      });
    });
  }
  await run();
  const drainMs = await drain();
  let unsent = 0;
  for (const s of sensors) unsent += s.due;
  const report = (w: WindowCounters): WindowReport => ({
    published: w.published,
    acked: w.acked,
    acks_arrived: w.acksArrived,
    behind_at_end: w.behindAtEnd,
    latency: w.lat.summary(),
  });
  const published = win.warmup.published + win.measure.published;
  const acked = win.warmup.acked + win.measure.acked;
  send({
    type: 'result',
    sensors: SENSORS,
    rate: RATE,
    warmup: report(win.warmup),
    measure: report(win.measure),
    published,
    acked,
    unacked: totalInflight,
    unsent,
    inflight_bound_hits: inflightBoundHits,
    max_inflight_seen: maxInflightSeen,
    max_schedule_lag_ms: round(maxScheduleLagMs),
    errors,
    error_samples: errorSamples,
    drain_ms: drainMs,
    measure_s: DURATION_S,
  });
  finished = true;
  const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });
  await Promise.all(sensors.map((s) => new Promise<void>((resolve) => (s.socket.destroyed ? resolve() : s.socket.end(DISCONNECT, resolve)))));
  if (process.send) process.disconnect();
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`ingest-load: ${message}\n`);
  process.exitCode = 1;
  finished = true;
  for (const s of sensors) s.socket.destroy();
  if (process.send) process.disconnect();
});
