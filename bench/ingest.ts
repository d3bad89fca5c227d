// Ingest benchmark: K sensors publish QoS 1 telemetry to the bridge, readings go into a real influxd.
//   npm run bench:ingest -- [--sensors 100] [--rate 10000] [--duration 60] [--warmup 5] [--profile]
// Starts its own influxd (temp folder, free loopback ports), the bridge (node dist/src/cli.js start, own data
// dir and bins file) and the load generator (bench/ingest-load.ts, own process), and prints ONE JSON object on
// stdout. Progress and diagnostics go to stderr. Everything it started is stopped and its temp folder removed,
// also on SIGINT/SIGTERM, on failure and at the hard timeout (warm-up + duration + 120 s).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadMessage } from './ingest-load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';

const { values: args } = parseArgs({
  options: {
    sensors: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    'max-inflight': { type: 'string', default: '1000' },
    profile: { type: 'boolean', default: false },
    'keep-temp': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stderr.write(
    'usage: npm run bench:ingest -- [--sensors 100] [--rate 10000] [--duration 60] [--warmup 5] [--max-inflight 1000] [--profile] [--keep-temp]\n',
  );
  process.exit(0);
}

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`bench: --${name} must be an integer in ${min}..${max} (got ${v})\n`);
    process.exit(2);
  }
  return n;
}

const SENSORS = intArg('sensors', args.sensors, 1, 5000);
const RATE = intArg('rate', args.rate, 1, 200_000);
const DURATION_S = intArg('duration', args.duration, 1, 3600);
const WARMUP_S = intArg('warmup', args.warmup, 0, 600);
const MAX_INFLIGHT = intArg('max-inflight', args['max-inflight'], 1, 60_000);
const HARD_TIMEOUT_MS = (WARMUP_S + DURATION_S + 120) * 1000;

const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// bookkeeping: every child and the temp folder are cleaned up however the driver ends

const children = new Set<ChildProcess>();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'binbridge-bench-'));

function killAll(signal: NodeJS.Signals): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal);
      } catch {
        /* gone */
      }
    }
  }
}

function removeTemp(): void {
  if (args['keep-temp']) {
    log(`temp folder kept: ${tmp}`);
    return;
  }
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

process.on('exit', () => {
  killAll('SIGKILL');
  removeTemp();
});

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL after graceMs. */
async function stopChild(c: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!c) return;
  if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited(c);
    clearTimeout(t);
  }
  children.delete(c);
}

let influxd: ChildProcess | undefined;
let bridge: ChildProcess | undefined;
let loadgen: ChildProcess | undefined;

let stopping: Promise<void> | null = null;
function stopAll(): Promise<void> {
  return (stopping ??= (async () => {
    await stopChild(loadgen, 3000);
    await stopChild(bridge, 15_000); // graceful: lets --cpu-prof write its profile
    await stopChild(influxd, 5000);
  })());
}

let aborting = false;
async function abort(reason: string, code: number): Promise<void> {
  // the first reason wins; errors caused by the stopping itself are not news
  if (aborting) return;
  aborting = true;
  log(reason);
  await Promise.race([stopAll(), sleep(20_000)]);
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => void abort(`${sig}: stopping`, 130));
}
const hardTimer = setTimeout(() => void abort(`hard timeout after ${HARD_TIMEOUT_MS / 1000} s`, 124), HARD_TIMEOUT_MS);
hardTimer.unref();

