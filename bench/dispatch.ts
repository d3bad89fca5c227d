// Dispatch benchmark: the time from publishing the reading that makes a bin cross the threshold to the Graph API
// emulator receiving the crew's message (batch window 0), under background telemetry load.
//   npm run bench:dispatch -- [--background 5000] [--trials 200] [--duration 60] [--warmup 5] [--profile]
// Starts the Graph API emulator (in this process), the bridge (node dist/src/cli.js start, cloud mode against the
// emulator, own data dir, config and bins file, no InfluxDB) and the load generator (bench/ingest-load.ts, own
// process: QoS 1 readings of ordinary fill levels, 10-50 %, that never cross the threshold). Each trial publishes
// one 95 % reading (QoS 1) for a fresh bin from this process; latency = publish -> emulator 'message' event for
// that bin. Prints ONE JSON object on stdout; progress and diagnostics go to stderr. Everything it started is
// stopped and its temp folder removed, also on SIGINT/SIGTERM, on failure and at the hard timeout.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { startGraphEmulator, type GraphEmulator, type SentMessage } from '../emulator/index.js';
import {
  cpuUs,
  BENCH_WHATSAPP,
  cloudBridgeEnv,
  errorLines,
  freePorts,
  Harness,
  HOST,
  intArg,
  log,
  logTail,
  peakRssMb,
  r1,
  r3,
  ROOT,
  sleep,
  stopChild,
  waitForHealthz,
} from './lib/harness.js';
import { LoadGen } from './lib/loadgen.js';
import { addProfile } from './lib/profile.js';

