// The city twin: both strategies on the same city, seed, crews and faults, and the scorecard (issue 10).
import { loadCity, type City } from './city.js';
import { planFaults, type InjectedFault } from './faults.js';
import { runStrategy, SLOT_MS, type Strategy, type StrategyRun } from './run.js';
import { scoreFaults, type Scorecard } from './scorecard.js';

export interface TwinOptions {
  binsFile: string;
  configFile?: string;
  days: number;
  seed: number;
  strategies: readonly Strategy[];
  progress?: (line: string) => void;
}

export interface TwinResult {
  scorecard: Scorecard;
  city: City;
  faults: InjectedFault[];
  runs: StrategyRun[];
}

/** The bins the report follows: one of each injected fault's kind, the fastest-filling bin and a middling one. */
function pickTraceBins(city: City, faults: readonly InjectedFault[]): string[] {
  const picked: string[] = [];
  for (const kind of ['fire', 'stuck'] as const) {
    const f = faults.find((x) => x.kind === kind && !picked.includes(x.binId));
    if (f) picked.push(f.binId);
  }
  const plain = city.bins.map((b) => b.id).filter((id) => !faults.some((f) => f.binId === id));
  if (plain[0]) picked.push(plain[0]);
  const middle = plain[Math.floor(plain.length / 2)];
  if (middle && !picked.includes(middle)) picked.push(middle);
  return picked;
}

export async function runTwin(opts: TwinOptions): Promise<TwinResult> {
  const wall0 = performance.now();
  const progress = opts.progress ?? (() => undefined);
  const city = loadCity(opts.binsFile, opts.configFile);
  const faults = planFaults(
    city.bins.map((b) => b.id),
    { startMs: city.startMs, days: opts.days, seed: opts.seed, slotMs: SLOT_MS, offlineAfterMs: city.config.rules.offline_after_s * 1000 },
  );
  const traceBins = pickTraceBins(city, faults);
  progress(`city: ${city.bins.length} bins in ${city.depots.size} zones, ${city.crews.length} crews, ${faults.length} faults to inject; ${opts.days} days, seed ${opts.seed}`);
  const runs: StrategyRun[] = [];
  for (const strategy of opts.strategies) {
    runs.push(await runStrategy({ city, strategy, days: opts.days, seed: opts.seed, faults, traceBins, progress }));
  }
  // faults are binbridge's to find: from its run when there is one
  const finder = runs.find((r) => r.strategy === 'binbridge') ?? runs[0]!;
  const scorecard: Scorecard = {
    bins: city.bins.length,
    days: opts.days,
    seed: opts.seed,
    wall_s: Math.round((performance.now() - wall0) / 100) / 10,
    strategies: Object.fromEntries(runs.map((r) => [r.strategy, r.score])),
    faults: scoreFaults(faults, finder.alerts),
  };
  return { scorecard, city, faults, runs };
}
