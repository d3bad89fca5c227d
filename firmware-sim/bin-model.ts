import { createRandom, hashString, type Random } from './random.js';

/** What the model needs to know about a bin (a subset of a bins-file row). */
export interface ModelBin {
  id: string;
  zone: string;
  kind: string;
  depth_mm: number;
  sensor_offset_mm: number;
}

export const FAULT_KINDS = ['stuck', 'tilt', 'fire', 'silent'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Expected fault starts per simulated day per bin. */
export type FaultRates = Record<FaultKind, number>;

export interface BinModelOptions {
  /** simulated time of the model's first instant (epoch ms) */
  startTimeMs: number;
  faultRates?: Partial<FaultRates>;
  /** local time offset used for the daily and weekly rhythms and the collection schedule */
  utcOffsetMinutes?: number;
  /** ultrasonic noise, standard deviation in mm (clamped at 4 sd) */
  noiseSdMm?: number;
  /** probability per reading of a spurious echo */
  spuriousEchoRate?: number;
  /** initial fill level; random 0-60 % when omitted */
  initialFillPct?: number;
  /** initial battery level; random 60-100 % when omitted */
  initialBatteryPct?: number;
  /**
   * true (default): the model empties the bin itself, on the zone's weekly round and some time after it fills up;
   * false: only `empty()` does, when the city twin's simulated crew lifts it
   */
  selfCollect?: boolean;
}

/** The telemetry payload a device publishes (SPEC "MQTT interface", native JSON). */
export interface TelemetryPayload {
  distance_mm: number;
  battery_pct: number;
  temperature_c: number;
  tilt: boolean;
  ts: string;
}

export interface StepResult {
  /** null while the device is silent */
  reading: TelemetryPayload | null;
  /** the bin's true fill level, whatever the sensor says */
  fillPct: number;
  faults: readonly FaultKind[];
  /** a crew emptied the bin since the previous step */
  collected: boolean;
  spuriousEcho: boolean;
}

export interface BinModel {
  readonly binId: string;
  /** advance the simulation to simTimeMs (never backwards) and take a reading there */
  step(simTimeMs: number): StepResult;
  /** start a fault now (at the last step's time); duration random when omitted */
  startFault(kind: FaultKind, durationMs?: number): void;
  activeFaults(): readonly FaultKind[];
  /** a crew lifts the bin at simTimeMs (never backwards): returns the true fill it had, now emptied */
  empty(simTimeMs: number): number;
  /** the bin's mean fill rate (pct per hour over a day and a week), what past rounds would teach a planner */
  readonly fillRatePerHour: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** longest integration step, so that rhythms and thresholds are followed within a big jump of the clock */
const MAX_SUBSTEP_MS = 10 * MINUTE;

const MEDIAN_FILL_RATE_PER_HOUR: Record<string, number> = { rest: 2.2, plastic: 1.8, paper: 1.4, glass: 0.9 };
const DEFAULT_FILL_RATE_PER_HOUR = 1.6;
const CENTRUM_FACTOR = 1.5;
const BATTERY_DRAIN_PER_READING = 0.002;

interface FaultState {
  endsMs: number;
  /** stuck: the frozen distance */
  frozenDistanceMm?: number;
  /** fire */
  startMs?: number;
  startTempC?: number;
  riseCPerMinute?: number;
  peakC?: number;
}

function circularGauss(hour: number, centre: number, width: number): number {
  const d = Math.min(Math.abs(hour - centre), 24 - Math.abs(hour - centre));
  return Math.exp(-(d * d) / (2 * width * width));
}

function dailyShape(hour: number): number {
  return 0.15 + 0.5 * circularGauss(hour, 8.5, 1.2) + 1.3 * circularGauss(hour, 12.5, 1.6) + 1.5 * circularGauss(hour, 19, 1.8);
}

/** normalised so that a day's mean is 1: the fill rate stays the daily average rate */
const DAILY_MEAN = (() => {
  let sum = 0;
  for (let m = 0; m < 1440; m++) sum += dailyShape(m / 60);
  return sum / 1440;
})();

/** little at night, peaks at midday and in the evening */
export function dailyFactor(localHour: number): number {
  return dailyShape(localHour) / DAILY_MEAN;
}

/** 0 = Sunday; the city centre is busier at the weekend, residential zones slightly */
export function weeklyFactor(weekday: number, zone: string): number {
  const weekend = weekday === 0 || weekday === 6;
  if (isCentrum(zone)) return weekday === 6 ? 1.5 : weekday === 0 ? 1.35 : weekday === 5 ? 1.15 : 0.9;
  return weekend ? 1.1 : 0.96;
}

function isCentrum(zone: string): boolean {
  return /cent(rum|re|er)|downtown|city/i.test(zone);
}

function localParts(simMs: number, offsetMs: number): { hour: number; weekday: number; dayStartMs: number; dayOfYear: number } {
  const local = simMs + offsetMs;
  const date = new Date(local);
  const dayStartLocal = Math.floor(local / DAY) * DAY;
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  return {
    hour: (local - dayStartLocal) / HOUR,
    weekday: date.getUTCDay(),
    dayStartMs: dayStartLocal - offsetMs,
    dayOfYear: (local - yearStart) / DAY,
  };
}

export function createBinModel(bin: ModelBin, seed: number, opts: BinModelOptions): BinModel {
  const rng: Random = createRandom(hashString(`${seed}:${bin.id}`));
  const offsetMs = (opts.utcOffsetMinutes ?? 0) * MINUTE;
  const noiseSd = opts.noiseSdMm ?? 8;
  const spuriousRate = opts.spuriousEchoRate ?? 0.002;
  const rates: FaultRates = { stuck: 0, tilt: 0, fire: 0, silent: 0, ...opts.faultRates };
  const fullRangeMm = bin.sensor_offset_mm + bin.depth_mm;
  const selfCollect = opts.selfCollect ?? true;

  const median = (MEDIAN_FILL_RATE_PER_HOUR[bin.kind] ?? DEFAULT_FILL_RATE_PER_HOUR) * (isCentrum(bin.zone) ? CENTRUM_FACTOR : 1);
  const fillRatePerHour = median * Math.exp(0.35 * rng.gaussian());
  const overfillCapPct = rng.uniform(100, 105);
  const tempOffsetC = rng.uniform(-1.5, 1.5);
  // the zone's collection day and start hour are the city's, the same whatever the seed
  const zoneHash = hashString(`zone:${bin.zone}`);
  const zoneWeekday = 1 + (zoneHash % 6); // Monday..Saturday
  const zoneStartHour = 7 + ((zoneHash >>> 8) % 4);
  const routeOffsetMs = rng.uniform(0, 4 * HOUR);

  let now = opts.startTimeMs;
  let fill = opts.initialFillPct ?? rng.uniform(0, 60);
  let battery = opts.initialBatteryPct ?? rng.uniform(60, 100);
  let thresholdPct = rng.uniform(85, 95);
  let pickupAtMs: number | null = null;
  let nextScheduledMs = nextScheduledCollection(now);
  let collectedSinceStep = false;
  let lastDistanceMm = Math.round(trueDistance());
  const faults = new Map<FaultKind, FaultState>();

  function nextScheduledCollection(afterMs: number): number {
    const { dayStartMs, weekday } = localParts(afterMs, offsetMs);
    for (let d = 0; d <= 7; d++) {
      if ((weekday + d) % 7 !== zoneWeekday) continue;
      const at = dayStartMs + d * DAY + zoneStartHour * HOUR + routeOffsetMs;
      if (at > afterMs) return at;
    }
    return dayStartMs + 7 * DAY + zoneStartHour * HOUR + routeOffsetMs;
  }

  function trueDistance(): number {
    return bin.sensor_offset_mm + bin.depth_mm * (1 - fill / 100);
  }

  function ambientTemperature(simMs: number): number {
    const { hour, dayOfYear } = localParts(simMs, offsetMs);
    const seasonal = 10.5 + 7.5 * Math.cos((2 * Math.PI * (dayOfYear - 200)) / 365.25);
    const daily = 4 * Math.cos((2 * Math.PI * (hour - 15)) / 24);
    return seasonal + daily + tempOffsetC;
  }

  function collect(): void {
    fill = rng.uniform(0, 5);
    thresholdPct = rng.uniform(85, 95);
    pickupAtMs = null;
    collectedSinceStep = true;
  }

  function startFaultAt(kind: FaultKind, atMs: number, durationMs?: number): void {
    switch (kind) {
      case 'stuck':
        faults.set(kind, { endsMs: atMs + (durationMs ?? rng.logUniform(2 * HOUR, 12 * HOUR)), frozenDistanceMm: lastDistanceMm });
        return;
      case 'tilt':
        faults.set(kind, { endsMs: atMs + (durationMs ?? rng.logUniform(15 * MINUTE, 6 * HOUR)) });
        return;
      case 'silent':
        faults.set(kind, { endsMs: atMs + (durationMs ?? rng.logUniform(20 * MINUTE, 6 * HOUR)) });
        return;
      case 'fire': {
        const startTempC = ambientTemperature(atMs);
        const riseCPerMinute = rng.uniform(3, 8);
        const peakC = rng.uniform(80, 200);
        const riseMs = ((peakC - startTempC) / riseCPerMinute) * MINUTE;
        const holdMs = rng.uniform(1, 5) * MINUTE;
        faults.set(kind, { endsMs: atMs + (durationMs ?? riseMs + holdMs), startMs: atMs, startTempC, riseCPerMinute, peakC });
        return;
      }
    }
  }

  function advanceTo(targetMs: number): void {
    while (now < targetMs) {
      const from = now;
      const to = Math.min(targetMs, from + MAX_SUBSTEP_MS);
      const hours = (to - from) / HOUR;
      const { hour, weekday } = localParts((from + to) / 2, offsetMs);
      const jitter = Math.exp(0.25 * rng.gaussian());
      fill = Math.min(overfillCapPct, fill + fillRatePerHour * hours * dailyFactor(hour) * weeklyFactor(weekday, bin.zone) * jitter);

      if (selfCollect && pickupAtMs === null && fill >= thresholdPct) {
        // the crew comes after a while: exponential delay, 20 min to a day
        pickupAtMs = to + Math.min(DAY, 20 * MINUTE + -Math.log(1 - rng.next()) * 3 * HOUR);
      }
      if (pickupAtMs !== null && to >= pickupAtMs) collect();
      if (selfCollect && to >= nextScheduledMs) {
        if (fill > 10) collect();
        nextScheduledMs = nextScheduledCollection(to);
      }

      for (const [kind, state] of faults) if (to >= state.endsMs) faults.delete(kind);
      const days = (to - from) / DAY;
      for (const kind of FAULT_KINDS) {
        const rate = rates[kind];
        if (rate > 0 && !faults.has(kind) && rng.chance(1 - Math.exp(-rate * days))) startFaultAt(kind, to);
      }
      now = to;
    }
  }

  function measureDistance(): { distanceMm: number; spurious: boolean } {
    if (faults.has('tilt')) return { distanceMm: rng.uniform(30, fullRangeMm + 800), spurious: false };
    const stuck = faults.get('stuck');
    if (stuck?.frozenDistanceMm !== undefined) return { distanceMm: stuck.frozenDistanceMm, spurious: false };
    if (rng.chance(spuriousRate)) return { distanceMm: rng.uniform(0.1, 0.6) * fullRangeMm, spurious: true };
    const noise = Math.max(-4, Math.min(4, rng.gaussian())) * noiseSd;
    return { distanceMm: trueDistance() + noise, spurious: false };
  }

  function temperatureAt(simMs: number): number {
    const fire = faults.get('fire');
    const ambient = ambientTemperature(simMs) + 0.2 * rng.gaussian();
    if (fire?.startMs === undefined || fire.startTempC === undefined || fire.riseCPerMinute === undefined || fire.peakC === undefined) {
      return ambient;
    }
    const risen = fire.startTempC + (fire.riseCPerMinute * (simMs - fire.startMs)) / MINUTE;
    return Math.max(ambient, Math.min(fire.peakC, risen));
  }

  return {
    binId: bin.id,
    step(simTimeMs) {
      advanceTo(simTimeMs);
      const collected = collectedSinceStep;
      collectedSinceStep = false;
      const active = [...faults.keys()];
      if (faults.has('silent')) return { reading: null, fillPct: fill, faults: active, collected, spuriousEcho: false };

      const { distanceMm, spurious } = measureDistance();
      const distance = Math.max(0, Math.round(distanceMm));
      if (!spurious) lastDistanceMm = distance;
      const temperature = temperatureAt(now);
      // lithium cells lose capacity in the cold
      const coldExtra = temperature < 5 ? (0.001 * (5 - temperature)) / 5 : 0;
      battery = Math.max(0, battery - BATTERY_DRAIN_PER_READING - coldExtra);
      const reading: TelemetryPayload = {
        distance_mm: distance,
        battery_pct: Math.round(battery * 10) / 10,
        temperature_c: Math.round(temperature * 10) / 10,
        tilt: faults.has('tilt'),
        ts: new Date(now).toISOString(),
      };
      return { reading, fillPct: fill, faults: active, collected, spuriousEcho: spurious };
    },
    startFault(kind, durationMs) {
      startFaultAt(kind, now, durationMs);
    },
    activeFaults() {
      return [...faults.keys()];
    },
    empty(simTimeMs) {
      advanceTo(simTimeMs);
      const had = fill;
      collect();
      return had;
    },
    fillRatePerHour,
  };
}

/** The bridge's conversion (SPEC): fill% = 100 * (depth - (distance - offset)) / depth. */
export function fillFromDistance(distanceMm: number, bin: Pick<ModelBin, 'depth_mm' | 'sensor_offset_mm'>): number {
  return (100 * (bin.depth_mm - (distanceMm - bin.sensor_offset_mm))) / bin.depth_mm;
}