const { values: args } = parseArgs({
  options: {
    background: { type: 'string', default: '5000' },
    trials: { type: 'string', default: '200' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    'bg-sensors': { type: 'string', default: '100' },
    'bg-bins': { type: 'string', default: '1000' },
    'trial-timeout': { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
    'keep-temp': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stderr.write(
    'usage: npm run bench:dispatch -- [--background 5000] [--trials 200] [--duration 60] [--warmup 5] [--bg-sensors 100] [--bg-bins 1000] [--trial-timeout 10] [--profile] [--keep-temp]\n',
  );
  process.exit(0);
}

const BACKGROUND = intArg('background', args.background, 0, 200_000);
const TRIALS = intArg('trials', args.trials, 1, 9999);
const DURATION_S = intArg('duration', args.duration, 1, 3600);
const WARMUP_S = intArg('warmup', args.warmup, 0, 600);
const BG_SENSORS = intArg('bg-sensors', args['bg-sensors'], 1, 5000);
const BG_BINS = Math.max(BG_SENSORS, intArg('bg-bins', args['bg-bins'], 1, 9999));
const TRIAL_TIMEOUT_MS = intArg('trial-timeout', args['trial-timeout'], 1, 600) * 1000;
const TARGET_P99_MS = 100;
const HARD_TIMEOUT_MS = (WARMUP_S + DURATION_S) * 1000 + TRIAL_TIMEOUT_MS + 120_000;

const FULL_PCT = 80;
const CREW_PHONE = '31600000001';
const { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID } = BENCH_WHATSAPP;
const VERIFY_TOKEN = 'bench-verify-token';

const bgId = (i: number): string => `BG-${String(i).padStart(4, '0')}`; // as bench/ingest-load.ts --prefix BG-
const trialId = (i: number): string => `TR-${String(i).padStart(4, '0')}`;
const TRIAL_RE = /TR-\d{4}/g;

// ---------------------------------------------------------------------------------------------------------
// bookkeeping: every child, the emulator and the temp folder are cleaned up however the driver ends

const h = new Harness({ keepTemp: args['keep-temp'], hardTimeoutMs: HARD_TIMEOUT_MS, prefix: 'binbridge-bench-dispatch-' });
const tmp = h.tmp;
const profileDir = path.join(tmp, 'profile');

let bridge: ChildProcess | undefined;
let loadgen: ChildProcess | undefined;
let emulator: GraphEmulator | undefined;
let client: MqttClient | undefined;

h.onStop(async () => {
  await stopChild(loadgen, 3000);
  await client?.endAsync(true).catch(() => undefined);
  await stopChild(bridge, 15_000); // graceful: lets --cpu-prof write its profile
  await emulator?.close().catch(() => undefined);
});

// ---------------------------------------------------------------------------------------------------------
// bridge set-up: bins, config, environment

function writeBinsCsv(file: string): void {
  const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
  const ids = [...Array.from({ length: BG_BINS }, (_, i) => bgId(i + 1)), ...Array.from({ length: TRIALS }, (_, i) => trialId(i + 1))];
  ids.forEach((id, n) => {
    // distinct points on a 100 x N grid, ~110 m x ~70 m apart
    const lat = (52.05 + (n % 100) * 0.001).toFixed(5);
    const lon = (5.05 + Math.floor(n / 100) * 0.001).toFixed(5);
    rows.push(`${id},${lat},${lon},Benchstraat ${n + 1},z1,rest,240,1000,50`);
  });
  fs.writeFileSync(file, rows.join('\n') + '\n');
}

function writeConfig(file: string, binsFile: string): void {
  fs.writeFileSync(
    file,
    `registry: { bins_file: ${JSON.stringify(binsFile)} }
zones:
  - { id: z1, name: Zone 1 }
crews:
  - { id: crew-1, name: Crew 1, phone: "${CREW_PHONE}", zones: [z1], shift: "00:00-24:00", lang: en }
dispatch: { batch_window_s: 0, escalate_after_s: 0 }
rules: { full_pct: ${FULL_PCT}, clear_pct: 30, debounce: 1 }
`,
  );
}

let bridgeMqttPort = 0;
let bridgeHttpPort = 0;
let bridgeExit: string | null = null;

async function startBridge(graphUrl: string): Promise<void> {
  const binsFile = path.join(tmp, 'bins.csv');
  const configFile = path.join(tmp, 'binbridge.yaml');
  writeBinsCsv(binsFile);
  writeConfig(configFile, binsFile);
  const env = cloudBridgeEnv(
    { configFile, dataDir: path.join(tmp, 'bridge-data'), mqttPort: bridgeMqttPort, httpPort: bridgeHttpPort, graphUrl },
    {
      BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: String(Math.max(200, BG_SENSORS * 2)),
      BINBRIDGE_WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
      BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '0',
      BINBRIDGE_WHATSAPP_MPS: '1000',
    },
  );
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  // node itself (not npm), so /proc/<pid> is the bridge process
  const b = h.spawnLogged('bridge', process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env });
  bridge = b;
  b.once('exit', (code, signal) => {
    if (!h.isStopping) bridgeExit = `bridge exited during the run (code ${code}, signal ${signal}): ${logTail(h.logFile('bridge'), 600)}`;
  });
  await waitForHealthz('bridge', b, h.logFile('bridge'), bridgeHttpPort);
}

// ---------------------------------------------------------------------------------------------------------
// trials

interface Trial {
  bin: string;
  /** performance.now() just before publish */
  t0: number;
  /** Date.now() just before publish, for the per-stage split with the bridge's job times */
  wall0: number;
  pubackMs: number | null;
  /** performance.now() when the emulator received the crew message */
  t1: number | null;
  message: SentMessage | null;
  settle: () => void;
  done: Promise<void>;
}

const trials = new Map<string, Trial>();
let otherMessages = 0;
let duplicateMessages = 0;
let refused = 0;
const refusedSamples: string[] = [];

function onMessage(m: SentMessage): void {
  const t1 = performance.now();
  const ids = new Set(JSON.stringify(m.body).match(TRIAL_RE) ?? []);
  let matched = false;
  for (const id of ids) {
    const t = trials.get(id);
    if (!t) continue;
    matched = true;
    if (t.t1 !== null) {
      duplicateMessages++;
      continue;
    }
    t.t1 = t1;
    t.message = m;
    t.settle();
  }
  if (!matched) otherMessages++;
}

function publishTrial(c: MqttClient, n: number, ts: number): Trial {
  const bin = trialId(n);
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const payload = JSON.stringify({ fill_pct: 95, ts });
  const topic = `bins/${bin}/telemetry`;
  const wall0 = Date.now();
  const t0 = performance.now();
  const t: Trial = { bin, t0, wall0, pubackMs: null, t1: null, message: null, settle, done };
  trials.set(bin, t);
  c.publish(topic, payload, { qos: 1 }, (err) => {
    if (err) log(`trial ${bin}: publish failed: ${err.message}`);
    else t.pubackMs = performance.now() - t0;
  });
  return t;
}

interface Summary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function summarise(values: number[]): Summary | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number): number => r3(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: r3(s[s.length - 1]!), mean: r3(s.reduce((a, b) => a + b, 0) / s.length) };
}

/** publish -> job created (rules + dispatcher) and job created -> emulator (outbox + HTTP), from wall-clock ms. */
async function stageSplit(delivered: Trial[]): Promise<Record<string, Summary | null> | { error: string }> {
  try {
    // every job, page by page
    const body: { items: { bin_ids: string[]; created_at: string; sent_at: string | null }[] } = { items: [] };
    for (let next: string | null = '', pages = 0; next !== null && pages < 1000; pages++) {
      const res = await fetch(`http://${HOST}:${bridgeHttpPort}/api/dispatches?limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`, { signal: AbortSignal.timeout(10_000) });
      const page = (await res.json()) as { items: typeof body.items; next: string | null };
      body.items.push(...page.items);
      next = page.next;
    }
    const created = new Map<string, number>();
    const sent = new Map<string, number>();
    for (const d of body.items) {
      for (const id of d.bin_ids) {
        created.set(id, Date.parse(d.created_at));
        if (d.sent_at) sent.set(id, Date.parse(d.sent_at));
      }
    }
    const toJob: number[] = [];
    const jobToEmulator: number[] = [];
    const emulatorToSentMark: number[] = [];
    for (const t of delivered) {
      const c = created.get(t.bin);
      if (c === undefined || !t.message) continue;
      toJob.push(c - t.wall0);
      jobToEmulator.push(t.message.at - c);
      const s = sent.get(t.bin);
      if (s !== undefined) emulatorToSentMark.push(s - t.message.at);
    }
    return {
      publish_to_job_created: summarise(toJob),
      job_created_to_emulator: summarise(jobToEmulator),
      emulator_to_job_marked_sent: summarise(emulatorToSentMark),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const errors: string[] = [];
  const intervalMs = (DURATION_S * 1000) / TRIALS;
  log(
    `temp ${tmp}; background ${BACKGROUND} readings/s on ${BG_SENSORS} of ${BG_BINS} bins, ${TRIALS} trials every ${r1(intervalMs)} ms, ` +
      `warm-up ${WARMUP_S} s, measured ${DURATION_S} s`,
  );
  [bridgeMqttPort, bridgeHttpPort] = (await freePorts(2)) as [number, number];

  emulator = await startGraphEmulator({
    host: HOST,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    phoneNumberId: PHONE_NUMBER_ID,
    webhookUrl: `http://${HOST}:${bridgeHttpPort}/webhooks/whatsapp`,
    pairIntervalMs: 0,
    mps: 100_000,
    statusDelaysMs: { sent: 5, delivered: 10, read: null },
  });
  emulator.on('message', onMessage);
  emulator.on('refused', (r: { httpStatus: number; error: { code?: number; message?: string } | null }) => {
    refused++;
    const what = `HTTP ${r.httpStatus} ${r.error?.code ?? ''} ${r.error?.message ?? ''}`.trim();
    if (refusedSamples.length < 5 && !refusedSamples.includes(what)) refusedSamples.push(what);
  });
  log(`graph emulator on ${emulator.url}`);

  await startBridge(emulator.url);
  log(`bridge pid ${bridge!.pid} on mqtt ${HOST}:${bridgeMqttPort}, http ${bridgeHttpPort}${args.profile ? ' (profiling)' : ''}`);

  // the driver's own client, for the trial readings
  client = await mqtt.connectAsync({
    host: HOST,
    port: bridgeMqttPort,
    protocol: 'mqtt',
    protocolVersion: 4,
    clean: true,
    clientId: 'bench-dispatch-driver',
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: 60,
  });
  client.on('error', (err) => errors.push(`driver client: ${err.message}`));

  // background: unique (bin, ts) per reading, ts = base + i * 1000 per bin, the last one still in the past
  let lg: LoadGen | undefined;
  if (BACKGROUND > 0) {
    const runS = WARMUP_S + DURATION_S + 2;
    const perBin = Math.ceil((BACKGROUND * runS) / BG_SENSORS) + 10;
    const baseTs = Date.now() - Math.max(3 * 3600_000, perBin * 1000 + 3600_000);
    lg = new LoadGen(h, [
      '--port', String(bridgeMqttPort),
      '--host', HOST,
      '--sensors', String(BG_SENSORS),
      '--rate', String(BACKGROUND),
      '--duration', String(DURATION_S + 2), // the background outlasts the last trial
      '--warmup', String(WARMUP_S),
      '--base-ts', String(baseTs),
      '--prefix', 'BG-',
      '--fill-min', '10',
      '--fill-max', '50',
    ]);
    loadgen = lg.child;
    const ready = await lg.next('ready');
    log(`load generator connected ${ready.connected} clients in ${ready.connect_ms} ms`);
    lg.send({ type: 'go' });
    await lg.next('phase', 'measure');
  }

  const bridgePid = bridge!.pid;
  const cpu0 = cpuUs(bridgePid);
  const w0 = performance.now();
  log('trials started');

  // trials on an open-loop schedule: trial n at w0 + n * interval, whatever the earlier ones do
  const all: Trial[] = [];
  let lastTs = 0;
  for (let n = 1; n <= TRIALS; n++) {
    const due = w0 + (n - 1) * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (bridgeExit) throw new Error(bridgeExit);
    lastTs = Math.max(lastTs + 1, Date.now() - 2000); // a little in the past, increasing
    all.push(publishTrial(client, n, lastTs));
  }
  // every trial gets its full timeout
  await Promise.all(all.map((t) => Promise.race([t.done, sleep(Math.max(0, t.t0 + TRIAL_TIMEOUT_MS - performance.now()))])));
  const w1 = performance.now();
  const cpu1 = cpuUs(bridgePid);
  log(`trials done after ${r3((w1 - w0) / 1000)} s`);

  let background: { acked_per_s: number; published: number; acked: number; puback_p99: number; errors: number } | null = null;
  if (lg) {
    const result = await lg.next('result');
    const m = result.measure;
    background = {
      acked_per_s: Math.round(m.acks_arrived / result.measure_s),
      published: m.published,
      acked: m.acked,
      puback_p99: m.latency.p99,
      errors: result.errors,
    };
    if (result.errors > 0) errors.push(...result.error_samples.map((e) => `loadgen: ${e}`));
    if (result.unacked > 0) errors.push(`loadgen: ${result.unacked} publishes never acknowledged`);
  }

  const delivered = all.filter((t) => t.t1 !== null);
  const latencies = delivered.map((t) => t.t1! - t.t0);
  const lat = summarise(latencies);
  const stages = await stageSplit(delivered);
  const peakRss = peakRssMb(bridgePid);
  const cpuWindowS = (w1 - w0) / 1000;
  if (bridgeExit) errors.push(bridgeExit);
  const errLines = errorLines(h.logFile('bridge'));
  if (errLines.length > 0) errors.push(`bridge logged ${errLines.length} error line(s), e.g. ${errLines[0]!.slice(0, 300)}`);
  const failed = all.length - delivered.length;
  if (failed > 0) errors.push(`no message within ${TRIAL_TIMEOUT_MS / 1000} s for: ${all.filter((t) => t.t1 === null).map((t) => t.bin).slice(0, 10).join(', ')}`);

  const out: Record<string, unknown> = {
    background_rate_target: BACKGROUND,
    background_acked_per_s: background?.acked_per_s ?? 0,
    background_sensors: BG_SENSORS,
    trials: all.length,
    trial_interval_ms: r3(intervalMs),
    delivered: delivered.length,
    failed,
    latency_ms: lat ?? { p50: null, p90: null, p99: null, max: null, mean: null },
    stages_ms: stages,
    trial_puback_ms: summarise(all.filter((t) => t.pubackMs !== null).map((t) => t.pubackMs!)),
    background_puback_p99_ms: background?.puback_p99 ?? null,
    bridge_cpu_pct: r1(((cpu1 - cpu0) / 1e6 / cpuWindowS) * 100),
    bridge_peak_rss_mb: peakRss,
    emulator_messages: emulator.sent.length,
    emulator_refused: refused,
    emulator_refused_samples: refusedSamples,
    other_messages: otherMessages,
    duplicate_messages: duplicateMessages,
    errors: errors.length,
    error_details: errors,
    target_met: lat !== null && lat.p99 <= TARGET_P99_MS && failed === 0,
  };

  await h.stopAll();
  if (args.profile) addProfile(out, profileDir, log);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

h.run(main);
