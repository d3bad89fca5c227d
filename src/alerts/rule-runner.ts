import { realClock, type Clock, type Timer } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Config, RulesConfig } from '../config/index.js';
import type { Emitter } from '../events.js';
import type { Logger } from '../log.js';
import type { BinRegistry } from '../registry/index.js';
import {
  evaluateReading,
  evaluateReport,
  evaluateSilence,
  initialRuleState,
  resolveRules,
  type BinEvent,
  type BinRuleState,
  type RuleReading,
} from '../rules/index.js';
import type { AlertStore } from './alert-store.js';
import type { RuleStateStore } from './rule-state-store.js';

/** An event after it was applied: whether it opened a new alert (only then does it call for a dispatch). */
export interface AppliedEvent extends BinEvent {
  zone: string;
  opened: boolean;
}

/**
 * What the rules runner tells the rest of the program (through the event bus): inside its transaction when alerts
 * open or close (the listeners' writes share its commit), else right after the evaluation.
 */
export interface AlertEvents {
  'alerts.applied': readonly AppliedEvent[];
}

/**
 * Runs the pure rules engine over committed readings and the offline timer, keeps each bin's rule state,
 * turns events into alerts (SQLite), and tells the rest of the program through the event bus (the dispatcher,
 * the residents' reports, the live page, the bin_event points).
 */
export class RuleRunner {
  private timer: Timer | null = null;
  private defaultRules: RulesConfig | undefined;
  private readonly byZone = new WeakMap<object, RulesConfig>();

  constructor(
    private readonly db: Database.Database,
    private readonly registry: BinRegistry,
    private readonly alerts: AlertStore,
    private readonly states: RuleStateStore<BinRuleState>,
    private readonly config: Pick<Config, 'rules'>,
    private readonly zones: { zone(id: string): Config['zones'][number] | undefined },
    private readonly events: Emitter<AlertEvents>,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {}

  /** The offline check runs on a timer: silence is the absence of readings. */
  start(intervalMs = 60_000): void {
    this.timer ??= this.clock
      .setInterval(() => {
        try {
          this.checkSilence();
        } catch (err) {
          this.log.error({ err }, 'offline check failed');
        }
      }, intervalMs)
      .unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  /** A bin's rules: the defaults with its zone's overrides (resolved once per zone as it is now, not per reading). */
  rulesFor(binId: string): RulesConfig {
    const bin = this.registry.get(binId);
    const zone = bin ? this.zones.zone(bin.zone) : undefined;
    if (!zone) return (this.defaultRules ??= Object.freeze(resolveRules(this.config.rules)));
    // the zones' store hands out a new object for a zone it changed, so a zone seen before has the same rules
    let rules = this.byZone.get(zone);
    if (!rules) {
      rules = Object.freeze(resolveRules(this.config.rules, zone.rules));
      this.byZone.set(zone, rules);
    }
    return rules;
  }

  /** The outliers the rules set aside for a bin: the newest one's time and how many in all (none: null). */
  outliersOf(binId: string): { lastAt: number; total: number } | null {
    const o = this.states.get(binId)?.outlier;
    return o?.lastAt ? { lastAt: o.lastAt, total: o.total } : null;
  }

  /** Committed readings, in commit order. */
  onReadings(readings: readonly RuleReading[]): void {
    this.run((apply) => {
      for (const r of readings) {
        const prev = this.states.get(r.binId) ?? initialRuleState();
        const { state, events } = evaluateReading(r, prev, this.rulesFor(r.binId));
        apply(r.binId, state, events);
      }
    });
  }

  /** A resident's report of a bin (the report flow calls this). */
  onReport(binId: string): AppliedEvent[] {
    return this.run((apply) => {
      const prev = this.states.get(binId) ?? initialRuleState();
      const { state, events } = evaluateReport(binId, prev, this.clock.now(), this.rulesFor(binId));
      apply(binId, state, events);
    });
  }

  checkSilence(now = this.clock.now()): AppliedEvent[] {
    return this.run((apply) => {
      for (const binId of this.states.binIds()) {
        const { state, events } = evaluateSilence(binId, this.states.get(binId)!, now, this.rulesFor(binId));
        // silence changes the state only when it raises an alert
        if (events.length > 0) apply(binId, state, events);
      }
    });
  }

  /**
   * Evaluates, then stores: the states of bins whose alerts open or close are written with those alerts in one
   * transaction (a dispatch follows from it); every other state is staged for the journal's next commit, so a
   * group of ordinary readings costs no transaction (and no fsync) of its own here.
   */
  private run(body: (apply: (binId: string, state: BinRuleState, events: BinEvent[]) => void) => void): AppliedEvent[] {
    const at = this.clock.now();
    const changed = new Map<string, BinRuleState>();
    const happened: { binId: string; events: BinEvent[] }[] = [];
    body((binId, state, events) => {
      changed.set(binId, state);
      this.states.remember(binId, state);
      if (events.length > 0) happened.push({ binId, events });
    });
    const applied: AppliedEvent[] = [];
    const alerting = new Set<string>();
    for (const { binId, events } of happened) if (events.some((e) => e.opens || (e.closes && e.closes.length > 0))) alerting.add(binId);
    const apply = (): void => {
      for (const { binId, events } of happened) {
        const bin = this.registry.get(binId);
        if (!bin) continue;
        for (const e of events) {
          const opened = e.opens ? this.alerts.open({ binId, zone: bin.zone, type: e.opens, at: e.ts, value: e.value, message: e.message, cause: e.cause, hoursToFull: e.hoursToFull }) : false;
          for (const t of e.closes ?? []) this.alerts.close(binId, t, e.ts);
          applied.push({ ...e, zone: bin.zone, opened });
        }
      }
    };
    if (alerting.size === 0) {
      apply();
      this.states.stage(changed, at);
      if (applied.length > 0) this.events.emit('alerts.applied', applied);
      return applied;
    }
    this.db.transaction(() => {
      apply();
      this.states.write(
        [...alerting].map((binId) => [binId, changed.get(binId)!] as [string, BinRuleState]),
        at,
      );
      // told inside the transaction: what its listeners write (the dispatcher's queue and jobs, collections) shares
      // its one commit instead of an fsync per statement; should the commit fail, their writes are undone with it
      this.events.emit('alerts.applied', applied);
    }).immediate();
    for (const binId of alerting) changed.delete(binId);
    this.states.stage(changed, at);
    return applied;
  }
}
