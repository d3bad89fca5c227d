import type { DecisionWork } from '../decisions.js';
import type { AlertEvents, RuleStateStore } from '../alerts/index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import { Dispatcher, SqliteDispatchStore, type DispatchEvents } from '../dispatch/index.js';
import type { Emitter, Subscriber } from '../events.js';
import type { Room } from '../lifecycle.js';
import type { BinRuleState } from '../rules/index.js';
import type { Logger } from '../log.js';
import type { ZonesAndCrews, BinRegistry } from '../registry/index.js';
import type { BinStateStore, Db, Lease } from '../storage/index.js';
import type { Outbox } from '../whatsapp/index.js';

/** The crews' jobs: alerts become jobs, jobs become WhatsApp messages, the crews' answers move them on. */
export interface DispatchRoom extends Room {
  dispatcher: Dispatcher;
}

export function dispatchRoom(deps: {
  config: Config;
  db: Db;
  /** the stores decisions write together, one transaction each (SQLite or PostgreSQL) */
  decisions: DecisionWork;
  /** the lease timed work runs under: only its holder runs it when instances share a PostgreSQL store */
  lease: Lease;
  registry: BinRegistry;
  binState: BinStateStore;
  zonesAndCrews: ZonesAndCrews;
  /** the rules engine's memory of each bin, shared: the rules write it, the dispatcher's planner reads it */
  ruleStates: RuleStateStore<BinRuleState>;
  outbox: Outbox;
  events: Subscriber<AlertEvents> & Emitter<DispatchEvents>;
  log: Logger;
  clock: Clock;
}): DispatchRoom {
  const { events, outbox } = deps;
  // the rules engine's memory of each bin (the store the rules write): the planner reads its fill-rate estimate
  const dispatcher = new Dispatcher({
    ...deps,
    // adapter until the dispatcher awaits `outbox.inWindow`: it chooses a job's message inside its synchronous SQLite transaction
    outbox: { enqueue: (item) => outbox.enqueue(item), inWindow: (waId, now) => outbox.inWindowNow(waId, now) },
    ruleState: (binId) => deps.ruleStates.get(binId),
    store: new SqliteDispatchStore(deps.db),
    log: deps.log.child({ module: 'dispatch' }),
  });
  events.on('alerts.applied', (applied) => dispatcher.onEvents(applied));
  outbox.onResult((r) => dispatcher.onOutboxResult(r));
  return {
    name: 'dispatch',
    dispatcher,
    start: () => dispatcher.start(),
    stop: () => dispatcher.stop(),
  };
}
