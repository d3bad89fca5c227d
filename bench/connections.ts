// Connection benchmark: N devices with secrets connect, publish one reading each, binbridge restarts, all reconnect.
//   npm run bench:connections -- [--devices 2000] [--no-auth] [--concurrency 500] [--mem] [--heap-snapshot] [--node-flags="..."]
//                                [--settle 0] [--keep-temp]
// Writes a registry of N bins, provisions a secret for each (`binbridge devices provision --all`), starts the
// bridge (node dist/src/cli.js start, own data dir, InfluxDB off: a reading is acknowledged once it is in the
// journal) and the devices (bench/connections-load.ts, own process, raw MQTT over TCP from loopback addresses,
// about 100 devices per address). Round 1: all connect and publish one QoS 1 reading each. Then the bridge is
// stopped (SIGTERM) and started again on the same data dir and port, and round 2 waits until every device is
// back and its new reading acknowledged. Prints ONE JSON object on stdout: connect rates, the time until the last
// device was back and acknowledged, and the bridge's RSS per connected device. Each process may hold 20,000
// open files on the reference machine, so --devices stops at 19,000. Everything it started is stopped, and its
// temp folder removed, however it ends (hard timeout 15 min).
// --mem: where the first bridge's memory is, idle and with all connected (bench/lib/mem-probe.mjs: V8 heap used and
// free by space before and after a full GC, external and ArrayBuffer memory, the rest of the RSS, libuv handles),
// per connected device, in the JSON's `memory`; --heap-snapshot also writes both heap snapshots (idle.heapsnapshot,
// connected.heapsnapshot) to the temp folder and keeps it, for bench/heap-summary.ts. The probe's GC runs after
// the RSS samples, so `rss` is measured as without it. --node-flags: node/V8 flags for the bridge (both starts).
// --settle S: after the usual samples (the lowest of 5, a second apart, right after round 1) watches the RSS S
// seconds more and adds the lowest as `rss.settled_connected_mb` and `per_connected_device_settled_kb`.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConnMessage, RoundReport } from './connections-load.js';
import { commandLine } from './lib/command-line.js';
import { addProfile } from './lib/profile.js';
import { cpuUs, errorLines, exited, freePorts, Harness, HOST, log, logTail, r1, r3, ROOT, sleep, stopChild, waitForHealthz } from './lib/harness.js';

const USAGE = 'usage: npm run bench:connections -- [--devices 2000] [--no-auth] [--concurrency 500] [--profile] [--mem] [--heap-snapshot] [--node-flags="..."] [--settle 0] [--keep-temp]';
const cli = commandLine('bench/connections', USAGE, {
  devices: { type: 'string', default: '2000' },
  'no-auth': { type: 'boolean', default: false },
  concurrency: { type: 'string', default: '500' },
  'keep-temp': { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  mem: { type: 'boolean', default: false },
  'heap-snapshot': { type: 'boolean', default: false },
  'node-flags': { type: 'string', default: '' },
  settle: { type: 'string', default: '0' },
});
const SETTLE_S = cli.int('settle', cli.values.settle, 0, 600);
const HEAP_SNAPSHOT = cli.values['heap-snapshot'];
const MEM = cli.values.mem || HEAP_SNAPSHOT;
const N = cli.int('devices', cli.values.devices, 1, 19_000);
const CONCURRENCY = cli.int('concurrency', cli.values.concurrency, 1, 10_000);
const AUTH = !cli.values['no-auth'];
const ROUND_TIMEOUT_S = 300;

const h = new Harness({ keepTemp: cli.values['keep-temp'] || HEAP_SNAPSHOT, hardTimeoutMs: 15 * 60_000, prefix: 'binbridge-conn-' });
const tmp = h.tmp;
const dataDir = path.join(tmp, 'bridge-data');
const binsFile = path.join(tmp, 'bins.csv');
const secretsFile = path.join(tmp, 'device-secrets.json');
const memDir = path.join(tmp, 'mem');

let bridge: ChildProcess | undefined;
let devices: ChildProcess | undefined;
h.onStop(async () => {
  await stopChild(devices, 3000);
  await stopChild(bridge, 30_000);
});

let mqttPort = 0;
let httpPort = 0;
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  BINBRIDGE_DATA_DIR: dataDir,
  BINBRIDGE_REGISTRY_BINS_FILE: binsFile,
  BINBRIDGE_MQTT_HOST: HOST,
  BINBRIDGE_MQTT_PORT: String(mqttPort),
  BINBRIDGE_MQTT_TLS_PORT: '-1',
  BINBRIDGE_MQTT_AUTH: AUTH ? 'devices' : 'none',
  BINBRIDGE_HTTP_HOST: HOST,
  BINBRIDGE_HTTP_PORT: String(httpPort),
  BINBRIDGE_INFLUX_URL: '',
  BINBRIDGE_LOG_LEVEL: 'warn',
  ...(MEM ? { BENCH_MEM_DIR: memDir, BENCH_HEAP_SNAPSHOT: HEAP_SNAPSHOT ? '1' : '0' } : {}),
});