// ---------------------------------------------------------------------------------------------------------
// helpers

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function logTail(file: string, bytes = 3000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

function spawnLogged(name: string, cmd: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const logFile = path.join(tmp, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const c = spawn(cmd, argv, { cwd: opts.cwd ?? tmp, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(c);
  c.once('error', (err) => log(`${name}: ${err.message}`));
  return c;
}

async function waitFor(what: string, child: ChildProcess, logFile: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${logTail(logFile)}`);
    }
    if (await ok().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${logTail(logFile)}`);
    await sleep(100);
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in microseconds (from /proc/<pid>/stat). */
function cpuUs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmHWM (peak resident set) of a process in MB. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
  } catch {
    return NaN;
  }
}

const r1 = (v: number): number => Math.round(v * 10) / 10;
const r3 = (v: number): number => Math.round(v * 1000) / 1000;

// ---------------------------------------------------------------------------------------------------------
// influxd

let influxPort = 0;

async function influxQuery(q: string, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
  const u = new URL(`http://${HOST}:${influxPort}/query`);
  u.searchParams.set('db', 'binbridge');
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
  influxd = spawnLogged('influxd', 'influxd', ['-config', file], {});
  await waitFor('influxd', influxd, path.join(tmp, 'influxd.log'), 30_000, async () => {
    const res = await fetch(`http://${HOST}:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 204;
  });
  await influxQuery('CREATE DATABASE binbridge', 'POST');
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

async function startBridge(): Promise<void> {
  [bridgeMqttPort, bridgeHttpPort] = (await freePorts(2)) as [number, number];
  const dataDir = path.join(tmp, 'bridge-data');
  const binsFile = path.join(tmp, 'bins.csv');
  writeBinsCsv(binsFile);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
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
    BINBRIDGE_INFLUX_DB: 'binbridge',
    BINBRIDGE_LOG_LEVEL: 'warn',
  };
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  // node itself (not npm), so /proc/<pid> is the bridge process
  bridge = spawnLogged('bridge', process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env });
  const b = bridge;
  b.once('exit', (code, signal) => {
    if (!stopping) bridgeExit = `bridge exited during the run (code ${code}, signal ${signal}): ${logTail(path.join(tmp, 'bridge.log'), 600)}`;
  });
  await waitFor('bridge', bridge, path.join(tmp, 'bridge.log'), 30_000, async () => {
    const res = await fetch(`http://${HOST}:${bridgeHttpPort}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  });
}

// ---------------------------------------------------------------------------------------------------------
// load generator

type ResultMsg = Extract<LoadMessage, { type: 'result' }>;

class LoadGen {
  private waiters: { type: LoadMessage['type']; phase?: string; resolve: (m: LoadMessage) => void; reject: (e: Error) => void }[] = [];
  private seen: LoadMessage[] = [];
  readonly child: ChildProcess;
  private exitInfo: string | null = null;

  constructor(baseTs: number) {
    const argv = [
      '--import',
      'tsx',
      path.join(ROOT, 'bench/ingest-load.ts'),
      '--port', String(bridgeMqttPort),
      '--host', HOST,
      '--sensors', String(SENSORS),
      '--rate', String(RATE),
      '--duration', String(DURATION_S),
      '--warmup', String(WARMUP_S),
      '--base-ts', String(baseTs),
      '--max-inflight', String(MAX_INFLIGHT),
    ];
    const logFile = path.join(tmp, 'loadgen.log');
    const fd = fs.openSync(logFile, 'a');
    this.child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', fd, fd, 'ipc'] });
    fs.closeSync(fd);
    children.add(this.child);
    this.child.on('message', (m: LoadMessage) => {
      this.seen.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (w.type === m.type && (w.phase === undefined || (m.type === 'phase' && m.phase === w.phase))) {
          w.resolve(m);
          return false;
        }
        return true;
      });
    });
    this.child.once('exit', (code, signal) => {
      this.exitInfo = `load generator exited (code ${code}, signal ${signal}):\n${logTail(logFile)}`;
      for (const w of this.waiters) w.reject(new Error(this.exitInfo));
      this.waiters = [];
    });
  }

  send(m: { type: 'go' }): void {
    this.child.send(m);
  }

  async next<T extends LoadMessage['type']>(type: T, phase?: string): Promise<Extract<LoadMessage, { type: T }>> {
    const hit = this.seen.find((m) => m.type === type && (phase === undefined || (m.type === 'phase' && m.phase === phase)));
    if (hit) return hit as Extract<LoadMessage, { type: T }>;
    if (this.exitInfo) throw new Error(this.exitInfo);
    const m = await new Promise<LoadMessage>((resolve, reject) => this.waiters.push({ type, phase, resolve, reject }));
    return m as Extract<LoadMessage, { type: T }>;
  }
}

// ---------------------------------------------------------------------------------------------------------
// --profile: top self-time functions of the bridge's .cpuprofile

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

function topSelfTime(n: number): { fn: string; where: string; self_ms: number; pct: number }[] {
  const files = fs.existsSync(profileDir) ? fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) throw new Error('the bridge wrote no .cpuprofile');
  const prof = JSON.parse(fs.readFileSync(path.join(profileDir, files[0]!), 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const nd = byId.get(prof.samples[i]!);
    const dt = prof.timeDeltas[i] ?? 0;
    if (!nd) continue;
    total += dt;
    const cf = nd.callFrame;
    let where = cf.url.replace(/^file:\/\//, '');
    if (where.startsWith(ROOT + '/')) where = where.slice(ROOT.length + 1);
    const key = `${cf.functionName || '(anonymous)'}\t${where ? `${where}:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => {
      const [fn, where] = key.split('\t') as [string, string];
      return { fn, where, self_ms: Math.round(us / 1000), pct: r1((us / total) * 100) };
    });
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const errors: string[] = [];
  log(`temp ${tmp}; ${SENSORS} sensors, ${RATE} readings/s, warm-up ${WARMUP_S} s, measured ${DURATION_S} s`);
  await startInflux();
  log(`influxd on ${HOST}:${influxPort}`);
  await startBridge();
  log(`bridge pid ${bridge!.pid} on mqtt ${HOST}:${bridgeMqttPort}, http ${bridgeHttpPort}${args.profile ? ' (profiling)' : ''}`);

  // unique (bin, ts): ts = base + i * 1000 per bin, the last one still well in the past
  const perBin = Math.ceil((RATE * (WARMUP_S + DURATION_S)) / SENSORS) + 10;
  const baseTs = Date.now() - Math.max(3 * 3600_000, perBin * 1000 + 3600_000);

  const lg = new LoadGen(baseTs);
  loadgen = lg.child;
  const ready = await lg.next('ready');
  log(`load generator connected ${ready.connected} clients in ${ready.connect_ms} ms`);

  const bridgePid = bridge!.pid;
  const influxPid = influxd!.pid;
  const loadPid = loadgen.pid;

  lg.send({ type: 'go' });
  await lg.next('phase', 'measure');
  const t0 = performance.now();
  const cpu0 = { bridge: cpuUs(bridgePid), influx: cpuUs(influxPid), load: cpuUs(loadPid) };
  const stored0 = await storedCount();
  log(`measured window started (${stored0} stored during warm-up)`);

  await lg.next('phase', 'end');
  const t1 = performance.now();
  const cpu1 = { bridge: cpuUs(bridgePid), influx: cpuUs(influxPid), load: cpuUs(loadPid) };
  const stored1 = await storedCount();
  const windowS = (t1 - t0) / 1000;
  log(`measured window ended after ${windowS.toFixed(2)} s (${stored1 - stored0} stored in it); draining`);

  const result: ResultMsg = await lg.next('result');
  // wait until everything acknowledged is in InfluxDB (bounded by the hard timeout)
  let stored = await storedCount();
  const drainDeadline = Date.now() + Math.max(10_000, HARD_TIMEOUT_MS - (WARMUP_S + DURATION_S) * 1000 - 30_000);
  while (stored < result.acked && Date.now() < drainDeadline) {
    await sleep(200);
    stored = await storedCount();
  }
  const allStoredS = (performance.now() - t1) / 1000;
  if (stored < result.acked) errors.push(`only ${stored} of ${result.acked} acknowledged readings reached InfluxDB`);
  const peakRss = peakRssMb(bridgePid);

  if (result.unacked > 0) errors.push(`${result.unacked} publishes never acknowledged`);
  if (result.unsent > 0) errors.push(`${result.unsent} scheduled readings not sent (in-flight bound)`);
  if (bridgeExit) errors.push(bridgeExit);
  const bridgeLog = logTail(path.join(tmp, 'bridge.log'), 20_000);
  const errLines = bridgeLog.split('\n').filter((l) => /"level":(50|60)/.test(l));
  if (errLines.length > 0) errors.push(`bridge logged ${errLines.length} error line(s), e.g. ${errLines[0]!.slice(0, 300)}`);

  const m = result.measure;
  const ackedInWindow = m.acks_arrived;
  const out: Record<string, unknown> = {
    sensors: SENSORS,
    target_rate: RATE,
    duration_s: DURATION_S,
    warmup_s: WARMUP_S,
    window_s: r3(windowS),
    published: result.published,
    acked: result.acked,
    stored,
    published_in_window: m.published,
    acked_in_window: ackedInWindow,
    stored_in_window: stored1 - stored0,
    stored_per_s_sustained: Math.round((stored1 - stored0) / windowS),
    acked_per_s_in_window: Math.round(ackedInWindow / windowS),
    all_acked_stored_after_s: r3(allStoredS),
    stored_per_s_incl_drain: Math.round((stored - stored0) / (windowS + allStoredS)),
    puback_ms: { p50: m.latency.p50, p90: m.latency.p90, p99: m.latency.p99, p999: m.latency.p999, max: m.latency.max, mean: m.latency.mean_ms },
    puback_hist: { le_ms: m.latency.hist_le_ms, count: m.latency.hist },
    warmup_puback_ms: { p50: result.warmup.latency.p50, p99: result.warmup.latency.p99, max: result.warmup.latency.max },
    bridge_cpu_us_per_reading: ackedInWindow > 0 ? r1((cpu1.bridge - cpu0.bridge) / ackedInWindow) : null,
    bridge_cpu_pct: r1(((cpu1.bridge - cpu0.bridge) / 1e6 / windowS) * 100),
    bridge_peak_rss_mb: peakRss,
    influx_cpu_s: r3((cpu1.influx - cpu0.influx) / 1e6),
    loadgen_cpu_s: r3((cpu1.load - cpu0.load) / 1e6),
    inflight_bound_hits: result.inflight_bound_hits,
    max_inflight_seen: result.max_inflight_seen,
    loadgen_max_schedule_lag_ms: result.max_schedule_lag_ms,
    errors: result.errors + errors.length,
    error_details: [...result.error_samples.map((e) => `loadgen: ${e}`), ...errors],
    target_met: (stored1 - stored0) / windowS >= RATE * 0.99 && m.latency.p99 <= 50 && stored >= result.acked,
  };

  await stopAll();
  if (args.profile) {
    try {
      const top = topSelfTime(15);
      out.profile_top = top;
      log('bridge CPU profile, top self time:');
      for (const t of top) log(`  ${String(t.self_ms).padStart(7)} ms ${String(t.pct).padStart(5)}%  ${t.fn}  ${t.where}`);
    } catch (err) {
      out.profile_error = (err as Error).message;
    }
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().then(
  () => {
    clearTimeout(hardTimer);
    process.exit(0);
  },
  (err: unknown) => void abort(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1),
);
