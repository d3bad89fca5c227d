// One strategy's run of the twin: binbridge in this process on a manual clock, the city's bins reporting over MQTT
// every 15 simulated minutes, crews closing the loop, and the truth kept beside what binbridge decided.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startApp, type RunningApp } from '../src/app.js';
import { ManualClock } from '../src/clock.js';
import { crewsOnShift, routeOrder } from '../src/dispatch/index.js';
import { sandboxEnvelope } from '../src/http/routes/sandbox.js';
import type { Bin } from '../src/registry/index.js';
import { createBinModel, fillFromDistance, type BinModel } from '../firmware-sim/bin-model.js';
import { createRandom, hashString } from '../firmware-sim/random.js';
import type { City } from './city.js';
import { SimulatedCrew, type CrewJob } from './crew.js';
import type { InjectedFault } from './faults.js';
import { fixedSchedule, isRoundDay } from './fixed-schedule.js';
import { pollingClock } from './polling-clock.js';
import { expectedFill, isFalseAlert, scoreStrategy, type Lift, type OpenedAlert, type StrategyScore } from './scorecard.js';

export type Strategy = 'binbridge' | 'fixed';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const SLOT_MS = 15 * MINUTE;
const CONNECTIONS = 8;
/** the crews look at their phones this often */
const PHONE_EVERY_MS = 5 * MINUTE;
/** a fixed round leaves at this local hour */
const ROUND_HOUR = 6;

export interface Trace {
  binId: string;
  /** per slot: true fill, sensed fill (null when silent) */
  truth: number[];
  sensed: (number | null)[];
  lifts: number[];
  alerts: { at: number; type: string }[];
}

export interface StrategyRun {
  strategy: Strategy;
  score: StrategyScore;
  lifts: Lift[];
  alerts: OpenedAlert[];
  /** every job the crews were given: binbridge's dispatches, or the fixed rounds */
  jobs: Map<string, string[]>;
  perDay: { lifts: number[]; overflowHours: number[] };
  traces: Trace[];
  cpuS: number;
}

export interface RunOptions {
  city: City;
  strategy: Strategy;
  days: number;
  seed: number;
  faults: readonly InjectedFault[];
  traceBins: readonly string[];
  progress: (line: string) => void;
}