function writeBins(): string[] {
  const ids: string[] = [];
  const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
  for (let i = 1; i <= N; i++) {
    const id = `CONN-${String(i).padStart(5, '0')}`;
    ids.push(id);
    rows.push(`${id},${(52.05 + (i % 97) * 0.001).toFixed(5)},${(5.08 + (i % 89) * 0.001).toFixed(5)},Connectiestraat ${i},centrum,rest,240,1000,50`);
  }
  fs.writeFileSync(binsFile, rows.join('\n') + '\n');
  return ids;
}

/** VmRSS of a process in MB (now, not the peak). */
function rssMb(pid: number | undefined): number {
  const m = pid === undefined ? null : /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

let generation = 0;
const profileDir = path.join(tmp, 'profile');
async function startBridge(): Promise<ChildProcess> {
  const name = `bridge-${++generation}`;
  // --profile: the restarted bridge's CPU profile (its start and every device's return), written when it stops
  const prof = cli.values.profile && generation === 2 ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const probe = MEM && generation === 1 ? ['--import', pathToFileURL(path.join(ROOT, 'bench/lib/mem-probe.mjs')).href] : [];
  const flags = cli.values['node-flags'].split(/\s+/).filter((f) => f !== '');
  const b = h.spawnLogged(name, process.execPath, [...flags, ...prof, ...probe, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env: env() });
  await waitForHealthz(name, b, h.logFile(name), httpPort, 60_000);
  return b;
}

/** The first bridge's memory by kind (bench/lib/mem-probe.mjs), labelled; waits until the probe has written it. */
async function probeMemory(pid: number | undefined, label: string): Promise<MemSample> {
  fs.mkdirSync(memDir, { recursive: true });
  fs.writeFileSync(path.join(memDir, 'next-label'), label);
  const file = path.join(memDir, `mem-${label}.json`);
  process.kill(pid!, 'SIGUSR2');
  for (let waited = 0; !fs.existsSync(file); waited += 200) {
    if (waited > 120_000) throw new Error(`the bridge's memory probe wrote no ${file}`);
    await sleep(200);
  }
  await sleep(200); // written in one call; a moment for it to be complete
  const sample = JSON.parse(fs.readFileSync(file, 'utf8')) as MemSample;
  sample.rss_kb = Math.round(rssMb(pid) * 1024);
  return sample;
}

interface MemSample {
  before_gc: { memory_kb: Record<string, number>; spaces_kb: Record<string, { size: number; used: number; available: number }> };
  after_gc: MemSample['before_gc'];
  handles: Record<string, number>;
  rss_kb: number;
}

/** Where the memory of the connected devices is, per device in KB: the growth of each kind from idle to all connected. */
function memoryBreakdown(idle: MemSample, connected: MemSample, n: number): Record<string, unknown> {
  const perDevice = (a: number, b: number): number => r3((b - a) / n);
  const kinds = (s: MemSample['before_gc']): Record<string, number> => {
    const m = s.memory_kb;
    let used = 0;
    let size = 0;
    for (const sp of Object.values(s.spaces_kb)) {
      used += sp.used;
      size += sp.size;
    }
    return {
      rss: m.rss!,
      heap_used: used,
      heap_free: size - used,
      young_generation: (s.spaces_kb.new_space?.size ?? 0),
      external_and_array_buffers: m.external!,
      // what V8 neither holds in its heap nor counts as external: libuv, sockets, malloc's own, code, stacks
      native_rest: m.rss! - size - m.external!,
    };
  };
  const growth = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => Object.fromEntries(Object.keys(b).map((k) => [k, perDevice(a[k]!, b[k]!)]));
  const [i0, c0, i1, c1] = [kinds(idle.before_gc), kinds(connected.before_gc), kinds(idle.after_gc), kinds(connected.after_gc)];
  return {
    note: 'KB per connected device: growth from idle to all connected, before and after a full GC',
    per_device_kb_before_gc: growth(i0, c0),
    per_device_kb_after_gc: growth(i1, c1),
    idle_kb: { before_gc: i0, after_gc: i1 },
    connected_kb: { before_gc: c0, after_gc: c1 },
    spaces_connected_after_gc_kb: connected.after_gc.spaces_kb,
    handles_connected: connected.handles,
  };
}

/** The bridge's RSS once it has settled: the lowest of a few samples a second apart (GC runs in between). */
async function settledRss(pid: number | undefined): Promise<number> {
  let low = Infinity;
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    low = Math.min(low, rssMb(pid));
  }
  return low;
}

