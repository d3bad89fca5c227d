// A realistic day of a city's bins, written into InfluxDB *through the bridge* (MQTT in, rules, dispatch, the
// WhatsApp sandbox and webhook, residents' reports), so that every Grafana panel has something to show.
// The Grafana test runs each dashboard query against what this leaves in influxd; `npm run demo` may reuse it.
import { createRandom } from '../../firmware-sim/random.js';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import YAML from 'yaml';
import { readBinsFile, type Bin } from '../../src/registry/index.js';
import { CITY, connectClient, publishAcked, startBridge, type InProcessBridge } from './bridge.js';
import { waitFor } from './wait.js';
import { webhookEnvelope } from '../../src/whatsapp/envelope.js';

const STEP_MS = 15 * 60_000;
const STEPS = 96; // 24 h of readings, one every 15 minutes
const APP_SECRET = 'simulated-day-app-secret';
const API_TOKEN = 'simulated-day-token';
const RESIDENT_NL = '31620000101';
const RESIDENT_EN = '31620000102';

const allBins = readBinsFile(CITY);
const zonesInOrder = [...new Set(allBins.map((b) => b.zone))];
const firstOf = (zone: string, n: number): Bin[] => allBins.filter((b) => b.zone === zone).slice(0, n);
const centrum = zonesInOrder[0]!;

/** ~40 bins: ten of the first zone, five of every other one. */
export const SIMULATED_BINS: readonly Bin[] = zonesInOrder.flatMap((z) => firstOf(z, z === centrum ? 10 : 5));

const pick = (zoneIndex: number, i = 0): string => firstOf(zonesInOrder[zoneIndex % zonesInOrder.length]!, 5)[i]!.id;

/** The bins that play a part in the day (each has readings and events in influxd afterwards). */
export const SIMULATED_DAY = {
  /** crosses 80 % in the afternoon; the crew accepts and reports Done, then the sensor sees it emptied */
  fullBin: SIMULATED_BINS[2]!.id,
  /** crosses 80 % two hours ago and is still full at the end (job sent, not answered) */
  stillFullBin: pick(3),
  /** a fire six hours ago */
  fireBin: pick(1),
  /** battery running down below 15 % */
  lowBatteryBin: pick(4),
  /** silent for the last three hours */
  offlineBin: pick(5),
  /** emptied two hours ago, then reported full by a resident (sensor_suspect) */
  reportedBin: SIMULATED_BINS[4]!.id,
  /** reported by a second resident, in Dutch */
  reportedBin2: pick(6, 1),
} as const;

/** Deterministic pseudo-random numbers, so every run simulates the same day. */
const random = (seed: number): (() => number) => createRandom(seed).next;

