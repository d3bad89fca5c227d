import type { Bridge } from '../bridge.js';
import type { TargetStats } from '../stats.js';

/** What a target that talks to the bridge gets from the run. */
export interface NetworkTarget {
  bridge: Bridge;
  /** 'auth-devices' or 'auth-none' */
  phase: string;
  seed: number;
  stats: TargetStats;
  /** inputs to send in this phase */
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
