// Chat benchmark: how fast binbridge answers residents who report a bin by WhatsApp, through the Graph API emulator
// at Meta's limits (80 messages/s for the number; per resident one message per 6 s on average, bursts of 45).
//   npm run bench:chat -- [--residents 200] [--ramp 20] [--think-ms 1500] [--seed 1] [--profile] [--keep-temp]
// N residents, started evenly over --ramp seconds and then running side by side, each has the conversation of a
// resident who does not know the bin's code: a text ("the bin here is overflowing") -> binbridge asks for the
// location; a pin between two bins 20 m apart -> binbridge lists both; a tap on the first row -> binbridge
// confirms with the report's reference. Between an answer and their next message each resident thinks for a
// random 0..--think-ms. Every message is a signed webhook built by the shared envelope builder and posted by the
// emulator as Meta would. Latency = just before the webhook POST -> the emulator accepting binbridge's answer
// to that resident; the first answer (the location request) and the follow-ups (list, confirmation) are reported
// apart, with the webhook's own round trip (the inbox's durable commit) beside them. target_met: follow-ups
// p99 ≤ 1,000 ms. The bridge runs as `node dist/src/cli.js start` in cloud mode with its defaults (whatsapp.mps 80,
// pair_interval_ms 6000), own data dir, config and bins file, no InfluxDB and no crews (reports open alerts, no
// crew message competes); with --profile it runs under --cpu-prof and the top functions are printed. Prints ONE JSON object on stdout; progress goes to stderr. Everything it started is
// stopped and its temp folder removed, also on SIGINT/SIGTERM, on failure and at the hard timeout. Loopback only.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listReply, location, startGraphEmulator, text, type GraphEmulator, type InboundContent, type SentMessage } from '../emulator/index.js';
import { createRandom } from '../firmware-sim/random.js';
import { BENCH_WHATSAPP, cloudBridgeEnv, cpuUs, errorLines, freePorts, Harness, HOST, intArg, log, logTail, r1, ROOT, sleep, stopChild, waitForHealthz } from './lib/harness.js';
import { addProfile } from './lib/profile.js';