interface Payload {
  fill_pct: number;
  battery_pct: number;
  temperature_c: number;
  rssi: number;
  ts: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** The readings of one bin over the day: steps 0..STEPS (the last one is ~now); null where the sensor is silent. */
function binDay(bin: Bin, index: number, end: number): (Payload | null)[] {
  const rnd = random(1000 + index);
  const roles = SIMULATED_DAY;
  let fill = 5 + rnd() * 35;
  const rate = (0.8 + rnd() * 1.6) / 4; // %/step: 0.8–2.4 %/h, never near 80 % before a collection
  let collectAt = 45 + rnd() * 10;
  let battery = bin.id === roles.lowBatteryBin ? 24 : 55 + rnd() * 40;
  const drain = bin.id === roles.lowBatteryBin ? 13 / STEPS : (0.02 + rnd() * 0.05);
  const rssi = -60 - rnd() * 30;
  const out: (Payload | null)[] = [];
  for (let k = 0; k <= STEPS; k++) {
    const ts = end - (STEPS - k) * STEP_MS;
    const hour = (new Date(ts).getUTCHours() + 1) % 24;
    let temperature = 13 + 6 * Math.sin(((hour - 9) / 24) * 2 * Math.PI) + (rnd() - 0.5);
    if (bin.id === roles.fullBin && k >= 56) fill = 5 + (k - 56) * 2.3; // ~9 %/h after a morning collection
    else if (bin.id === roles.stillFullBin && k >= 44) fill = 6 + (k - 44) * 1.6 + rnd() * 0.4;
    else if (bin.id === roles.reportedBin && k === 88) fill = 4;
    else if (fill > collectAt) {
      fill = 3 + rnd() * 5; // emptied by the round
      collectAt = 45 + rnd() * 10;
    } else fill += rate * (0.6 + rnd() * 0.8);
    if (bin.id === roles.fireBin) {
      const fire = [48, 71, 66, 54, 41, 30];
      const f = fire[k - 72];
      if (f !== undefined) temperature = f;
    }
    battery = Math.max(1, battery - drain);
    if (bin.id === roles.offlineBin && k > STEPS - 12) {
      out.push(null);
      continue;
    }
    out.push({
      fill_pct: round1(clamp(fill + (rnd() - 0.5), 0, 100)),
      battery_pct: round1(battery),
      temperature_c: round1(temperature),
      rssi: Math.round(rssi + (rnd() - 0.5) * 6),
      ts,
    });
  }
  return out;
}

/** A signed WhatsApp Cloud API webhook body, posted as Meta would. */
async function postWebhook(bridge: InProcessBridge, value: Record<string, unknown>): Promise<void> {
  const body = JSON.stringify(webhookEnvelope({ wabaId: '1', phoneNumberId: '1', displayPhoneNumber: '1' }, value));
  const signature = 'sha256=' + createHmac('sha256', APP_SECRET).update(body).digest('hex');
  const res = await fetch(`${bridge.httpUrl}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
}

let messageSeq = 0;
function sendText(bridge: InProcessBridge, from: string, text: string): Promise<void> {
  const message = { from, id: `wamid.SIMDAY.${Date.now()}.${++messageSeq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } };
  return postWebhook(bridge, { contacts: [{ profile: { name: 'Simulated' }, wa_id: from }], messages: [message] });
}

/** A resident taps one of the reply buttons binbridge sent them (the last one offering a button whose id starts so). */
async function tapButton(bridge: InProcessBridge, from: string, idPrefix: string, index: number): Promise<void> {
  const offered = await waitFor(
    async () =>
      (await bridge.outbox.list({ to: from, limit: 50 }))
        .map((i) => i.message)
        .find((m) => m.type === 'interactive' && m.interactive.type === 'button' && m.interactive.action.buttons.some((b) => b.reply.id.startsWith(idPrefix))),
    { message: `a ${idPrefix} button sent to a resident` },
  );
  const button = (offered as Extract<typeof offered, { type: 'interactive' }>).interactive as { action: { buttons: { reply: { id: string; title: string } }[] } };
  const reply = button.action.buttons[index]!.reply;
  const message = { from, id: `wamid.SIMDAY.${Date.now()}.${++messageSeq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'interactive', interactive: { type: 'button_reply', button_reply: reply } };
  await postWebhook(bridge, { contacts: [{ profile: { name: 'Simulated' }, wa_id: from }], messages: [message] });
}

async function api<T>(bridge: InProcessBridge, path: string): Promise<T> {
  const res = await fetch(`${bridge.httpUrl}/api${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  if (!res.ok) throw new Error(`GET /api${path} answered ${res.status}`);
  return (await res.json()) as T;
}

async function post<T>(bridge: InProcessBridge, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${bridge.httpUrl}/api${path}`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST /api${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

interface Job {
  id: string;
  status: string;
  crew_id: string | null;
}

async function jobOf(bridge: InProcessBridge, bin: string, status?: string): Promise<Job> {
  return waitFor(
    async () => (await api<{ items: Job[] }>(bridge, `/dispatches?bin=${bin}`)).items.find((j) => (status ? j.status === status : j.crew_id !== null)),
    { timeoutMs: 15_000, message: `a job for ${bin}${status ? ` in status ${status}` : ''}` },
  );
}

async function drained(bridge: InProcessBridge): Promise<void> {
  await waitFor(() => bridge.spool!.stats().depth === 0, { timeoutMs: 30_000, message: 'the spool drained into influxd' });
}

/**
 * The readings arrived within seconds, so the bridge heard every sensor "now". Stamp each bin's last-heard
 * time with its last reading's own time, as if the day had been lived, so that the silent sensor is seen as such.
 */
function liveTheDay(dataDir: string, lastReading: Map<string, number>): void {
  const db = new Database(path.join(dataDir, 'binbridge.db'));
  try {
    const rows = db.prepare('SELECT bin_id, state FROM rule_state').all() as { bin_id: string; state: string }[];
    const update = db.prepare('UPDATE rule_state SET state = ? WHERE bin_id = ?');
    db.transaction(() => {
      for (const row of rows) {
        const state = JSON.parse(row.state) as { lastHeardAt?: number | null };
        if (!('lastHeardAt' in state)) throw new Error('rule_state has no lastHeardAt: update liveTheDay in test/helpers/simulated-day.ts');
        const ts = lastReading.get(row.bin_id);
        if (ts !== undefined) update.run(JSON.stringify({ ...state, lastHeardAt: ts }), row.bin_id);
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * Fills influxd (v1 write API, database `binbridge`) with a simulated day: ~40 bins reporting every 15 minutes
 * for 24 hours (fill rising and emptied by rounds, battery, temperature), two bins running full, a fire, a low
 * battery, a sensor going silent; a crew accepting and finishing its job over WhatsApp; two residents reporting
 * bins by code, thanked when they are emptied and answering 👍 and 👎 (with what went wrong); both subscribing to notices and an emergency notice to them, one answered; delivery statuses
 * from "Meta" for what the sandbox sent. Resolves when everything is in influxd.
 */
/**
 * The shipped config, but dispatching each full bin at once rather than at the next round: the day ends now, so with
 * rounds whether the full bin's job exists yet would depend on the hour the test runs at.
 */
function configWithoutRounds(): string {
  const doc = YAML.parse(fs.readFileSync('config/binbridge.yaml', 'utf8')) as { dispatch?: Record<string, unknown> };
  doc.dispatch = { ...doc.dispatch, rounds: [] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-simday-config-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'binbridge.yaml');
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

export async function fillSimulatedDay(influxUrl: string): Promise<void> {
  const env = {
    BINBRIDGE_MQTT_AUTH: 'none',
    BINBRIDGE_HTTP_API_TOKEN: API_TOKEN,
    BINBRIDGE_INFLUX_URL: influxUrl,
    BINBRIDGE_INFLUX_API: 'v1',
    BINBRIDGE_INFLUX_DB: 'binbridge',
    BINBRIDGE_INFLUX_STATE_INTERVAL_S: '0',
    BINBRIDGE_DISPATCH_BATCH_WINDOW_S: '0',
    BINBRIDGE_WHATSAPP_MODE: 'sandbox',
    BINBRIDGE_WHATSAPP_APP_SECRET: APP_SECRET,
    BINBRIDGE_WHATSAPP_PAIR_INTERVAL_MS: '0',
    BINBRIDGE_CONFIG: configWithoutRounds(),
  };
  const end = Date.now() - 60_000;
  const days = SIMULATED_BINS.map((b, i) => ({ bin: b, readings: binDay(b, i, end) }));
  const lastReading = new Map<string, number>();

  // 1. The day's readings, in time order (each step's bins in parallel, as the devices would send them).
  let bridge = await startBridge(env);
  const dataDir = bridge.dataDir;
  try {
    const client: MqttClient = await connectClient(bridge.mqttUrl, { clientId: 'simulated-day' });
    try {
      for (let k = 0; k <= STEPS; k++) {
        await Promise.all(
          days.map(({ bin, readings }) => {
            const r = readings[k];
            // the full bin's last reading comes after the crew's Done
            if (!r || (bin.id === SIMULATED_DAY.fullBin && k === STEPS)) return undefined;
            lastReading.set(bin.id, r.ts);
            return publishAcked(client, `bins/${bin.id}/telemetry`, r);
          }),
        );
      }
    } finally {
      client.end();
    }
    await drained(bridge);
  } finally {
    await bridge.stop();
  }

  // 2. The same bridge, restarted, lives the end of the day in real time.
  liveTheDay(dataDir, lastReading);
  bridge = await startBridge(env, dataDir);
  try {
    await bridge.rules.checkSilence();
    const offline = (await bridge.alerts.list({ status: 'open', type: 'offline' })).map((a) => a.bin_id);
    if (offline.join() !== SIMULATED_DAY.offlineBin) throw new Error(`expected only ${SIMULATED_DAY.offlineBin} offline, got [${offline.join(', ')}]`);

    // the crew of the full bin's job accepts it, then reports it emptied; the sensor agrees a little later
    const crews = (await api<{ items: { id: string; phone: string }[] }>(bridge, '/crews')).items;
    const job = await jobOf(bridge, SIMULATED_DAY.fullBin);
    const crewPhone = crews.find((c) => c.id === job.crew_id)?.phone;
    if (!crewPhone) throw new Error(`no crew ${job.crew_id} in GET /api/crews`);
    await sendText(bridge, crewPhone, `accept ${job.id}`);
    await jobOf(bridge, SIMULATED_DAY.fullBin, 'accepted');
    await sendText(bridge, crewPhone, `done ${job.id}`);
    await jobOf(bridge, SIMULATED_DAY.fullBin, 'done');
    const client = await connectClient(bridge.mqttUrl, { clientId: 'simulated-day-2' });
    try {
      await publishAcked(client, `bins/${SIMULATED_DAY.fullBin}/telemetry`, { fill_pct: 3.5, battery_pct: 80, temperature_c: 14, ts: Date.now() });
    } finally {
      client.end();
    }

    // two residents report bins by code
    await sendText(bridge, RESIDENT_EN, `${SIMULATED_DAY.reportedBin} is vol`);
    await sendText(bridge, RESIDENT_NL, `De container ${SIMULATED_DAY.reportedBin2.toLowerCase()} bij ons in de straat is vol`);
    for (const bin of [SIMULATED_DAY.reportedBin, SIMULATED_DAY.reportedBin2]) {
      await waitFor(async () => (await api<{ items: unknown[] }>(bridge, `/reports?bin=${bin}`)).items.length > 0, { message: `a report of ${bin}` });
    }

    // both bins are seen emptied: the residents are thanked and asked; one is happy, the other says what went wrong
    for (const bin of [SIMULATED_DAY.reportedBin, SIMULATED_DAY.reportedBin2]) await bridge.flow.onCollected(bin);
    await tapButton(bridge, RESIDENT_EN, 'feedback:', 0);
    await tapButton(bridge, RESIDENT_NL, 'feedback:', 1);
    await waitFor(async () => (await bridge.outbox.list({ to: RESIDENT_NL, limit: 50 })).some((i) => JSON.stringify(i.message).includes('Wat ging er mis')), { message: 'asked what went wrong' });
    await sendText(bridge, RESIDENT_NL, 'De zakken ernaast zijn blijven liggen');
    await waitFor(async () => (await api<{ total: { answered: number } }>(bridge, '/reports/satisfaction')).total.answered === 2, { message: 'two answers' });

    // both residents subscribe to notices, and the city sends one (an emergency: quiet hours do not hold it)
    await sendText(bridge, RESIDENT_EN, `subscribe ${SIMULATED_DAY.reportedBin}`);
    await sendText(bridge, RESIDENT_NL, `aanmelden ${SIMULATED_DAY.reportedBin2}`);
    await waitFor(async () => (await api<{ total: number }>(bridge, '/subscriptions')).total === 2, { message: 'two subscribers' });
    const notice = await post<{ id: number }>(bridge, '/notices', { kind: 'emergency', title: 'Storm', text: { en: 'Keep bins in tonight.', nl: 'Houd containers vannacht binnen.' }, target: { all: true } });
    await waitFor(async () => (await api<{ figures: { sent: number } }>(bridge, `/notices/${notice.id}`)).figures.sent === 2, { message: 'the notice sent to both' });

    // "Meta" reports delivery of what the sandbox sent: read by crews, delivered to residents, one failure
    await waitFor(async () => (await bridge.inbox.backlog()).pending === 0 && (await bridge.outbox.list({ limit: 1000 })).every((i) => i.status === 'sent' || i.status === 'failed'), {
      timeoutMs: 15_000,
      message: 'inbox and outbox settled',
    });
    const crewPhones = new Set(crews.map((c) => c.phone));
    const sent = (await bridge.outbox.list({ limit: 1000 })).filter((i) => i.status === 'sent' && i.wamid !== null);
    const failing = sent.find((i) => i.to === RESIDENT_NL);
    const ts = String(Math.floor(Date.now() / 1000));
    const statuses = sent.flatMap((i) => {
      const base = { id: i.wamid, timestamp: ts, recipient_id: i.to };
      if (i === failing) return [{ ...base, status: 'failed', errors: [{ code: 131026, title: 'Message undeliverable' }] }];
      const steps = crewPhones.has(i.to) ? ['sent', 'delivered', 'read'] : ['sent', 'delivered'];
      return steps.map((status) => ({ ...base, status }));
    });
    await postWebhook(bridge, { statuses });
    const expected = new Map(sent.map((i) => [i.id, i === failing ? 'failed' : crewPhones.has(i.to) ? 'read' : 'delivered']));
    await waitFor(async () => (await bridge.outbox.list({ limit: 1000 })).every((i) => !expected.has(i.id) || i.delivery === expected.get(i.id)), {
      timeoutMs: 15_000,
      message: 'delivery statuses applied',
    });
    // one resident answers the notice: a reply within 24 h, the notice's response
    await sendText(bridge, RESIDENT_EN, 'Thanks for the warning');
    await waitFor(async () => (await api<{ figures: { replied: number } }>(bridge, `/notices/${notice.id}`)).figures.replied === 1, { message: 'a reply to the notice' });
    await drained(bridge);
  } finally {
    await bridge.stop();
  }
}
