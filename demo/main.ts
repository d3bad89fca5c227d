// `npm run demo`: the whole loop on one machine, no accounts and no other software. It starts the bridge (WhatsApp
// sandbox), the firmware simulator, and plays the people: crews who accept their jobs and tap Done, residents who
// report full bins by code, by location pin and by address. Open the live page it prints.
//
// Time tells the truth: the bridge, the page and the readings all live in the real time. Only the bins go faster:
// they fill --speed times faster than real bins (the simulator's --stamps real), so a reading is "just now" on the
// page, the chart's last 24 h end now, and the crew on shift is the one the clock on the wall says.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { inboundEnvelope, webhookSeconds } from '../src/whatsapp/envelope.js';

const USAGE = 'npm run demo -- [--http 3000] [--mqtt 1883] [--data-dir data/demo] [--speed 3600] [--minutes 30] [--fresh]';
const args = ((): ReturnType<typeof readArgs> => {
  try {
    return readArgs();
  } catch (err) {
    // an unknown or misspelt flag is an error, never ignored
    console.error(`demo: ${(err as Error).message.replace(/\. To specify a positional argument.*$/, '')}\nusage: ${USAGE}`);
    process.exit(2);
  }
})();
function readArgs() {
  const { values } = parseArgs({
    options: {
      http: { type: 'string', default: '3000' },
      mqtt: { type: 'string', default: '1883' },
      'data-dir': { type: 'string', default: 'data/demo' },
      speed: { type: 'string', default: '3600' },
      minutes: { type: 'string', default: '30' },
      fresh: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  for (const k of ['http', 'mqtt', 'speed', 'minutes'] as const) {
    if (!(Number(values[k]) >= 0)) throw new Error(`--${k}: expected a number, got "${values[k]}"`);
  }
  return values;
}
if (args.help) {
  console.log(`${USAGE}

Starts binbridge (sandbox WhatsApp, no InfluxDB needed), the simulator, crews that answer their jobs and residents
that report full bins. The bins fill --speed times faster than real ones; every time shown (readings, jobs, the
chart) is the real time. Runs --minutes of real time, or until Ctrl-C, then prints a summary line and exits 0.
--fresh starts from an empty data folder.`);
  process.exit(0);
}

const HTTP = Number(args.http);
const MQTT = Number(args.mqtt);
const DATA = path.resolve(args['data-dir']);
const SPEED = Number(args.speed);
const MINUTES = Number(args.minutes);
const SECRET = 'demo-app-secret';
const BASE = `http://127.0.0.1:${HTTP}`;

// the programs beside this one: src/cli.ts under tsx (tests), dist/src/cli.js when built (npm run demo)
const here = path.dirname(fileURLToPath(import.meta.url));
const ext = path.extname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'src', `cli${ext}`);
const SIM = path.join(here, '..', 'firmware-sim', `main${ext}`);
const NODE_ARGS = process.execArgv; // --import tsx, when this runs under it

const children: ChildProcess[] = [];
/** aborted when the demo stops: its loops end, and pending sleeps and requests of the people it plays are dropped */
const stopping = new AbortController();
/** when the bins began to report (after provisioning and the bridge's start): --minutes and the summary count from it */
let startedAt = Date.now();
/** what the status line last showed; the summary falls back to it when the bridge is already gone */
const last = { sent: 0, accepted: 0, done: 0, jobs: 0, reports: 0 };

process.on('SIGINT', () => void stop('Ctrl-C'));
// the children have their own process groups: should the demo end any other way, they do not outlive it
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});
process.on('SIGTERM', () => void stop('SIGTERM'));

