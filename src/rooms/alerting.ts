import type { DecisionWork } from '../decisions.js';
import { RuleRunner, SqliteAlertStore, type AlertEvents, type AlertStore, type RuleStateStore } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Emitter, Subscriber } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { BinRuleState } from '../rules/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import type { Db, Lease, ReadingJournal } from '../storage/index.js';

/** The rules run on committed readings and on a timer (offline checks); alerts open and close. */
export interface AlertingRoom extends Room {
  alerts: AlertStore;
  rules: RuleRunner;
}

/** Started after the dispatcher and stopped before it: the offline checks make work for it, not the other way round. */
export function alertingRoom(deps: {
  config: Config;
  db: Db;
  /** the stores decisions write together, one transaction each (SQLite or PostgreSQL) */
  decisions: DecisionWork;
  /** the lease timed work runs under: only its holder runs it when instances share a PostgreSQL store */
  lease: Lease;
  registry: BinRegistry;
  zonesAndCrews: ZonesAndCrews;
  /** the rules engine's memory of each bin, shared: the rules write it, the dispatcher's planner reads it */
  ruleStates: RuleStateStore<BinRuleState>;
  journal: ReadingJournal;
  events: Emitter<AlertEvents> & Subscriber<AlertEvents>;
  metrics: Pick<Metrics, 'readingsOutliers'>;
  log: Logger;
  clock: Clock;
}): AlertingRoom {
  const { config, db, registry, zonesAndCrews, ruleStates, journal, events, metrics, log, clock } = deps;
  const alerts = new SqliteAlertStore(db);
  const rules = new RuleRunner(db, registry, alerts, ruleStates, config, zonesAndCrews, events, log.child({ module: 'rules' }), clock);
  journal.onCommitted((entries) => rules.onReadings(entries.map((e) => e.reading)));
  events.on('alerts.applied', (applied) => {
    const outliers = applied.filter((e) => e.type === 'outlier').length;
    if (outliers > 0) metrics.readingsOutliers.inc(outliers);
  });
  return {
    name: 'alerting',
    alerts,
    rules,
    start: () => rules.start(),
    stop: () => rules.stop(),
  };
}