async function main(): Promise<void> {
  log(`temp ${tmp}; ${N} devices, secrets ${AUTH ? 'on' : 'off'}`);
  [mqttPort, httpPort] = (await freePorts(2)) as [number, number];
  const ids = writeBins();
  if (AUTH) {
    const t0 = performance.now();
    execFileSync(process.execPath, [path.join(ROOT, 'dist/src/cli.js'), 'devices', 'provision', '--all', '--out', secretsFile], { cwd: ROOT, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    log(`provisioned ${N} secrets in ${r1((performance.now() - t0) / 1000)} s`);
  } else {
    fs.writeFileSync(secretsFile, JSON.stringify(Object.fromEntries(ids.map((id) => [id, '']))));
  }
  bridge = await startBridge();
  const idleRss = await settledRss(bridge.pid);
  const idleMem = MEM ? await probeMemory(bridge.pid, 'idle') : null;
  log(`bridge pid ${bridge.pid} on mqtt ${HOST}:${mqttPort}, ${r1(idleRss)} MB idle`);

  const rounds: RoundReport[] = [];
  const waiters: ((r: RoundReport) => void)[] = [];
  devices = h.spawnLogged('devices', process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/connections-load.ts'), '--port', String(mqttPort), '--secrets', secretsFile, '--concurrency', String(CONCURRENCY), '--round-timeout', String(ROUND_TIMEOUT_S)], { cwd: ROOT, ipc: true });
  devices.on('message', (m: ConnMessage) => {
    if (m.type === 'error') void h.abort(m.message, 1);
    else {
      rounds.push(m.report);
      waiters.shift()?.(m.report);
    }
  });
  devices.once('exit', (code) => {
    if (!h.isStopping) void h.abort(`the devices' process exited (code ${code}): ${logTail(h.logFile('devices'), 1500)}`, 1);
  });
  const nextRound = (): Promise<RoundReport> => new Promise((resolve) => waiters.push(resolve));

  // round 1: everyone connects to a running bridge
  const cpu0 = cpuUs(bridge.pid);
  const load0 = cpuUs(devices.pid);
  let done = nextRound();
  devices.send({ type: 'connect' });
  const first = await done;
  const connectCpuS = (cpuUs(bridge.pid) - cpu0) / 1e6;
  const connectLoadCpuS = (cpuUs(devices.pid) - load0) / 1e6;
  log(`round 1: ${first.acked}/${N} acknowledged, last after ${first.last_puback_ms} ms`);
  const connectedRss = await settledRss(bridge.pid);
  // --settle S: the RSS once V8's memory reducer has had its time (it shrinks the heap some 10-40 s after a burst)
  let settledConnectedRss: number | null = null;
  if (SETTLE_S > 0) {
    const samples: number[] = [];
    for (let i = 0; i < SETTLE_S; i++) {
      await sleep(1000);
      samples.push(rssMb(bridge.pid));
    }
    settledConnectedRss = Math.min(connectedRss, ...samples);
    log(`RSS each second after round 1 (MB): ${samples.map(r1).join(' ')}`);
  }
  const memory = idleMem ? memoryBreakdown(idleMem, await probeMemory(bridge.pid, 'connected'), N) : undefined;
  if (HEAP_SNAPSHOT) log(`heap snapshots: ${memDir}/idle.heapsnapshot, ${memDir}/connected.heapsnapshot (npx tsx bench/heap-summary.ts both --per ${N})`);

  // round 2: restart, everyone comes back
  done = nextRound();
  devices.send({ type: 'expect-drop' });
  const old = bridge;
  const load1 = cpuUs(devices.pid);
  const tStop = Date.now();
  old.kill('SIGTERM');
  await exited(old);
  const tExited = Date.now();
  const oldErrors = errorLines(h.logFile(`bridge-${generation}`));
  bridge = await startBridge();
  const tReady = Date.now();
  const cpu1 = cpuUs(bridge.pid);
  const second = await done;
  const reconnectCpuS = (cpuUs(bridge.pid) - cpu1) / 1e6;
  const reconnectLoadCpuS = (cpuUs(devices.pid) - load1) / 1e6;
  log(`round 2: ${second.acked}/${N} acknowledged, last after ${second.last_puback_ms} ms from the stop`);
  const errors = [...oldErrors, ...errorLines(h.logFile(`bridge-${generation}`))];

  const secondsFrom = (from: number, r: RoundReport, ms: number): number => r3((r.started_at + ms - from) / 1000);
  const out = {
    devices: N,
    secrets: AUTH,
    first_connect: {
      all_connected_s: r3(first.last_connack_ms / 1000),
      all_acked_s: r3(first.last_puback_ms / 1000),
      connects_per_s: first.last_connack_ms > 0 ? Math.round(first.connected / (first.last_connack_ms / 1000)) : null,
      connected: first.connected,
      acked: first.acked,
      attempts: first.attempts,
      connack_codes: first.connack_codes,
      bridge_cpu_s: r3(connectCpuS),
      // the devices' own process: near the round's length in seconds, the load generator would be the limit
      load_cpu_s: r3(connectLoadCpuS),
    },
    restart: {
      old_bridge_stopped_s: r3((tExited - tStop) / 1000),
      new_bridge_ready_s: r3((tReady - tStop) / 1000),
      // what a device sees: from the moment the bridge was told to stop until it is back and its reading acknowledged
      last_back_after_stop_s: secondsFrom(tStop, second, second.last_connack_ms),
      last_acked_after_stop_s: secondsFrom(tStop, second, second.last_puback_ms),
      last_acked_after_ready_s: secondsFrom(tReady, second, second.last_puback_ms),
      reconnects_per_s_after_ready: second.connected > 0 ? Math.round(second.connected / Math.max(0.001, (second.started_at + second.last_connack_ms - tReady) / 1000)) : null,
      connected: second.connected,
      acked: second.acked,
      attempts: second.attempts,
      failed_attempts: second.failed_attempts,
      connack_codes: second.connack_codes,
      bridge_cpu_s: r3(reconnectCpuS),
      // from the stop: also the devices' attempts while no bridge listens
      load_cpu_s: r3(reconnectLoadCpuS),
    },
    rss: {
      idle_mb: r1(idleRss),
      all_connected_mb: r1(connectedRss),
      per_connected_device_kb: r1(((connectedRss - idleRss) * 1024) / N),
      ...(settledConnectedRss === null
        ? {}
        : { settle_s: SETTLE_S, settled_connected_mb: r1(settledConnectedRss), per_connected_device_settled_kb: r1(((settledConnectedRss - idleRss) * 1024) / N) }),
    },
    ...(memory ? { memory } : {}),
    complete: first.acked === N && second.acked === N,
    bridge_error_lines: errors.length,
    error_sample: errors[0]?.slice(0, 300) ?? null,
  };
  await h.stopAll();
  if (cli.values.profile) addProfile(out, profileDir, log);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  if (!out.complete) throw new Error(`not every device was back and acknowledged (round 1: ${first.acked}, round 2: ${second.acked} of ${N})`);
}

h.run(main);
