import type { DecisionWork, Decisions } from '../decisions.js';
import { RuleRunner, type AlertEvents, type AlertStore, type AppliedEvent, type RuleStateStore } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Emitter, Subscriber } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { BinRuleState } from '../rules/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import type { Lease, ReadingJournal } from '../storage/index.js';

/** The rules run on committed readings and on a timer (offline checks); alerts open and close. */
export interface AlertingRoom extends Room {
  /** the alerts for reads outside a transaction (the API, the metrics): SQLite's, or PostgreSQL's through the pool */
  alerts: AlertStore;
  rules: RuleRunner;
}

/** Started after the dispatcher and stopped before it: the offline checks make work for it, not the other way round. */
export function alertingRoom(deps: {
  config: Config;
  /** the stores decisions write together, one transaction each (SQLite or PostgreSQL) */
  decisions: DecisionWork;
  /** the lease timed work runs under: only its holder runs it when instances share a PostgreSQL store */
  lease: Pick<Lease, 'holds'>;
  registry: BinRegistry;
  zonesAndCrews: ZonesAndCrews;
  /** the rules engine's memory of each bin, shared: the rules write it, the dispatcher's planner reads it */
  ruleStates: RuleStateStore<BinRuleState>;
  journal: ReadingJournal;
  /** in the transaction where alerts open or close: the dispatcher's queue and jobs commit with them */
  onApplied?: (t: Decisions, applied: readonly AppliedEvent[]) => Promise<void>;
  events: Emitter<AlertEvents> & Subscriber<AlertEvents>;
  metrics: Pick<Metrics, 'readingsOutliers'>;
  log: Logger;
  clock: Clock;
}): AlertingRoom {
  const { config, decisions, lease, registry, zonesAndCrews, ruleStates, journal, events, metrics, log, clock } = deps;
  const rules = new RuleRunner({
    decisions,
    registry,
    states: ruleStates,
    config,
    zones: zonesAndCrews,
    events,
    lease,
    onApplied: deps.onApplied,
    log: log.child({ module: 'rules' }),
    clock,
  });
  if (decisions.shared) {
    // PostgreSQL: the rules run in the journal's group commit, under the bins' rule_state row locks
    if (!journal.inCommit) throw new Error('the rules on PostgreSQL need the PostgreSQL journal (store.url)');
    journal.inCommit(rules.inCommit);
  } else {
    journal.onCommitted((entries) => rules.onReadings(entries.map((e) => e.reading)));
  }
  events.on('alerts.applied', (applied) => {
    const outliers = applied.filter((e) => e.type === 'outlier').length;
    if (outliers > 0) metrics.readingsOutliers.inc(outliers);
  });
  // each call on the stores of the moment: on PostgreSQL the pool exists once the store room has started
  const alerts: AlertStore = {
    open: (a) => decisions.read.alerts.open(a),
    close: (binId, type, at) => decisions.read.alerts.close(binId, type, at),
    list: (f) => decisions.read.alerts.list(f),
    closeAllOf: (binId, at) => decisions.read.alerts.closeAllOf(binId, at),
    openCounts: () => decisions.read.alerts.openCounts(),
  };
  return {
    name: 'alerting',
    alerts,
    rules,
    async start() {
      await rules.load();
      rules.start();
    },
    stop: () => rules.stop(),
  };
}