function run(name: string, script: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
  // each child in its own process group: Ctrl-C reaches only the demo, which then stops the children in order
  const child = spawn(process.execPath, [...NODE_ARGS, script, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
  child.on('exit', (code, signal) => {
    if (!stopping.signal.aborted) {
      console.error(`\ndemo: ${name} exited (${code ?? signal}); stopping the demo`);
      void stop(`${name} exited`, 1);
    }
  });
  children.push(child);
  return child;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve, reject) => {
    if (stopping.signal.aborted) return reject(stopping.signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(stopping.signal.reason as Error);
    };
    const t = setTimeout(() => {
      stopping.signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    stopping.signal.addEventListener('abort', onAbort, { once: true });
  });

async function get<T>(p: string): Promise<T> {
  const res = await fetch(BASE + p, { signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(5000)]) });
  if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
  return (await res.json()) as T;
}
/** Every item of a list, following its `next` cursor page by page. */
async function all<T>(p: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | null = null;
  do {
    const page: { items: T[]; next: string | null } = await get(`${p}${p.includes('?') ? '&' : '?'}limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
    items.push(...page.items);
    next = page.next;
  } while (next);
  return items;
}

/** A message from a phone, through the signed webhook, as Meta would post it. */
let seq = 0;
const DEMO_BUSINESS = { wabaId: 'demo', phoneNumberId: 'demo', displayPhoneNumber: '15550000000' };
async function phoneSends(from: string, message: Record<string, unknown>): Promise<void> {
  const body = JSON.stringify(
    inboundEnvelope(DEMO_BUSINESS, { from, id: `wamid.DEMO${Date.now()}${++seq}`, timestamp: webhookSeconds(Date.now()), type: 'text', ...message }, 'Demo'),
  );
  await fetch(`${BASE}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex') },
    body,
    signal: stopping.signal,
  });
}

interface Sent { id: number; recipient?: string; to?: string; body?: unknown; message?: unknown; created_at?: string }
interface Bin { id: string; lat: number; lon: number; address: string; state: { fill_pct: number | null } | null }

/** Plays every crew: whichever crew a job went to (the one on shift by the real clock) accepts it and later taps Done. */
async function crews(handled: Set<string>, phones: Set<string>): Promise<void> {
  const { items } = await get<{ items: Sent[] }>('/api/whatsapp/messages?limit=500');
  for (const m of items) {
    const to = m.to ?? m.recipient ?? '';
    const text = JSON.stringify(m);
    const job = /accept:(J-[0-9A-Z]+)/.exec(text)?.[1];
    if (!job || !phones.has(to) || handled.has(job)) continue;
    handled.add(job);
    // a crew member reads it, accepts after a few seconds, empties the bins, taps Done; dropped when the demo stops
    void (async () => {
      await sleep(3000 + randomInt(5000));
      await phoneSends(to, { type: 'button', button: { payload: `accept:${job}`, text: 'Accept' } });
      await sleep(15_000 + randomInt(15_000));
      await phoneSends(to, { type: 'button', button: { payload: `done:${job}`, text: 'Done' } });
    })().catch(() => undefined);
  }
}

const RESIDENTS = ['31600000101', '31600000102', '31600000103', '31600000104'];
let turn = 0;
async function resident(): Promise<void> {
  const bins = await all<Bin>('/api/bins');
  const full = bins.filter((b) => (b.state?.fill_pct ?? 0) >= 70);
  const bin = full[randomInt(Math.max(1, full.length))] ?? bins[randomInt(bins.length)]!;
  const from = RESIDENTS[turn % RESIDENTS.length]!;
  const how = turn++ % 3;
  if (how === 0) await phoneSends(from, { type: 'text', text: { body: `${bin.id.toLowerCase()} is vol` } });
  else if (how === 1) await phoneSends(from, { type: 'location', location: { latitude: bin.lat + 0.00004, longitude: bin.lon - 0.00003 } });
  else await phoneSends(from, { type: 'text', text: { body: `The bin at ${bin.address} is overflowing` } });
  // answer a list, if binbridge asks which bin
  await sleep(1500);
  const { items } = await get<{ items: Sent[] }>('/api/whatsapp/messages?limit=500');
  const lastTo = items.filter((m) => (m.to ?? m.recipient) === from).at(-1);
  const row = /"rows":\[\{"id":"([^"]+)"/.exec(JSON.stringify(lastTo ?? {}))?.[1];
  if (row) await phoneSends(from, { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: row, title: row } } });
}

/** Jobs by status and reports, as the status line and the summary show them. */
async function counts(): Promise<typeof last> {
  const [jobs, reports] = await Promise.all([get<{ items: { status: string }[] }>('/api/dispatches?limit=1000'), get<{ items: unknown[] }>('/api/reports?limit=1000')]);
  const count = (s: string) => jobs.items.filter((j) => j.status === s).length;
  return { sent: count('sent'), accepted: count('accepted'), done: count('done'), jobs: jobs.items.length, reports: reports.items.length };
}

