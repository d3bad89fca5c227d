// `npm run demo`: the whole loop on one machine, no accounts and no other software. It starts the bridge (WhatsApp
// sandbox), the firmware simulator at high speed, and plays the people: crews who accept their jobs and tap Done,
// residents who report full bins by code, by location pin and by address. Open the live page it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

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

Starts binbridge (sandbox WhatsApp, no InfluxDB needed), the simulator at --speed, crews that answer their jobs
and residents that report full bins. Runs --minutes (the simulated clock replays minutes*speed of history, so
bins fill up fast), Ctrl-C to stop. --fresh starts from an empty data folder.`);
  process.exit(0);
}

const HTTP = Number(args.http);
const MQTT = Number(args.mqtt);
const DATA = path.resolve(args['data-dir']);
const SPEED = Number(args.speed);
const MINUTES = Number(args.minutes);
const SECRET = 'demo-app-secret';
const BASE = `http://127.0.0.1:${HTTP}`;
const children: ChildProcess[] = [];
let stopping = false;

function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

function run(name: string, cmd: string[], env: Record<string, string> = {}, quiet = true): ChildProcess {
  const child = spawn(process.execPath, cmd, { env: { ...process.env, ...env }, stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit' });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
  child.on('exit', (code) => {
    if (!stopping) {
      console.error(`${name} exited (${code}); stopping the demo`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function get<T>(p: string): Promise<T> {
  return (await (await fetch(BASE + p)).json()) as T;
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
async function phoneSends(from: string, message: Record<string, unknown>): Promise<void> {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: 'demo', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000000', phone_number_id: 'demo' }, contacts: [{ profile: { name: 'Demo' }, wa_id: from }], messages: [{ from, id: `wamid.DEMO${Date.now()}${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }] } }] }],
  });
  await fetch(`${BASE}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex') },
    body,
  });
}

interface Sent { id: number; recipient?: string; to?: string; body?: unknown; message?: unknown; created_at?: string }
interface Bin { id: string; lat: number; lon: number; address: string; state: { fill_pct: number | null } | null }

async function crews(handled: Set<string>, phones: Set<string>): Promise<void> {
  const { items } = await get<{ items: Sent[] }>('/api/whatsapp/messages?limit=500');
  for (const m of items) {
    const to = m.to ?? m.recipient ?? '';
    const text = JSON.stringify(m);
    const job = /accept:(J-[0-9A-Z]+)/.exec(text)?.[1];
    if (!job || !phones.has(to) || handled.has(job)) continue;
    handled.add(job);
    // a crew member reads it, accepts after a few seconds, empties the bins, taps Done
    void (async () => {
      await sleep(3000 + randomInt(5000));
      await phoneSends(to, { type: 'button', button: { payload: `accept:${job}`, text: 'Accept' } });
      await sleep(15_000 + randomInt(15_000));
      await phoneSends(to, { type: 'button', button: { payload: `done:${job}`, text: 'Done' } });
    })();
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
  const last = items.filter((m) => (m.to ?? m.recipient) === from).at(-1);
  const row = /"rows":\[\{"id":"([^"]+)"/.exec(JSON.stringify(last ?? {}))?.[1];
  if (row) await phoneSends(from, { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: row, title: row } } });
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
    const p = spawn(process.execPath, ['dist/src/cli.js', 'devices', 'provision', '--all', '--out', secrets], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`provisioning failed (${code})`))));
  });
  run('binbridge', ['dist/src/cli.js', 'start'], env);
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${BASE}/healthz`).then((r) => r.ok, () => false)) break;
    await sleep(200);
  }
  const startTime = new Date(Date.now() - MINUTES * 60_000 * (SPEED - 1)).toISOString();
  run('firmware-sim', ['dist/firmware-sim/main.js', '--url', `mqtt://127.0.0.1:${MQTT}`, '--credentials', secrets, '--speed', String(SPEED), '--interval', '5m', '--start-time', startTime, '--quiet']);
  const phones = new Set((await get<{ items: { phone: string }[] }>('/api/crews')).items.map((c) => c.phone));
  console.log(`\ndemo: open ${BASE}/  (live page)   ·   ${BASE}/docs  (API)   ·   Ctrl-C to stop\n`);
  const handled = new Set<string>();
  const until = Date.now() + MINUTES * 60_000;
  let lastResident = 0;
  while (!stopping && Date.now() < until) {
    await crews(handled, phones).catch(() => undefined);
    if (Date.now() - lastResident > 10_000) {
      lastResident = Date.now();
      await resident().catch(() => undefined);
    }
    const [jobs, reports] = await Promise.all([get<{ items: { status: string }[] }>('/api/dispatches?limit=1000'), get<{ items: unknown[] }>('/api/reports?limit=1000')]).catch(() => [{ items: [] }, { items: [] }] as const);
    const count = (s: string) => jobs.items.filter((j) => j.status === s).length;
    process.stdout.write(`\rjobs: ${count('sent')} sent, ${count('accepted')} accepted, ${count('done')} done · reports: ${reports.items.length}      `);
    await sleep(2000);
  }
  stop(0);
}

main().catch((err: unknown) => {
  console.error(err);
  stop(1);
});
