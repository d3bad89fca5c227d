// Connection benchmark: N devices with secrets connect, publish one reading each, binbridge restarts, all reconnect.
//   npm run bench:connections -- [--devices 2000] [--no-auth] [--concurrency 500] [--keep-temp]
// Writes a registry of N bins, provisions a secret for each (`binbridge devices provision --all`), starts the
// bridge (node dist/src/cli.js start, own data dir, InfluxDB off: a reading is acknowledged once it is in the
// journal) and the devices (bench/connections-load.ts, own process, raw MQTT over TCP from loopback addresses,
// about 100 devices per address). Round 1: all connect and publish one QoS 1 reading each. Then the bridge is
// stopped (SIGTERM) and started again on the same data dir and port, and round 2 waits until every device is
// back and its new reading acknowledged. Prints ONE JSON object on stdout: connect rates, the time until the last
// device was back and acknowledged, and the bridge's RSS per connected device. Each process may hold 20,000
// open files on the reference machine, so --devices stops at 19,000. Everything it started is stopped, and its
// temp folder removed, however it ends (hard timeout 15 min).
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ConnMessage, RoundReport } from './connections-load.js';
import { commandLine } from './lib/command-line.js';
import { addProfile } from './lib/profile.js';
import { cpuUs, errorLines, exited, freePorts, Harness, HOST, log, logTail, r1, r3, ROOT, sleep, stopChild, waitForHealthz } from './lib/harness.js';

const USAGE = 'usage: npm run bench:connections -- [--devices 2000] [--no-auth] [--concurrency 500] [--profile] [--keep-temp]';
const cli = commandLine('bench/connections', USAGE, {
  devices: { type: 'string', default: '2000' },
  'no-auth': { type: 'boolean', default: false },
  concurrency: { type: 'string', default: '500' },
  'keep-temp': { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
});
const N = cli.int('devices', cli.values.devices, 1, 19_000);
const CONCURRENCY = cli.int('concurrency', cli.values.concurrency, 1, 10_000);
const AUTH = !cli.values['no-auth'];
const ROUND_TIMEOUT_S = 300;

const h = new Harness({ keepTemp: cli.values['keep-temp'], hardTimeoutMs: 15 * 60_000, prefix: 'binbridge-conn-' });
const tmp = h.tmp;
const dataDir = path.join(tmp, 'bridge-data');
const binsFile = path.join(tmp, 'bins.csv');
const secretsFile = path.join(tmp, 'device-secrets.json');

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
  const b = h.spawnLogged(name, process.execPath, [...prof, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env: env() });
  await waitForHealthz(name, b, h.logFile(name), httpPort, 60_000);
  return b;
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
    },
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
