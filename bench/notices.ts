// Notices benchmark: one notice to N subscribers (default 10,000) through the Graph API emulator at its 80
// messages/s, and what binbridge's memory and event loop did meanwhile.
//   npm run bench:notices -- [--subscribers 10000] [--mps 80] [--keep-temp]
// The N subscriptions are written into the bridge's database before it starts, with binbridge's own store and
// sealer (subscribing 10,000 residents by chat would take longer than the notice; the chat path has its tests).
// None of them has written lately, so every message is the `bin_notice` template, as for most notices. Then the
// Graph API emulator (in this process, limited to --mps) and the bridge (node dist/src/cli.js start, cloud mode,
// own data dir, config and bins file, no InfluxDB), sampled for RSS (every 250 ms) and event-loop lag (its
// /metrics every second); one emergency notice to all (quiet hours and the weekly cap do not hold emergencies) is
// timed from the POST to the emulator accepting its N-th message. The bridge's own whatsapp.mps is set to the emulator's rate;
// whatsapp.messaging_limit is not implemented yet, so no limit of 250 conversations a day stands in the way.
// Prints ONE JSON object on stdout; progress goes to stderr. Everything it started is stopped and its temp folder
// removed, also on SIGINT/SIGTERM, on failure and at the hard timeout. Loopback only.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startGraphEmulator, type GraphEmulator, type SentMessage } from '../emulator/index.js';
import { SqliteNoticeStore } from '../src/notices/index.js';
import { loadSealer } from '../src/privacy/index.js';
import { openDatabase } from '../src/storage/index.js';
import { BENCH_WHATSAPP, cloudBridgeEnv, errorLines, freePorts, Harness, HOST, intArg, log, logTail, peakRssMb, r1, ROOT, sleep, stopChild, waitForHealthz } from './lib/harness.js';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '10000' },
    mps: { type: 'string', default: '80' },
    'keep-temp': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stderr.write('usage: npm run bench:notices -- [--subscribers 10000] [--mps 80] [--keep-temp]\n');
  process.exit(0);
}

const N = intArg('subscribers', args.subscribers, 1, 100_000);
const MPS = intArg('mps', args.mps, 1, 10_000);
// the notice at MPS, and slack for a loaded machine
const HARD_TIMEOUT_MS = ((N / MPS) * 2 + 180) * 1000;
const PSEUDONYM_KEY = 'bench-notices-pseudonym-key-0123456789';
const { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID } = BENCH_WHATSAPP;
const TITLE = 'Bench notice';
const phone = (i: number): string => `3161${String(i).padStart(7, '0')}`;

const h = new Harness({ keepTemp: args['keep-temp'], hardTimeoutMs: HARD_TIMEOUT_MS, prefix: 'binbridge-bench-notices-' });
const tmp = h.tmp;
let bridge: ChildProcess | undefined;
let emulator: GraphEmulator | undefined;
let sampler: NodeJS.Timeout | undefined;

h.onStop(async () => {
  if (sampler) clearInterval(sampler);
  await stopChild(bridge, 15_000);
  await emulator?.close().catch(() => undefined);
});

function writeFiles(): string {
  const bins = path.join(tmp, 'bins.csv');
  const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
  for (let i = 1; i <= 10; i++) rows.push(`B-${String(i).padStart(4, '0')},52.0${i},5.1${i},Benchstraat ${i},z1,rest,240,1000,50`);
  fs.writeFileSync(bins, rows.join('\n') + '\n');
  const config = path.join(tmp, 'binbridge.yaml');
  fs.writeFileSync(config, `registry: { bins_file: ${JSON.stringify(bins)} }\nzones:\n  - { id: z1, name: Zone 1 }\nreports: { pseudonym_key: ${PSEUDONYM_KEY} }\n`);
  return config;
}

let httpPort = 0;
let mqttPort = 0;
let bridgeExit: string | null = null;

async function startBridge(graphUrl: string, mps: number, configFile: string): Promise<ChildProcess> {
  const env = cloudBridgeEnv(
    { configFile, dataDir: path.join(tmp, 'bridge-data'), mqttPort, httpPort, graphUrl },
    // the subscribers have not written (their notices go as templates) and Meta's default limit of 250 users a day
    // would hold all but 250 back: the bench measures the send, at the "unlimited" tier
    { BINBRIDGE_WHATSAPP_MPS: String(mps), BINBRIDGE_WHATSAPP_MESSAGING_LIMIT: 'unlimited' },
  );
  const b = h.spawnLogged('bridge', process.execPath, [path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env });
  b.once('exit', (code, signal) => {
    if (!h.isStopping) bridgeExit = `bridge exited during the run (code ${code}, signal ${signal}): ${logTail(h.logFile('bridge'), 600)}`;
  });
  bridge = b;
  await waitForHealthz('bridge', b, h.logFile('bridge'), httpPort);
  return b;
}

