import type { Bridge } from '../bridge.js';
import type { TargetStats } from '../stats.js';

/** What a target that talks to the bridge gets from the run. */
export interface NetworkTarget {
  bridge: Bridge;
  /** 'auth-devices' or 'auth-none' */
  phase: string;
  seed: number;
  stats: TargetStats;
  /** the first input's index (a replay sends just one: first = i, budget = i + 1) */
  first: number;
  /** inputs to send in this phase: indexes first..budget-1 */
  budget: number;
  /** Date.now() after which no new input is sent */
  deadline: number;
  concurrency: number;
  /** the example city's bins (and ones the HTTP target added) */
  knownBins: Set<string>;
  /** the registry as the bridge has it now */
  registeredBins: () => Promise<Set<string>>;
  /** hands a /metrics text to the monitor (a scrape resets the event-loop histogram) */
  observeMetrics: (text: string) => void;
  /** the inbox's backlog, for pacing webhook deliveries */
  inboxPending: () => number;
}