const { values: args } = parseArgs({
  options: {
    residents: { type: 'string', default: '200' },
    ramp: { type: 'string', default: '20' },
    'think-ms': { type: 'string', default: '1500' },
    'reply-timeout': { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    'keep-temp': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stderr.write('usage: npm run bench:chat -- [--residents 200] [--ramp 20] [--think-ms 1500] [--reply-timeout 30] [--seed 1] [--profile] [--keep-temp]\n');
  process.exit(0);
}

const N = intArg('residents', args.residents, 1, 5000);
const RAMP_S = intArg('ramp', args.ramp, 0, 600);
const THINK_MS = intArg('think-ms', args['think-ms'], 0, 60_000);
const REPLY_TIMEOUT_MS = intArg('reply-timeout', args['reply-timeout'], 1, 600) * 1000;
const rnd = createRandom(intArg('seed', args.seed, 0, 2 ** 31 - 1)).next;
const TARGET_FOLLOW_UP_P99_MS = 1000;
const STEPS = 3;
// every conversation's three waits and two thinks, after the ramp, and slack for start-up and a loaded machine
const HARD_TIMEOUT_MS = RAMP_S * 1000 + STEPS * (REPLY_TIMEOUT_MS + THINK_MS) + 120_000;
const PSEUDONYM_KEY = 'bench-chat-pseudonym-key-0123456789ab';
const { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID } = BENCH_WHATSAPP;
const phone = (i: number): string => `3162${String(i).padStart(7, '0')}`;
/** Resident i's two bins, ~20 m apart on one street, 500-odd metres from the next resident's. */
const spot = (i: number): { lat: number; lon: number } => ({ lat: 52 + (i % 40) * 0.005, lon: 5 + Math.floor(i / 40) * 0.008 });
const BIN_GAP_LON = 0.0003;

const h = new Harness({ keepTemp: args['keep-temp'], hardTimeoutMs: HARD_TIMEOUT_MS, prefix: 'binbridge-bench-chat-' });
const tmp = h.tmp;
const profileDir = path.join(tmp, 'profile');
let bridge: ChildProcess | undefined;
let emulator: GraphEmulator | undefined;
let bridgeExit: string | null = null;

h.onStop(async () => {
  await stopChild(bridge, 15_000); // graceful: lets --cpu-prof write its profile
  await emulator?.close().catch(() => undefined);
});

function writeFiles(): string {
  const bins = path.join(tmp, 'bins.csv');
  const rows = ['id,lat,lon,address,zone,kind,capacity_l,depth_mm,sensor_offset_mm'];
  for (let i = 0; i < N; i++) {
    const { lat, lon } = spot(i);
    const n = String(i).padStart(4, '0');
    rows.push(`CH-${n}A,${lat.toFixed(6)},${lon.toFixed(6)},Chatlaan ${2 * i + 1},z1,rest,240,1000,50`);
    rows.push(`CH-${n}B,${lat.toFixed(6)},${(lon + BIN_GAP_LON).toFixed(6)},Chatlaan ${2 * i + 2},z1,rest,240,1000,50`);
  }
  fs.writeFileSync(bins, rows.join('\n') + '\n');
  const config = path.join(tmp, 'binbridge.yaml');
  fs.writeFileSync(config, `registry: { bins_file: ${JSON.stringify(bins)} }\nzones:\n  - { id: z1, name: Zone 1 }\nreports: { pseudonym_key: ${PSEUDONYM_KEY} }\n`);
  return config;
}

// --- the residents' side ----------------------------------------------------------------------------------------

type Step = 'ask_location' | 'list' | 'confirmation';

interface Timing {
  step: Step;
  /** POST of the resident's webhook -> the emulator accepted binbridge's answer */
  answerMs: number;
  /** the webhook's round trip: binbridge answers 200 once the message is committed to its inbox */
  webhookMs: number;
}

/** Answers not yet arrived, one per resident at most (a resident waits for the answer before writing again). */
const waiting = new Map<string, (m: SentMessage) => void>();
let unexpected = 0;

function onMessage(m: SentMessage): void {
  const settle = waiting.get(m.to);
  if (!settle) {
    unexpected++;
    return;
  }
  waiting.delete(m.to);
  settle(m);
}

/** One message of a resident and binbridge's answer to it, timed. */
async function exchange(from: string, content: InboundContent, step: Step): Promise<{ answer: SentMessage; timing: Timing }> {
  if (bridgeExit) throw new Error(bridgeExit);
  let timer: NodeJS.Timeout | undefined;
  const answered = new Promise<SentMessage>((resolve, reject) => {
    waiting.set(from, resolve);
    timer = setTimeout(() => {
      waiting.delete(from);
      reject(new Error(`${step}: no answer to resident ${from} within ${REPLY_TIMEOUT_MS / 1000} s`));
    }, REPLY_TIMEOUT_MS);
  });
  const t0 = performance.now();
  const posted = await emulator!.userSends(from, content, 'Bench Resident', { retry: false });
  const webhookMs = performance.now() - t0;
  if (posted.status !== 200) {
    clearTimeout(timer);
    waiting.delete(from);
    throw new Error(`${step}: the webhook was answered ${posted.status}`);
  }
  try {
    const answer = await answered;
    return { answer, timing: { step, answerMs: performance.now() - t0, webhookMs } };
  } finally {
    clearTimeout(timer);
  }
}

interface ListBody {
  type?: string;
  interactive?: { type?: string; action?: { sections?: { rows?: { id: string; title: string }[] }[] } };
}

/** The whole conversation of resident i; throws on the first answer that is not what the flow should say. */
async function converse(i: number, timings: Timing[]): Promise<void> {
  const from = phone(i);
  const think = (): Promise<void> => sleep(Math.floor(rnd() * THINK_MS));

  const ask = await exchange(from, text('Hello, the bin here is overflowing'), 'ask_location');
  timings.push(ask.timing);
  if (!JSON.stringify(ask.answer.body).includes('location_request_message')) throw new Error(`ask_location: resident ${i} got ${JSON.stringify(ask.answer.body).slice(0, 200)}`);

  await think();
  const { lat, lon } = spot(i);
  const list = await exchange(from, location(lat, lon + BIN_GAP_LON / 2), 'list');
  timings.push(list.timing);
  const rows = (list.answer.body as ListBody).interactive?.action?.sections?.flatMap((s) => s.rows ?? []) ?? [];
  if ((list.answer.body as ListBody).interactive?.type !== 'list' || rows.length < 2) throw new Error(`list: resident ${i} got ${JSON.stringify(list.answer.body).slice(0, 200)}`);

  await think();
  const confirm = await exchange(from, listReply(rows[0]!.id, rows[0]!.title), 'confirmation');
  timings.push(confirm.timing);
  if (!/R-[0-9A-Z]{4}/.test(JSON.stringify(confirm.answer.body))) throw new Error(`confirmation: resident ${i} got ${JSON.stringify(confirm.answer.body).slice(0, 200)}`);
}

// --- figures ----------------------------------------------------------------------------------------------------

interface Summary {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

function summarise(values: number[]): Summary | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number): number => r1(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
  return { n: s.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: r1(s[s.length - 1]!) };
}

async function main(): Promise<void> {
  const errors: string[] = [];
  const [httpPort, mqttPort] = (await freePorts(2)) as [number, number];
  const configFile = writeFiles();
  log(`temp ${tmp}; ${N} residents started over ${RAMP_S} s, thinking up to ${THINK_MS} ms between messages`);

  // Meta's limits, as the emulator's defaults: 80 messages/s, per resident one per 6 s with bursts of 45
  emulator = await startGraphEmulator({
    host: HOST,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    phoneNumberId: PHONE_NUMBER_ID,
    webhookUrl: `http://${HOST}:${httpPort}/webhooks/whatsapp`,
    webhookRetries: 0,
  });
  emulator.on('message', onMessage);
  const refusedByCode: Record<string, number> = {};
  emulator.on('refused', (r: { error: { code?: number } | null }) => {
    const c = String(r.error?.code ?? 'none');
    refusedByCode[c] = (refusedByCode[c] ?? 0) + 1;
  });

  // Meta posts webhooks from many addresses, the emulator from one: no per-address cap on the bridge's HTTP port
  const env = cloudBridgeEnv(
    { configFile, dataDir: path.join(tmp, 'bridge-data'), mqttPort, httpPort, graphUrl: emulator.url },
    { BINBRIDGE_HTTP_MAX_CONNECTIONS_PER_IP: '0' },
  );
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  bridge = h.spawnLogged('bridge', process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/cli.js'), 'start'], { cwd: ROOT, env });
  bridge.once('exit', (code, signal) => {
    if (!h.isStopping) bridgeExit = `bridge exited during the run (code ${code}, signal ${signal}): ${logTail(h.logFile('bridge'), 600)}`;
  });
  await waitForHealthz('bridge', bridge, h.logFile('bridge'), httpPort);
  log(`bridge pid ${bridge.pid} on http ${HOST}:${httpPort}, emulator ${emulator.url}`);

  const timings: Timing[] = [];
  const cpu0 = cpuUs(bridge.pid);
  const started = performance.now();
  let done = 0;
  const progress = setInterval(() => log(`${done}/${N} conversations done, ${timings.length} answers timed`), 5000);
  const failures: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        await sleep(N > 1 ? Math.round((i * RAMP_S * 1000) / (N - 1)) : 0);
        try {
          await converse(i, timings);
          done++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }),
    );
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  const bridgeCpuMs = (cpuUs(bridge.pid) - cpu0) / 1000;
  if (failures.length > 0) errors.push(`${failures.length} conversation(s) failed, e.g. ${failures[0]}`);
  const errLines = errorLines(h.logFile('bridge'));
  if (errLines.length > 0) errors.push(`bridge logged ${errLines.length} error line(s), e.g. ${errLines[0]!.slice(0, 300)}`);
  if (unexpected > 0) errors.push(`${unexpected} message(s) the residents did not wait for`);

  const of = (pick: (t: Timing) => boolean, v: (t: Timing) => number = (t) => t.answerMs): Summary | null => summarise(timings.filter(pick).map(v));
  const followUps = of((t) => t.step !== 'ask_location');
  const out: Record<string, unknown> = {
    residents: N,
    ramp_s: RAMP_S,
    think_ms_max: THINK_MS,
    conversations_completed: done,
    seconds: r1(seconds),
    first_answer: of((t) => t.step === 'ask_location'),
    follow_ups: followUps,
    by_step: { ask_location: of((t) => t.step === 'ask_location'), list: of((t) => t.step === 'list'), confirmation: of((t) => t.step === 'confirmation') },
    webhook_round_trip: of(() => true, (t) => t.webhookMs),
    // the bridge's CPU time over the run per resident message (with its answer and the answer's three statuses)
    bridge_cpu_ms_per_message: r1(bridgeCpuMs / Math.max(1, timings.length)),
    target_follow_up_p99_ms: TARGET_FOLLOW_UP_P99_MS,
    target_met: followUps !== null && done === N && followUps.p99_ms <= TARGET_FOLLOW_UP_P99_MS,
    emulator_refused_by_code: refusedByCode,
    errors: errors.length,
    error_details: errors,
  };
  await h.stopAll();
  if (args.profile) addProfile(out, profileDir, log);
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

h.run(main);
