import { realClock, type Clock, type Timer } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Registry } from '../registry/index.js';
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
import { toLine } from '../storage/index.js';
import type { AlertStore } from './alert-store.js';
import { RuleStateStore } from './rule-state-store.js';

/** An event after it was applied: whether it opened a new alert (only then does it call for a dispatch). */
export interface AppliedEvent extends BinEvent {
  zone: string;
  opened: boolean;
}

/**
 * Runs the pure rules engine over committed readings and the offline timer, keeps each bin's rule state,
 * turns events into alerts (SQLite) and bin_event points (InfluxDB), and tells its listeners (the dispatcher).
 */
export class RuleRunner {
  private readonly states: RuleStateStore<BinRuleState>;
  private readonly listeners: ((events: AppliedEvent[]) => void)[] = [];
  private timer: Timer | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly registry: Registry,
    private readonly alerts: AlertStore,
    private readonly config: Pick<Config, 'rules'>,
    private readonly zones: { zone(id: string): Config['zones'][number] | undefined },
    private readonly recordPoints: (lines: string[]) => void,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {
    this.states = new RuleStateStore(db);
  }

  onEvents(listener: (events: AppliedEvent[]) => void): void {
    this.listeners.push(listener);
  }

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

  rulesFor(binId: string) {
    const bin = this.registry.get(binId);
    const zone = bin ? this.zones.zone(bin.zone) : undefined;
    return resolveRules(this.config.rules, zone?.rules);
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

  private run(body: (apply: (binId: string, state: BinRuleState, events: BinEvent[]) => void) => void): AppliedEvent[] {
    const applied: AppliedEvent[] = [];
    const lines: string[] = [];
    const at = this.clock.now();
    const changed = new Map<string, BinRuleState>();
    this.db.transaction(() => {
      body((binId, state, events) => {
        // the newest state of each bin is written once per batch
        changed.set(binId, state);
        this.states.remember(binId, state);
        const bin = this.registry.get(binId);
        if (!bin) return;
        for (const e of events) {
          const opened = e.opens ? this.alerts.open({ binId, zone: bin.zone, type: e.opens, at: e.ts, value: e.value, message: e.message, cause: e.cause }) : false;
          for (const t of e.closes ?? []) this.alerts.close(binId, t, e.ts);
          applied.push({ ...e, zone: bin.zone, opened });
          lines.push(toLine('bin_event', { bin_id: binId, zone: bin.zone, type: e.type }, { value: e.value, message: e.message }, e.ts));
        }
      });
      for (const [binId, state] of changed) this.states.put(binId, state, at);
    })();
    if (lines.length > 0) this.recordPoints(lines);
    if (applied.length > 0) {
      for (const l of this.listeners) {
        try {
          l(applied);
        } catch (err) {
          this.log.error({ err }, 'rule event listener failed');
        }
      }
    }
    return applied;
  }
}
