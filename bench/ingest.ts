// Ingest benchmark: K sensors publish QoS 1 telemetry to the bridge, readings go into a real influxd.
//   npm run bench:ingest -- [--sensors 100] [--rate 10000] [--duration 60] [--warmup 5] [--journal inline|worker] [--profile]
//                         [--fill-min 40 --fill-max 60]
//   npm run bench:ingest -- --compare-raw [--rates 10000,20000,30000,40000] [--duration 20]
//   npm run bench:ingest -- --postgres | --store-url postgres://… [the options above]
// --postgres runs the bridge on a throwaway PostgreSQL cluster (Debian's postgresql package, as the tests start it;
// a fresh database each run), --store-url on the database given (it should be empty); without either, on SQLite.
// --compare-raw runs the same load first against a bare aedes (bench/raw-broker.ts, no hooks: PUBACK at once)
// and then against binbridge, and prints both and their ratios. --rates runs each rate in turn (a fresh broker,
// bridge data dir and InfluxDB database each) and finds each one's highest sustained rate: everything
// acknowledged (and, for binbridge, stored in InfluxDB, a drain of more than 2 s after the window counted against
// its rate) at >= 99 % of the rate, with p99 PUBACK <= 50 ms; a target's ladder stops at its first rate not
// sustained.
// Starts its own influxd (temp folder, free loopback ports), the bridge (node dist/src/cli.js start, own data
// dir and bins file) and the load generator (bench/ingest-load.ts, own process), and prints ONE JSON object on
// stdout. Progress and diagnostics go to stderr. Everything it started is stopped and its temp folder removed,
// also on SIGINT/SIGTERM, on failure and at the hard timeout (warm-up + duration + 120 s).
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  cpuUs,
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
  waitFor,
  waitForHealthz,
} from './lib/harness.js';
import { LoadGen, type ResultMsg } from './lib/loadgen.js';
import { addProfile } from './lib/profile.js';
import { startPostgres, type Postgres } from '../test/helpers/servers.js';