function connect(url: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function publish(c: MqttClient, topic: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => c.publish(topic, body, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

/** The job a crew phone received: the id from its Accept payload, the stops as the message lists them. */
export function readJob(message: unknown, binIds: ReadonlySet<string>): { id: string; binIds: string[] } | null {
  const text = JSON.stringify(message);
  const id = /accept:(J-[0-9A-Z]+)/.exec(text)?.[1];
  if (!id) return null;
  const stops = [...new Set(text.split(/[^A-Za-z0-9._-]+/).filter((t) => binIds.has(t)))];
  return { id, binIds: stops };
}

export async function runStrategy(opts: RunOptions): Promise<StrategyRun> {
  const { city, strategy } = opts;
  const cpu0 = process.cpuUsage();
  const clock = new ManualClock(city.startMs);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bb-twin-${strategy}-`));
  const config = {
    ...city.config,
    data_dir: dataDir,
    mqtt: { ...city.config.mqtt, port: 0, host: '127.0.0.1', auth: 'none' as const, upstreams: [], tls: { ...city.config.mqtt.tls, cert: '', key: '' } },
    http: { ...city.config.http, port: 0, host: '127.0.0.1', api_token: '' },
    influx: { ...city.config.influx, url: '' },
    spool: { ...city.config.spool, sync: 'normal' as const },
    whatsapp: { ...city.config.whatsapp, mode: 'sandbox' as const },
    // the fixed schedule: the sensors report and binbridge watches them, but it sends nobody anywhere
    dispatch: { ...city.config.dispatch, enabled: strategy === 'binbridge' },
  };
  const app: RunningApp = await startApp(config, pino({ level: process.env.TWIN_LOG ?? 'silent' }), { clock: pollingClock(clock, MINUTE) });
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < CONNECTIONS; i++) clients.push(await connect(`mqtt://127.0.0.1:${app.ports.mqtt}`, `twin-${strategy}-${i}`));
    return await simulate(opts, clock, app, clients, cpu0);
  } finally {
    clock.holdWhile(null);
    for (const c of clients) c.end(true);
    await app.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function simulate(opts: RunOptions, clock: ManualClock, app: RunningApp, clients: MqttClient[], cpu0: NodeJS.CpuUsage): Promise<StrategyRun> {
  const { city, strategy, days, seed } = opts;
  const binById = new Map<string, Bin>(city.bins.map((b) => [b.id, b]));
  const binIds = new Set(binById.keys());
  const models = new Map<string, BinModel>(
    city.bins.map((b) => [b.id, createBinModel(b, seed, { startTimeMs: city.startMs, selfCollect: false, utcOffsetMinutes: city.utcOffsetMinutes })]),
  );
  const fill = new Map<string, number>();
  const lifts: Lift[] = [];
  const perDay = { lifts: new Array<number>(days).fill(0), overflowHours: new Array<number>(days).fill(0) };
  const dayOf = (t: number): number => Math.min(days - 1, Math.floor((t - city.startMs) / DAY));
  const endMs = city.startMs + days * DAY;
  const traces = new Map<string, Trace>(opts.traceBins.map((id) => [id, { binId: id, truth: [], sensed: [], lifts: [], alerts: [] }]));
  const failures: unknown[] = [];
  const rng = createRandom(hashString(`crews:${seed}:${strategy}`));

  const reasonOf = app.db.prepare('SELECT reason FROM dispatch_bins WHERE dispatch_id = ? AND bin_id = ?').pluck();
  const crews = new Map<string, SimulatedCrew>();
  const phones = new Map<string, SimulatedCrew>();
  for (const c of city.crews) {
    const crew = new SimulatedCrew(c.id, c.shift, {
      clock,
      timezone: city.config.timezone,
      bin: (id) => binById.get(id),
      depot: (zone) => city.depots.get(zone)!,
      lift: (binId, job) => {
        const at = clock.now();
        if (at >= endMs) return;
        const had = models.get(binId)!.empty(at);
        const why = strategy === 'binbridge' ? (reasonOf.get(job.id, binId) as string | undefined) : undefined;
        lifts.push({ binId, jobId: job.id, crewId: c.id, at, fillPct: had, reason: why ?? null });
        perDay.lifts[dayOf(at)]!++;
        traces.get(binId)?.lifts.push(at);
      },
      done: async (job) => {
        if (strategy === 'binbridge') await tell(c.phone, `done ${job.id}`);
      },
      fail: (err) => failures.push(err),
    });
    crews.set(c.id, crew);
    phones.set(c.phone, crew);
  }

  // a crew member's message, as the sandbox's "phone" hands it to binbridge's inbox. Simulated time holds still until
  // binbridge has handled it (several commits and turns of the event loop), so the twin repeats itself under any load
  let telling = 0;
  const tell = async (phone: string, text: string): Promise<void> => {
    telling++;
    try {
      await app.inbox.accept(Buffer.from(JSON.stringify(sandboxEnvelope({ from: phone, text }, clock.now()))));
    } finally {
      telling--;
    }
  };
  clock.holdWhile(() => telling > 0 || app.inbox.busy());

  // binbridge: the crews read their jobs from the WhatsApp sandbox and accept after a few minutes
  const jobsSeen = new Set<string>();
  let lastMessage = 0;
  const readPhones = (): void => {
    let batch = app.sandbox!.list({ limit: 20 });
    if (batch.length === 20 && batch[batch.length - 1]!.id > lastMessage) batch = app.sandbox!.list({ limit: 1000 });
    for (const m of batch.filter((x) => x.id > lastMessage).sort((a, b) => a.id - b.id)) {
      lastMessage = Math.max(lastMessage, m.id);
      const crew = phones.get(m.to);
      const job = crew ? readJob(m.message, binIds) : null;
      if (!crew || !job || jobsSeen.has(job.id) || job.binIds.length === 0) continue;
      jobsSeen.add(job.id);
      const zone = binById.get(job.binIds[0]!)!.zone;
      clock.setTimeout(() => {
        tell(m.to, `accept ${job.id}`)
          .then(() => crew.take({ ...job, zone }))
          .catch((err: unknown) => failures.push(err));
      }, MINUTE + Math.floor(rng.next() * 3 * MINUTE));
    }
  };
  if (strategy === 'binbridge') clock.setInterval(readPhones, PHONE_EVERY_MS);

  // fixed: the rounds of the day leave at 06:00, one job per zone, to the zone's crew on shift
  const schedule = fixedSchedule(city.bins.map((b) => ({ id: b.id, zone: b.zone, kind: b.kind, fillRatePerHour: models.get(b.id)!.fillRatePerHour })));
  const rounds = new Map<string, string[]>();
  const startRounds = (day: number, at: number): void => {
    const weekday = new Date(city.startMs + day * DAY + 12 * HOUR + city.utcOffsetMinutes * MINUTE).getUTCDay();
    const due = new Set(schedule.filter((g) => isRoundDay(g, day, weekday)).flatMap((g) => g.binIds));
    for (const [zone, depot] of city.depots) {
      const stops = city.bins.filter((b) => b.zone === zone && due.has(b.id));
      if (stops.length === 0) continue;
      // from the stop nearest the depot, on to the nearest one each time
      stops.sort((a, b) => Math.hypot(a.lat - depot.lat, a.lon - depot.lon) - Math.hypot(b.lat - depot.lat, b.lon - depot.lon));
      const job: CrewJob = { id: `R-${day + 1}-${zone}`, zone, binIds: routeOrder(stops).map((b) => b.id) };
      const crewCfg = crewsOnShift(city.crews, zone, at, city.config.timezone)[0] ?? city.crews.find((c) => c.zones.includes(zone))!;
      rounds.set(job.id, job.binIds);
      crews.get(crewCfg.id)!.take(job);
    }
  };

  const alerts: OpenedAlert[] = [];
  let lastAlert = 0;
  let falseAlerts = 0;
  const faultsOf = new Map<string, InjectedFault[]>();
  for (const f of opts.faults) faultsOf.set(f.binId, [...(faultsOf.get(f.binId) ?? []), f]);
  const rules = city.config.rules;
  const judgeAlerts = (): void => {
    const rows = app.db.prepare('SELECT id, bin_id, type, opened_at, cause FROM alerts WHERE id > ? ORDER BY id').all(lastAlert) as {
      id: number;
      bin_id: string;
      type: string;
      opened_at: number;
      cause: string | null;
    }[];
    for (const r of rows) {
      lastAlert = r.id;
      const a: OpenedAlert = { id: r.id, binId: r.bin_id, type: r.type, at: r.opened_at, cause: r.cause };
      alerts.push(a);
      const model = models.get(a.binId);
      const bin = binById.get(a.binId);
      if (model && bin) {
        const truth = { fillPct: fill.get(a.binId) ?? 0, fillRatePerHour: model.fillRatePerHour, zone: bin.zone };
        const fillInHorizonPct = a.type === 'full' ? expectedFill(truth, a.at, rules.forecast_horizon_h, city.utcOffsetMinutes) : truth.fillPct;
        if (isFalseAlert(a, { fillPct: truth.fillPct, fillInHorizonPct }, faultsOf.get(a.binId) ?? [], rules)) falseAlerts++;
      }
      traces.get(a.binId)?.alerts.push({ at: a.at, type: a.type });
    }
  };

  let overflowBinHours = 0;
  const overflowed = new Set<string>();
  const pendingFaults = [...opts.faults];
  const slots = days * 96;
  const wall0 = performance.now();
  for (let s = 0; s < slots; s++) {
    const t = city.startMs + s * SLOT_MS;
    await clock.advanceTo(t);
    if (failures.length > 0) throw failures[0];
    const day = dayOf(t);
    if (strategy === 'fixed' && (t - city.startMs) % DAY === ROUND_HOUR * HOUR) startRounds(day, t);

    const sent: Promise<void>[] = [];
    let k = 0;
    for (const [id, model] of models) {
      const r = model.step(t);
      fill.set(id, r.fillPct);
      if (r.fillPct >= 100) {
        overflowBinHours += SLOT_MS / HOUR;
        perDay.overflowHours[day]! += SLOT_MS / HOUR;
        overflowed.add(id);
      }
      const trace = traces.get(id);
      if (trace) {
        trace.truth.push(r.fillPct);
        trace.sensed.push(r.reading ? fillFromDistance(r.reading.distance_mm, binById.get(id)!) : null);
      }
      if (r.reading) sent.push(publish(clients[k++ % clients.length]!, `bins/${id}/telemetry`, JSON.stringify(r.reading)));
    }
    // every reading acknowledged: binbridge has committed them and its rules have seen them
    await Promise.all(sent);
    while (pendingFaults.length > 0 && pendingFaults[0]!.startMs <= t) {
      const f = pendingFaults.shift()!;
      models.get(f.binId)?.startFault(f.kind, f.durationMs ?? undefined);
    }
    judgeAlerts();
    if ((s + 1) % 96 === 0) {
      opts.progress(
        `${strategy} day ${(s + 1) / 96}/${days}: lifts ${lifts.length}, overflow ${overflowBinHours.toFixed(1)} bin-h, alerts ${alerts.length} (false ${falseAlerts}), ${((performance.now() - wall0) / 1000).toFixed(0)} s`,
      );
    }
  }
  await clock.advanceTo(endMs);
  judgeAlerts();
  if (failures.length > 0) throw failures[0];

  const jobs = new Map<string, string[]>();
  if (strategy === 'binbridge') {
    for (const r of app.db.prepare('SELECT dispatch_id AS id, bin_id FROM dispatch_bins ORDER BY rowid').all() as { id: string; bin_id: string }[]) {
      jobs.set(r.id, [...(jobs.get(r.id) ?? []), r.bin_id]);
    }
  } else for (const [id, bins] of rounds) jobs.set(id, bins);
  const messages = (app.db.prepare('SELECT count(*) AS n FROM whatsapp_sandbox_messages').get() as { n: number }).n;
  const score = scoreStrategy({
    bins: city.bins.length,
    days,
    lifts,
    overflowBinHours,
    binsOverflowed: overflowed.size,
    truckKm: [...crews.values()].reduce((s, c) => s + c.km, 0),
    jobs: jobs.size,
    messages,
    alerts,
    falseAlerts,
  });
  const cpu = process.cpuUsage(cpu0);
  return { strategy, score, lifts, alerts, jobs, perDay, traces: [...traces.values()], cpuS: (cpu.user + cpu.system) / 1e6 };
}