async function emulatorAt(mps: number): Promise<GraphEmulator> {
  return startGraphEmulator({
    host: HOST,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    phoneNumberId: PHONE_NUMBER_ID,
    webhookUrl: `http://${HOST}:${httpPort}/webhooks/whatsapp`,
    pairIntervalMs: 0,
    mps,
    statusDelaysMs: { sent: 5, delivered: 10, read: null },
  });
}

async function api<T>(p: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://${HOST}:${httpPort}/api${p}`, {
    ...(body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`${body === undefined ? 'GET' : 'POST'} /api${p} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** Waits for a fact, checking every `everyMs`, or fails after `timeoutMs` (or when the bridge died). */
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (bridgeExit) throw new Error(bridgeExit);
    if (await ok()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

const rssMb = (pid: number | undefined): number => {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? r1(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
};

async function lagMaxMs(): Promise<number> {
  const text = await (await fetch(`http://${HOST}:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = /^binbridge_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : NaN;
}

async function main(): Promise<void> {
  const errors: string[] = [];
  [httpPort, mqttPort] = (await freePorts(2)) as [number, number];
  const configFile = writeFiles();
  log(`temp ${tmp}; ${N} subscribers, the emulator at ${MPS} messages/s`);

  // N subscriptions, committed as the chat would (consent text and all), before the bridge opens the database
  const t0 = performance.now();
  const dataDir = path.join(tmp, 'bridge-data');
  const sealer = loadSealer(PSEUDONYM_KEY, dataDir);
  const db = openDatabase(dataDir, { sync: 'normal' });
  try {
    const store = new SqliteNoticeStore(db, sealer);
    const now = Date.now();
    db.transaction(() => {
      for (let i = 0; i < N; i++) {
        store.subscribe({ pseudonym: sealer.pseudonym(phone(i)), contact: phone(i), zone: 'z1', lang: 'en', lat: 52.01, lon: 5.11, consentVersion: 'notices-v1', consentText: 'bench', inboundId: `wamid.bench.${i}`, at: now });
      }
    })();
  } finally {
    db.close();
  }
  log(`${N} subscriptions written in ${r1((performance.now() - t0) / 1000)} s`);

  emulator = await emulatorAt(MPS);
  let refused = 0;
  const refusedCodes: Record<string, number> = {};
  emulator.on('refused', (r: { error: { code?: number } | null }) => {
    refused++;
    const c = String(r.error?.code ?? 'none');
    refusedCodes[c] = (refusedCodes[c] ?? 0) + 1;
  });
  const got = new Set<string>();
  let duplicates = 0;
  let lastAt = 0;
  emulator.on('message', (m: SentMessage) => {
    if (!JSON.stringify(m.body).includes(TITLE)) return;
    if (got.has(m.to)) duplicates++;
    got.add(m.to);
    lastAt = performance.now();
  });
  const b = await startBridge(emulator.url, MPS, configFile);
  await sleep(2000); // let start-up settle before the baseline
  const rssBefore = rssMb(b.pid);
  let rssPeak = rssBefore;
  let lagMax = await lagMaxMs().catch(() => NaN); // also resets prom-client's window
  lagMax = 0;
  let tick = 0;
  sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMb(b.pid));
    if (++tick % 4 === 0) void lagMaxMs().then((v) => (lagMax = Number.isFinite(v) ? Math.max(lagMax, v) : lagMax), () => undefined);
  }, 250);

  const start = performance.now();
  const made = await api<{ id: number; targeted: number }>('/notices', { kind: 'emergency', title: TITLE, text: { en: 'One notice to every subscriber.' }, target: { all: true } });
  if (made.targeted !== N) errors.push(`the notice targeted ${made.targeted}, not ${N}`);
  await until(`${N} notice messages at the emulator`, () => got.size >= N, (N / MPS) * 2000 + 60_000);
  const seconds = (lastAt - start) / 1000;
  const lastLag = await lagMaxMs().catch(() => NaN);
  if (Number.isFinite(lastLag)) lagMax = Math.max(lagMax, lastLag);
  await sleep(5000);
  clearInterval(sampler);
  sampler = undefined;
  const rssAfter = rssMb(b.pid);
  const figures = (await api<{ figures: Record<string, unknown> }>(`/notices/${made.id}`)).figures;
  const errLines = errorLines(h.logFile('bridge'));
  if (errLines.length > 0) errors.push(`bridge logged ${errLines.length} error line(s), e.g. ${errLines[0]!.slice(0, 300)}`);
  if (duplicates > 0) errors.push(`${duplicates} resident(s) got the notice twice`);

  const out = {
    subscribers: N,
    emulator_mps: MPS,
    notice_kind: 'emergency',
    seconds_to_send_all: r1(seconds),
    messages_per_s: r1(N / seconds),
    rss_mb: { before: rssBefore, peak: r1(Math.max(rssPeak, peakRssMb(b.pid) || 0)), after: rssAfter },
    rss_peak_sampled_mb: rssPeak,
    event_loop_lag_max_ms: r1(lagMax),
    emulator_refused: refused,
    emulator_refused_by_code: refusedCodes,
    duplicates,
    figures,
    errors: errors.length,
    error_details: errors,
  };
  await h.stopAll();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

h.run(main);