const { values: args } = parseArgs({
  options: {
    sensors: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    'max-inflight': { type: 'string', default: '1000' },
    profile: { type: 'boolean', default: false },
    'compare-raw': { type: 'boolean', default: false },
    rates: { type: 'string' },
    'keep-temp': { type: 'boolean', default: false },
    // passed to the load generator: each sensor holds a level in [min, max] (no alerts, no collections), so the
    // figures are the ingest path's own; without them fill cycles 0..97 % and the rules and dispatch work too
    'fill-min': { type: 'string' },
    'fill-max': { type: 'string' },
    // spool.journal of the bridge under test (default: BINBRIDGE_SPOOL_JOURNAL, else worker, the bridge's default)
    journal: { type: 'string' },
    // the store of the bridge under test: a throwaway PostgreSQL cluster, or this postgres:// URL (default: SQLite)
    postgres: { type: 'boolean', default: false },
    'store-url': { type: 'string' },
    // node/V8 flags for the bridge, e.g. --node-flags=--heap-growing-percent=0 (V8's own heap growth)
    'node-flags': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stderr.write(
    'usage: npm run bench:ingest -- [--sensors 100] [--rate 10000 | --rates 10000,20000,...] [--compare-raw] [--duration 60] [--warmup 5] [--max-inflight 1000] [--journal inline|worker] [--profile] [--fill-min N --fill-max M] [--postgres | --store-url URL] [--keep-temp]\n',
  );
  process.exit(0);
}

const SENSORS = intArg('sensors', args.sensors, 1, 5000);
const RATE = intArg('rate', args.rate, 1, 200_000);
const DURATION_S = intArg('duration', args.duration, 1, 3600);
const WARMUP_S = intArg('warmup', args.warmup, 0, 600);
/** how long after the window binbridge may take to have everything in InfluxDB without it counting against its rate: the writer's 1 s flush and a write */
const DRAIN_ALLOWANCE_S = 2;
const MAX_INFLIGHT = intArg('max-inflight', args['max-inflight'], 1, 60_000);
const RATES = args.rates === undefined ? [RATE] : args.rates.split(',').map((r) => intArg('rates', r.trim(), 1, 200_000));
const COMPARE_RAW = args['compare-raw'];
const JOURNAL = args.journal ?? process.env.BINBRIDGE_SPOOL_JOURNAL ?? 'worker';
if (JOURNAL !== 'inline' && JOURNAL !== 'worker') {
  process.stderr.write(`bench: --journal is inline or worker, not ${JOURNAL}\n`);
  process.exit(2);
}
if (args.postgres && args['store-url'] !== undefined) {
  process.stderr.write('bench: --postgres starts its own cluster: not with --store-url\n');
  process.exit(2);
}
if (args['store-url'] !== undefined && !/^postgres(ql)?:\/\//.test(args['store-url'])) {
  process.stderr.write('bench: --store-url takes a postgres:// URL\n');
  process.exit(2);
}
const ON_POSTGRES = args.postgres || args['store-url'] !== undefined;
const LADDER = args.rates !== undefined || COMPARE_RAW;
if (LADDER && args.profile) {
  process.stderr.write('bench: --profile profiles one run: not with --rates or --compare-raw\n');
  process.exit(2);
}
const RUNS = RATES.length * (COMPARE_RAW ? 2 : 1);
const HARD_TIMEOUT_MS = (RUNS * (WARMUP_S + DURATION_S + 90) + 60) * 1000;

// ---------------------------------------------------------------------------------------------------------
// bookkeeping: every child and the temp folder are cleaned up however the driver ends

const h = new Harness({ keepTemp: args['keep-temp'], hardTimeoutMs: HARD_TIMEOUT_MS });
const tmp = h.tmp;

let influxd: ChildProcess | undefined;
let bridge: ChildProcess | undefined;
let rawBroker: ChildProcess | undefined;
let loadgen: ChildProcess | undefined;
let postgres: Postgres | undefined;

h.onStop(async () => {
  await stopChild(loadgen, 3000);
  await stopChild(rawBroker, 3000);
  await stopChild(bridge, 15_000); // graceful: lets --cpu-prof write its profile
  await stopChild(influxd, 5000);
  await postgres?.destroy();
});

/** The store.url of a run: '' (SQLite), --store-url's, or a new database in the throwaway cluster. */
async function storeUrl(run: number): Promise<string> {
  if (args['store-url'] !== undefined) return args['store-url'];
  if (!postgres) return '';
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE bench_${run}`);
  } finally {
    await admin.end();
  }
  return postgres.url.replace(/\/binbridge$/, `/bench_${run}`);
}

// ---------------------------------------------------------------------------------------------------------
// influxd

let influxPort = 0;
/** the InfluxDB database of the current binbridge run: one per run, so that no run's points overwrite another's */
let influxDb = 'binbridge';

async function influxQuery(q: string, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
  const u = new URL(`http://${HOST}:${influxPort}/query`);
  u.searchParams.set('db', influxDb);
  u.searchParams.set('q', q);
  const res = await fetch(u, { method, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { results?: { error?: string }[]; error?: string };
  if (!res.ok || body.error || body.results?.[0]?.error) {
    throw new Error(`influx query "${q}": HTTP ${res.status} ${body.error ?? body.results?.[0]?.error ?? ''}`);
  }
  return body;
}

async function storedCount(): Promise<number> {
  const body = (await influxQuery('SELECT count(fill_pct) FROM bin_reading')) as {
    results: { series?: { values: [string, number][] }[] }[];
  };
  return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

async function startInflux(): Promise<void> {
  const [httpPort, rpcPort] = await freePorts(2);
  influxPort = httpPort!;
  const dir = path.join(tmp, 'influxdb');
  fs.mkdirSync(dir, { recursive: true });
  let conf = execFileSync('influxd', ['config'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  conf = conf.replaceAll('/var/lib/influxdb', dir).replaceAll('/var/run/influxdb.sock', path.join(dir, 'influxdb.sock'));
  conf = conf.replace(/^reporting-(enabled|disabled)\s*=.*$/m, 'reporting-disabled = true');
  if (!/^reporting-disabled/m.test(conf)) conf = `reporting-disabled = true\n${conf}`;
  // top-level RPC listener (backup/restore), before the first [section]
  conf = conf.replace(/^bind-address\s*=.*$/m, `bind-address = "${HOST}:${rpcPort}"`);
  conf = setInSection(conf, 'http', 'bind-address', `"${HOST}:${httpPort}"`);
  // quieter: no per-request access log, no _internal monitor database, no query log
  conf = setInSection(conf, 'http', 'log-enabled', 'false');
  conf = setInSection(conf, 'monitor', 'store-enabled', 'false');
  conf = setInSection(conf, 'data', 'query-log-enabled', 'false');
  conf = setInSection(conf, 'logging', 'level', '"warn"');
  // other listeners stay off, but never on a wildcard address
  conf = conf.replace(/bind-address = ":(\d+)"/g, `bind-address = "${HOST}:$1"`);
  const file = path.join(tmp, 'influxdb.conf');
  fs.writeFileSync(file, conf);
  influxd = h.spawnLogged('influxd', 'influxd', ['-config', file], {});
  await waitFor('influxd', influxd, path.join(tmp, 'influxd.log'), 30_000, async () => {
    const res = await fetch(`http://${HOST}:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 204;
  });
}

/** Sets `key = value` inside `[section]` of a TOML text (replacing the key if present). */
function setInSection(toml: string, section: string, key: string, value: string): string {
  const lines = toml.split('\n');
  const start = lines.findIndex((l) => l.trim() === `[${section}]`);
  if (start < 0) return `${toml}\n[${section}]\n  ${key} = ${value}\n`;
  let end = lines.findIndex((l, i) => i > start && /^\s*\[/.test(l));
  if (end < 0) end = lines.length;
  const re = new RegExp(`^\\s*${key.replace(/[-]/g, '\\-')}\\s*=`);
  for (let i = start + 1; i < end; i++) {
    if (re.test(lines[i]!)) {
      lines[i] = `  ${key} = ${value}`;
      return lines.join('\n');
    }
  }
  lines.splice(start + 1, 0, `  ${key} = ${value}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// bridge

const ZONES = ['centrum', 'noordoost', 'oost', 'zuid', 'west', 'noordwest', 'leidsche-rijn'];
const KINDS = ['rest', 'paper', 'glass', 'plastic'];

function writeBinsCsv(file: string): void {
  const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
  for (let i = 1; i <= SENSORS; i++) {
    const lat = (52.05 + (i % 97) * 0.001).toFixed(5);
    const lon = (5.08 + (i % 89) * 0.001).toFixed(5);
    rows.push(`BENCH-${String(i).padStart(4, '0')},${lat},${lon},Benchstraat ${i},${ZONES[i % ZONES.length]},${KINDS[i % KINDS.length]},240,1000,50`);
  }
  fs.writeFileSync(file, rows.join('\n') + '\n');
}

let bridgeHttpPort = 0;
let bridgeExit: string | null = null;
let bridgeMqttPort = 0;
const profileDir = path.join(tmp, 'profile');

async function startBridge(run: number): Promise<void> {
  [bridgeMqttPort, bridgeHttpPort] = (await freePorts(2)) as [number, number];
  bridgeExit = null;
  const dataDir = path.join(tmp, `bridge-data-${run}`);
  const binsFile = path.join(tmp, 'bins.csv');
  writeBinsCsv(binsFile);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // as the container image runs it (storage/unit-of-work.ts: no nested-transaction check, whose hook costs every promise)
    NODE_ENV: 'production',
    BINBRIDGE_DATA_DIR: dataDir,
    BINBRIDGE_REGISTRY_BINS_FILE: binsFile,
    BINBRIDGE_MQTT_HOST: HOST,
    BINBRIDGE_MQTT_PORT: String(bridgeMqttPort),
    BINBRIDGE_MQTT_TLS_PORT: '-1',
    BINBRIDGE_MQTT_AUTH: 'none',
    BINBRIDGE_MQTT_CONNECT_RATE_PER_IP: String(Math.max(200, SENSORS * 2)),
    BINBRIDGE_HTTP_HOST: HOST,
    BINBRIDGE_HTTP_PORT: String(bridgeHttpPort),
    BINBRIDGE_INFLUX_URL: `http://${HOST}:${influxPort}`,
    BINBRIDGE_INFLUX_API: 'v1',
    BINBRIDGE_INFLUX_DB: influxDb,
    BINBRIDGE_LOG_LEVEL: 'warn',
    BINBRIDGE_SPOOL_JOURNAL: JOURNAL,
    BINBRIDGE_STORE_URL: await storeUrl(run),
  };
  const nodeArgs = [...(args['node-flags'] ?? '').split(/\s+/).filter((f) => f !== ''), ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  // node itself (not npm), so /proc/<pid> is the bridge process
  const name = run === 0 ? 'bridge' : `bridge-${run}`;
  bridge = h.spawnLogged(name, process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env });
  const b = bridge;
  b.once('exit', (code, signal) => {
    if (!h.isStopping && b === bridge) bridgeExit = `bridge exited during the run (code ${code}, signal ${signal}): ${logTail(h.logFile(name), 600)}`;
  });
  await waitForHealthz('bridge', bridge, h.logFile(name), bridgeHttpPort);
}

/** A bare aedes on a free port (bench/raw-broker.ts), as its own process. */
async function startRawBroker(run: number): Promise<number> {
  const [port] = (await freePorts(1)) as [number];
  const name = `raw-broker-${run}`;
  rawBroker = h.spawnLogged(name, process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/raw-broker.ts'), '--port', String(port), '--host', HOST], { cwd: ROOT });
  await waitFor('raw broker', rawBroker, h.logFile(name), 30_000, async () => logTail(h.logFile(name)).includes(`listening ${port}`));
  return port;
}

// ---------------------------------------------------------------------------------------------------------

type Target = 'raw' | 'binbridge';

/** One run of the load against one target at one rate; the figures of the bench's JSON. */
async function runOnce(target: Target, rate: number, run: number): Promise<Record<string, unknown>> {
  const errors: string[] = [];
  let port: number;
  let brokerPid: number | undefined;
  if (target === 'binbridge') {
    if (run > 0) {
      influxDb = `binbridge_${run}`;
    }
    await influxQuery(`CREATE DATABASE ${influxDb}`, 'POST');
    await startBridge(run);
    port = bridgeMqttPort;
    brokerPid = bridge!.pid;
    log(`bridge pid ${brokerPid} on mqtt ${HOST}:${port}, http ${bridgeHttpPort}${args.profile ? ' (profiling)' : ''}`);
  } else {
    port = await startRawBroker(run);
    brokerPid = rawBroker!.pid;
    log(`bare aedes pid ${brokerPid} on mqtt ${HOST}:${port}`);
  }

  // unique (bin, ts): ts = base + i * 1000 per bin, the last one still well in the past
  const perBin = Math.ceil((rate * (WARMUP_S + DURATION_S)) / SENSORS) + 10;
  const baseTs = Date.now() - Math.max(3 * 3600_000, perBin * 1000 + 3600_000);

  const lg = new LoadGen(h, [
    '--port', String(port),
    '--host', HOST,
    '--sensors', String(SENSORS),
    '--rate', String(rate),
    '--duration', String(DURATION_S),
    '--warmup', String(WARMUP_S),
    '--base-ts', String(baseTs),
    '--max-inflight', String(MAX_INFLIGHT),
    ...(args['fill-min'] !== undefined ? ['--fill-min', args['fill-min']] : []),
    ...(args['fill-max'] !== undefined ? ['--fill-max', args['fill-max']] : []),
  ], `loadgen-${run}`);
  loadgen = lg.child;
  const ready = await lg.next('ready');
  log(`load generator connected ${ready.connected} clients in ${ready.connect_ms} ms; ${target} at ${rate} readings/s`);

  const stores = target === 'binbridge';
  const influxPid = influxd?.pid;
  const loadPid = loadgen.pid;

  lg.send({ type: 'go' });
  await lg.next('phase', 'measure');
  const t0 = performance.now();
  const cpu0 = { broker: cpuUs(brokerPid), loop: cpuUs(brokerPid, brokerPid), influx: cpuUs(influxPid), load: cpuUs(loadPid) };
  const ack0 = stores ? await ackDelayBuckets() : null;
  const stored0 = stores ? await storedCount() : 0;
  log(`measured window started${stores ? ` (${stored0} stored during warm-up)` : ''}`);

  await lg.next('phase', 'end');
  const t1 = performance.now();
  const cpu1 = { broker: cpuUs(brokerPid), loop: cpuUs(brokerPid, brokerPid), influx: cpuUs(influxPid), load: cpuUs(loadPid) };
  const ack1 = stores ? await ackDelayBuckets() : null;
  const stored1 = stores ? await storedCount() : 0;
  const windowS = (t1 - t0) / 1000;
  log(`measured window ended after ${windowS.toFixed(2)} s${stores ? ` (${stored1 - stored0} stored in it); draining` : ''}`);

  const result: ResultMsg = await lg.next('result');
  let stored = result.acked;
  let allStoredS = 0;
  if (stores) {
    // wait until everything acknowledged is in InfluxDB (bounded)
    stored = await storedCount();
    const drainDeadline = Date.now() + 60_000;
    while (stored < result.acked && Date.now() < drainDeadline) {
      await sleep(200);
      stored = await storedCount();
    }
    allStoredS = (performance.now() - t1) / 1000;
    if (stored < result.acked) errors.push(`only ${stored} of ${result.acked} acknowledged readings reached InfluxDB`);
  }
  const peakRss = peakRssMb(brokerPid);

  if (result.unacked > 0) errors.push(`${result.unacked} publishes never acknowledged`);
  if (result.unsent > 0) errors.push(`${result.unsent} scheduled readings not sent (in-flight bound)`);
  if (stores) {
    if (bridgeExit) errors.push(bridgeExit);
    const errLines = errorLines(h.logFile(run === 0 ? 'bridge' : `bridge-${run}`));
    if (errLines.length > 0) errors.push(`bridge logged ${errLines.length} error line(s), e.g. ${errLines[0]!.slice(0, 300)}`);
  }

  const m = result.measure;
  const ackedInWindow = m.acks_arrived;
  // What was taken in the window: acknowledged, and for binbridge also stored. InfluxDB's count at the window's two
  // ends jumps by whole batches (the writer flushes every second), so binbridge's stored rate is everything stored
  // since the window began over the window and the drain beyond the writer's own flush lag (DRAIN_ALLOWANCE_S): a
  // bridge that keeps up drains within it, one that falls behind pays for its backlog.
  const storedPerS = stores ? (stored - stored0) / (windowS + Math.max(0, allStoredS - DRAIN_ALLOWANCE_S)) : Infinity;
  const takenPerS = Math.min(ackedInWindow / windowS, storedPerS);
  const out: Record<string, unknown> = {
    target,
    sensors: SENSORS,
    target_rate: rate,
    ...(stores ? { store: ON_POSTGRES ? 'postgres' : 'sqlite', ...(ON_POSTGRES ? {} : { journal: JOURNAL }) } : {}),
    duration_s: DURATION_S,
    warmup_s: WARMUP_S,
    window_s: r3(windowS),
    published: result.published,
    acked: result.acked,
    ...(stores ? { stored } : {}),
    published_in_window: m.published,
    acked_in_window: ackedInWindow,
    ...(stores
      ? {
          stored_in_window: stored1 - stored0,
          stored_per_s_sustained: Math.round(storedPerS),
        }
      : {}),
    acked_per_s_in_window: Math.round(ackedInWindow / windowS),
    ...(stores ? { all_acked_stored_after_s: r3(allStoredS), stored_per_s_incl_drain: Math.round((stored - stored0) / (windowS + allStoredS)) } : {}),
    puback_ms: { p50: m.latency.p50, p90: m.latency.p90, p99: m.latency.p99, p999: m.latency.p999, max: m.latency.max, mean: m.latency.mean_ms },
    puback_hist: { le_ms: m.latency.hist_le_ms, count: m.latency.hist },
    warmup_puback_ms: { p50: result.warmup.latency.p50, p99: result.warmup.latency.p99, max: result.warmup.latency.max },
    // the bridge's name stays as it was for single runs; the broker's process, whichever it is
    [stores ? 'bridge_cpu_us_per_reading' : 'broker_cpu_us_per_reading']: ackedInWindow > 0 ? r1((cpu1.broker - cpu0.broker) / ackedInWindow) : null,
    // the event loop's own thread (MQTT, ingest, rules), the rest being the journal worker, V8's and libuv's threads
    [stores ? 'bridge_loop_cpu_us_per_reading' : 'broker_loop_cpu_us_per_reading']: ackedInWindow > 0 ? r1((cpu1.loop - cpu0.loop) / ackedInWindow) : null,
    [stores ? 'bridge_cpu_pct' : 'broker_cpu_pct']: r1(((cpu1.broker - cpu0.broker) / 1e6 / windowS) * 100),
    // the bridge's own account of the window's readings: arrival to durable commit (binbridge_journal_ack_delay_seconds)
    ...(ack0 && ack1 ? { bridge_ack_delay_ms: ackDelayQuantiles(ack0, ack1) } : {}),
    [stores ? 'bridge_peak_rss_mb' : 'broker_peak_rss_mb']: peakRss,
    ...(stores ? { influx_cpu_s: r3((cpu1.influx - cpu0.influx) / 1e6) } : {}),
    loadgen_cpu_s: r3((cpu1.load - cpu0.load) / 1e6),
    inflight_bound_hits: result.inflight_bound_hits,
    max_inflight_seen: result.max_inflight_seen,
    loadgen_max_schedule_lag_ms: result.max_schedule_lag_ms,
    errors: result.errors + errors.length,
    error_details: [...result.error_samples.map((e) => `loadgen: ${e}`), ...errors],
    target_met: takenPerS >= rate * 0.99 && m.latency.p99 <= 50 && stored >= result.acked && result.unacked === 0 && result.unsent === 0 && errors.length === 0,
  };

  await stopChild(loadgen, 3000);
  if (stores) {
    await stopChild(bridge, 15_000);
    bridge = undefined;
  } else {
    await stopChild(rawBroker, 3000);
    rawBroker = undefined;
  }
  return out;
}

type Buckets = Map<number, number>;

/** The bridge's ack-delay histogram (cumulative counts by upper bound, seconds) from its /metrics. */
async function ackDelayBuckets(): Promise<Buckets | null> {
  try {
    const text = await (await fetch(`http://${HOST}:${bridgeHttpPort}/metrics`)).text();
    const out: Buckets = new Map();
    for (const m of text.matchAll(/^binbridge_journal_ack_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
      out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    }
    return out.size > 0 ? out : null;
  } catch {
    return null;
  }
}

/** p50 and p99 of what the histogram counted between two scrapes, interpolated within a bucket (ms). */
function ackDelayQuantiles(before: Buckets, after: Buckets): { p50: number | null; p99: number | null; count: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const cum = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  const q = (p: number): number | null => {
    if (total === 0) return null;
    const rank = p * total;
    const i = cum.findIndex((c) => c >= rank);
    const hi = bounds[i]!;
    const lo = i > 0 ? bounds[i - 1]! : 0;
    if (!Number.isFinite(hi)) return r1(lo * 1000);
    const below = i > 0 ? cum[i - 1]! : 0;
    return r1((lo + ((hi - lo) * (rank - below)) / Math.max(1, cum[i]! - below)) * 1000);
  };
  return { p50: q(0.5), p99: q(0.99), count: total };
}

/** The figures of a run that the side-by-side view compares. */
const brief = (r: Record<string, unknown> | undefined) =>
  r && {
    target_rate: r.target_rate,
    taken_per_s: r.target === 'binbridge' ? r.stored_per_s_sustained : r.acked_per_s_in_window,
    puback_p99_ms: (r.puback_ms as { p99: number }).p99,
    puback_p50_ms: (r.puback_ms as { p50: number }).p50,
    cpu_us_per_reading: r.target === 'binbridge' ? r.bridge_cpu_us_per_reading : r.broker_cpu_us_per_reading,
    loop_cpu_us_per_reading: r.target === 'binbridge' ? r.bridge_loop_cpu_us_per_reading : r.broker_loop_cpu_us_per_reading,
    sustained: r.target_met,
  };

const ratio = (a: unknown, b: unknown): number | null => (typeof a === 'number' && typeof b === 'number' && b > 0 ? Math.round((a / b) * 100) / 100 : null);

async function main(): Promise<void> {
  log(`temp ${tmp}; ${SENSORS} sensors, ${RATES.join(', ')} readings/s${COMPARE_RAW ? ', bare aedes first' : ''}, warm-up ${WARMUP_S} s, measured ${DURATION_S} s`);
  await startInflux();
  log(`influxd on ${HOST}:${influxPort}`);
  if (args.postgres) {
    postgres = await startPostgres();
    log(`PostgreSQL on ${HOST}:${postgres.port}`);
  } else if (ON_POSTGRES) log(`PostgreSQL at the --store-url given`);
  if (!LADDER) {
    const out = await runOnce('binbridge', RATE, 0);
    await h.stopAll();
    if (args.profile) addProfile(out, profileDir, log, 15);
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }

  const targets: Target[] = COMPARE_RAW ? ['raw', 'binbridge'] : ['binbridge'];
  const runs: Record<Target, Record<string, unknown>[]> = { raw: [], binbridge: [] };
  let run = 0;
  for (const target of targets) {
    for (const rate of RATES) {
      const r = await runOnce(target, rate, ++run);
      runs[target].push(r);
      log(`${target} at ${rate}/s: ${r.target_met ? 'sustained' : 'not sustained'}, p99 PUBACK ${(r.puback_ms as { p99: number }).p99} ms`);
      // a higher rate will not be sustained either: the ladder of this target ends here
      if (!r.target_met) break;
    }
  }
  const highest = (t: Target): number | null => {
    const ok = runs[t].filter((r) => r.target_met).map((r) => r.target_rate as number);
    return ok.length > 0 ? Math.max(...ok) : null;
  };
  // a target that sustained the ladder's top rate may carry more: its highest is then a lower bound, and so is (or
  // is not) the ratio; the ladder needs higher rates to find it
  const topHeld = (t: Target): boolean => runs[t].length === RATES.length && runs[t].at(-1)?.target_met === true;
  for (const t of targets) {
    if (topHeld(t)) log(`${t} sustained the ladder's top rate, ${RATES.at(-1)}/s: its highest is at least that; add higher --rates to find it`);
  }
  const side = RATES.map((rate) => {
    const raw = runs.raw.find((r) => r.target_rate === rate);
    const bb = runs.binbridge.find((r) => r.target_rate === rate);
    const b = brief(bb);
    const a = brief(raw);
    return {
      rate,
      raw: a ?? null,
      binbridge: b ?? null,
      ...(a && b ? { p99_ratio: ratio(b.puback_p99_ms, a.puback_p99_ms), cpu_ratio: ratio(b.cpu_us_per_reading, a.cpu_us_per_reading) } : {}),
    };
  });
  const out = {
    sensors: SENSORS,
    rates: RATES,
    duration_s: DURATION_S,
    warmup_s: WARMUP_S,
    sustained_means: `everything acknowledged (binbridge: and stored in InfluxDB, a drain past ${DRAIN_ALLOWANCE_S} s counted against it) at >= 99 % of the rate, p99 PUBACK <= 50 ms`,
    highest_sustained: { raw: COMPARE_RAW ? highest('raw') : undefined, binbridge: highest('binbridge') },
    /** true for a target that sustained the top rate: its highest is at least the figure above */
    highest_is_lower_bound: { raw: COMPARE_RAW ? topHeld('raw') : undefined, binbridge: topHeld('binbridge') },
    ...(COMPARE_RAW ? { highest_sustained_ratio: ratio(highest('binbridge'), highest('raw')) } : {}),
    side_by_side: side,
    runs,
  };
  await h.stopAll();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

h.run(main);