let stopped: Promise<void> | null = null;
/** Ends the demo once: the last counts, a summary line, the children stopped (and waited for), then exit. */
function stop(why: string, code = 0): Promise<void> {
  stopped ??= (async () => {
    const minutes = (Date.now() - startedAt) / 60_000;
    // the bridge may already be gone (it exited on its own): the last counts shown are then the final ones
    const final = await Promise.race([counts(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), 1500))]).catch(() => last);
    stopping.abort(new Error(`demo stopped: ${why}`));
    if (process.stdout.isTTY) process.stdout.write('\n');
    console.log(
      `demo: stopped after ${minutes.toFixed(1)} min (${why}): ${final.jobs} job${final.jobs === 1 ? '' : 's'} (${final.sent} sent, ${final.accepted} accepted, ${final.done} done), ${final.reports} report${final.reports === 1 ? '' : 's'}`,
    );
    // in reverse order of start: the simulator goes before the bridge it talks to, so that no device sees its
    // broker vanish and logs a connection error on the way out
    for (const c of [...children].reverse()) {
      await new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
        // a child that does not stop in 10 s is killed
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
      });
    }
    process.exit(code);
  })();
  return stopped;
}

async function main(): Promise<void> {
  if (args.fresh) fs.rmSync(DATA, { recursive: true, force: true });
  fs.mkdirSync(DATA, { recursive: true });
  const env = {
    BINBRIDGE_HTTP_PORT: String(HTTP),
    BINBRIDGE_MQTT_PORT: String(MQTT),
    BINBRIDGE_DATA_DIR: DATA,
    BINBRIDGE_WHATSAPP_MODE: 'sandbox',
    BINBRIDGE_WHATSAPP_APP_SECRET: SECRET,
    BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '500',
    BINBRIDGE_DISPATCH_BATCH_WINDOW_S: '20',
    BINBRIDGE_DISPATCH_ESCALATE_AFTER_S: '120',
    BINBRIDGE_RULES_OFFLINE_AFTER_S: '600',
    BINBRIDGE_LOG_LEVEL: 'warn',
    BINBRIDGE_LOG_FORMAT: 'json',
  };
  const secrets = path.join(DATA, 'device-secrets.json');
  console.log('demo: provisioning device secrets (once) …');
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, [...NODE_ARGS, CLI, 'devices', 'provision', '--all', '--out', secrets], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`provisioning failed (${code})`))));
  });
  run('binbridge', CLI, ['start'], env);
  const upBy = Date.now() + 120_000;
  while (!(await fetch(`${BASE}/healthz`).then((r) => r.ok, () => false))) {
    if (Date.now() > upBy) throw new Error(`binbridge did not answer on ${BASE}/healthz within 120 s`);
    await sleep(200);
  }
  // readings stamped with the real time; the bins fill SPEED times faster than real ones
  run('firmware-sim', SIM, ['--url', `mqtt://127.0.0.1:${MQTT}`, '--credentials', secrets, '--speed', String(SPEED), '--interval', '5m', '--stamps', 'real', '--quiet']);
  const phones = new Set((await get<{ items: { phone: string }[] }>('/api/crews')).items.map((c) => c.phone));
  console.log(`\ndemo: open ${BASE}/  (live page)   ·   ${BASE}/docs  (API)   ·   bins fill ${SPEED}× faster than real ones; times are real   ·   Ctrl-C to stop\n`);
  const handled = new Set<string>();
  // --minutes of the demo running, start-up not counted
  startedAt = Date.now();
  const until = startedAt + MINUTES * 60_000;
  let lastResident = 0;
  while (!stopping.signal.aborted && Date.now() < until) {
    await crews(handled, phones).catch(() => undefined);
    if (Date.now() - lastResident > 10_000) {
      lastResident = Date.now();
      await resident().catch(() => undefined);
    }
    Object.assign(last, await counts().catch(() => last));
    if (stopping.signal.aborted) break;
    process.stdout.write(`${process.stdout.isTTY ? '\r' : ''}jobs: ${last.sent} sent, ${last.accepted} accepted, ${last.done} done · reports: ${last.reports}      ${process.stdout.isTTY ? '' : '\n'}`);
    await sleep(Math.min(2000, Math.max(0, until - Date.now()))).catch(() => undefined);
  }
  await stop(`--minutes ${MINUTES}`);
}

main().catch((err: unknown) => {
  if (stopping.signal.aborted) return;
  console.error(`demo: ${(err as Error).message ?? String(err)}`);
  void stop('error', 1);
});
