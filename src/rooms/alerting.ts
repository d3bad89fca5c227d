import { RuleRunner, SqliteAlertStore, SqliteRuleStateStore, type AlertEvents, type AlertStore } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Emitter } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import type { Db, ReadingJournal } from '../storage/index.js';

/** The rules run on committed readings and on a timer (offline checks); alerts open and close. */
export interface AlertingRoom extends Room {
  alerts: AlertStore;
  rules: RuleRunner;
}

/** Started after the dispatcher and stopped before it: the offline checks make work for it, not the other way round. */
export function alertingRoom(deps: {
  config: Config;
  db: Db;
  registry: BinRegistry;
  zonesAndCrews: ZonesAndCrews;
  journal: ReadingJournal;
  events: Emitter<AlertEvents>;
  log: Logger;
  clock: Clock;
}): AlertingRoom {
  const { config, db, registry, zonesAndCrews, journal, events, log, clock } = deps;
  const alerts = new SqliteAlertStore(db);
  const rules = new RuleRunner(db, registry, alerts, new SqliteRuleStateStore(db), config, zonesAndCrews, events, log.child({ module: 'rules' }), clock);
  journal.onCommitted((entries) => rules.onReadings(entries.map((e) => e.reading)));
  return {
    name: 'alerting',
    alerts,
    rules,
    start: () => rules.start(),
    stop: () => rules.stop(),
  };
}
