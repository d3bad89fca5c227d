import { realClock, type Clock, type Timer } from '../clock.js';
import type { Config, RulesConfig } from '../config/index.js';
import type { DecisionWork, Decisions } from '../decisions.js';
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
import type { CommitHook, Lease } from '../storage/index.js';
import type { RuleStateStore } from './rule-state-store.js';

/** An event after it was applied: whether it opened a new alert (only then does it call for a dispatch). */
export interface AppliedEvent extends BinEvent {
  zone: string;
  opened: boolean;
}

/**
 * What the rules runner tells the rest of the program through the event bus, after the commit that applied the
 * events (observers: the live page, metrics, the residents' flow, InfluxDB points). What must share that commit
 * (the dispatcher's queue and jobs) is the `onApplied` dep instead.
 */
export interface AlertEvents {
  'alerts.applied': readonly AppliedEvent[];
}

export interface RuleRunnerDeps {
  /** the stores decisions write together: alerts, rule state rows, and whatever `onApplied` writes */
  decisions: Pick<DecisionWork, 'tx' | 'read' | 'on' | 'shared'>;
  registry: BinRegistry;
  /** the rules' memory of each bin: the truth on SQLite, a hint loaded and kept up to date on PostgreSQL */
  states: RuleStateStore<BinRuleState>;
  config: Pick<Config, 'rules'>;
  zones: { zone(id: string): Config['zones'][number] | undefined };
  events: Emitter<AlertEvents>;
  /** the offline check runs only while this instance holds it (always, on SQLite) */
  lease?: Pick<Lease, 'holds'> | undefined;
  /** inside the transaction in which alerts open or close (or a bin is collected): the dispatcher's writes join it */
  onApplied?: ((t: Decisions, applied: readonly AppliedEvent[]) => Promise<void>) | undefined;
  log: Logger;
  clock?: Clock | undefined;
}

/** An event the rest must act on in the same transaction: an alert opens or closes, or a bin was emptied. */
const decisive = (e: BinEvent): boolean => e.opens !== undefined || (e.closes !== undefined && e.closes.length > 0) || e.type === 'collected';

const parsed = (json: string | null | undefined): BinRuleState => (json ? (JSON.parse(json) as BinRuleState) : initialRuleState());

/**
 * Runs the pure rules engine over committed readings, residents' reports and the offline timer, keeps each bin's
 * rule state, turns events into alerts, and tells the rest of the program (`onApplied` in the transaction, the bus
 * after it).
 *
 * On SQLite the cache is the truth (one process): ordinary readings are evaluated as they commit and their states
 * staged for the journal's commits; only bins whose alerts open or close get a transaction (`decisions.tx`).
 * On PostgreSQL the `rule_state` row is the truth every instance shares: the rules run inside the journal's group
 * commit (`inCommit`), lock the group's bins' rows in bin order, evaluate from them and write them back, so a
 * reading is acknowledged only once its rules are applied and a bin's next reading, wherever it arrives, is judged
 * after it.
 */
export class RuleRunner {
  private timer: Timer | null = null;
  private checking = false;
  /** SQLite: the last transaction the readings' rules began, until it settles (the bus hears groups in order) */
  private lastTx: Promise<void> | null = null;
  private defaultRules: RulesConfig | undefined;
  private readonly byZone = new WeakMap<object, RulesConfig>();
  private readonly clock: Clock;

  constructor(private readonly deps: RuleRunnerDeps) {
    this.clock = deps.clock ?? realClock;
  }

  /** The offline check runs on a timer (silence is the absence of readings), on the lease's holder only. */
  start(intervalMs = 60_000): void {
    this.timer ??= this.clock
      .setInterval(() => {
        if (this.checking || !this.holdsLease()) return;
        this.checking = true;
        this.checkSilence()
          .catch((err: unknown) => this.deps.log.error({ err }, 'offline check failed'))
          .finally(() => (this.checking = false));
      }, intervalMs)
      .unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  /** PostgreSQL: loads the rule states every instance wrote into the cache (a hint for the planner and the API). */
  async load(): Promise<void> {
    if (!this.deps.decisions.shared) return;
    for (const row of await this.deps.decisions.read.ruleStates.all()) this.deps.states.remember(row.bin_id, parsed(row.state));
  }

  /** A bin's rules: the defaults with its zone's overrides (resolved once per zone as it is now, not per reading). */
  rulesFor(binId: string): RulesConfig {
    const bin = this.deps.registry.get(binId);
    const zone = bin ? this.deps.zones.zone(bin.zone) : undefined;
    if (!zone) return (this.defaultRules ??= Object.freeze(resolveRules(this.deps.config.rules)));
    // the zones' store hands out a new object for a zone it changed, so a zone seen before has the same rules
    let rules = this.byZone.get(zone);
    if (!rules) {
      rules = Object.freeze(resolveRules(this.deps.config.rules, zone.rules));
      this.byZone.set(zone, rules);
    }
    return rules;
  }

  /** The outliers the rules set aside for a bin: the newest one's time and how many in all (none: null). */
  outliersOf(binId: string): { lastAt: number; total: number } | null {
    const o = this.deps.states.get(binId)?.outlier;
    return o?.lastAt ? { lastAt: o.lastAt, total: o.total } : null;
  }

  /** The hook the PostgreSQL journal runs in each group's transaction. */
  readonly inCommit: CommitHook = async (client, entries, afterCommit) => {
    await this.applyReadings(
      this.deps.decisions.on(client, afterCommit),
      entries.map((e) => e.reading),
    );
  };

  /**
   * Committed readings, in commit order (SQLite: the journal's listener). Evaluated now, from the cache; resolves
   * once the alerts they open or close are committed (nothing to wait for when they open or close none).
   */
  onReadings(readings: readonly RuleReading[]): Promise<unknown> | undefined {
    if (this.deps.decisions.shared) return this.deps.decisions.tx((t) => this.applyReadings(t, readings)).then(() => undefined);
    const changed = new Map<string, BinRuleState>();
    const happened: { binId: string; events: BinEvent[] }[] = [];
    for (const r of readings) {
      const prev = this.deps.states.get(r.binId) ?? initialRuleState();
      const { state, events } = evaluateReading(r, prev, this.rulesFor(r.binId));
      changed.set(r.binId, state);
      this.deps.states.remember(r.binId, state);
      if (events.length > 0) happened.push({ binId: r.binId, events });
    }
    return this.settleLocal(changed, happened, this.clock.now());
  }

  /**
   * A resident's report of a bin, in the caller's transaction (the report and its consequences commit together).
   * On PostgreSQL under the bin's rule_state row lock.
   */
  async onReport(t: Decisions, binId: string): Promise<AppliedEvent[]> {
    const now = this.clock.now();
    if (this.deps.decisions.shared) {
      const stored = await t.ruleStates.lock([binId], now);
      const { state, events } = evaluateReport(binId, parsed(stored.get(binId)), now, this.rulesFor(binId));
      await t.ruleStates.write([{ binId, state: JSON.stringify(state), at: now }]);
      t.afterCommit(() => this.deps.states.remember(binId, state));
      return this.decide(t, [{ binId, events }]);
    }
    const { state, events } = evaluateReport(binId, this.deps.states.get(binId) ?? initialRuleState(), now, this.rulesFor(binId));
    this.deps.states.remember(binId, state);
    this.deps.states.write([[binId, state]], now);
    return this.decide(t, [{ binId, events }]);
  }

  /** A resident's report for a caller without a transaction of its own: one of its own. */
  report(binId: string): Promise<AppliedEvent[]> {
    return this.deps.decisions.tx((t) => this.onReport(t, binId));
  }

  /**
   * The offline check: bins silent for longer than their rules allow raise `offline`. Runs only while this
   * instance holds the lease. On PostgreSQL it looks at every instance's states, and re-judges the bins it would
   * change under their row locks (a reading may have come in meanwhile).
   */
  async checkSilence(now = this.clock.now()): Promise<AppliedEvent[]> {
    if (!this.holdsLease()) return [];
    if (!this.deps.decisions.shared) {
      const changed = new Map<string, BinRuleState>();
      const happened: { binId: string; events: BinEvent[] }[] = [];
      for (const binId of this.deps.states.binIds()) {
        const { state, events } = evaluateSilence(binId, this.deps.states.get(binId)!, now, this.rulesFor(binId));
        // silence changes the state only when it raises an alert
        if (events.length === 0) continue;
        changed.set(binId, state);
        this.deps.states.remember(binId, state);
        happened.push({ binId, events });
      }
      return (await this.settleLocal(changed, happened, now)) ?? [];
    }
    const due: string[] = [];
    for (const row of await this.deps.decisions.read.ruleStates.all()) {
      const state = parsed(row.state);
      this.deps.states.remember(row.bin_id, state);
      if (evaluateSilence(row.bin_id, state, now, this.rulesFor(row.bin_id)).events.length > 0) due.push(row.bin_id);
    }
    if (due.length === 0) return [];
    return this.deps.decisions.tx(async (t) => {
      const stored = await t.ruleStates.lock(due, now);
      const writes: { binId: string; state: BinRuleState }[] = [];
      const happened: { binId: string; events: BinEvent[] }[] = [];
      for (const [binId, json] of stored) {
        if (json === null) continue;
        const { state, events } = evaluateSilence(binId, parsed(json), now, this.rulesFor(binId));
        if (events.length === 0) continue;
        writes.push({ binId, state });
        happened.push({ binId, events });
      }
      await t.ruleStates.write(writes.map((w) => ({ binId: w.binId, state: JSON.stringify(w.state), at: now })));
      t.afterCommit(() => {
        for (const w of writes) this.deps.states.remember(w.binId, w.state);
      });
      return this.decide(t, happened);
    });
  }

  private holdsLease(): boolean {
    return this.deps.lease?.holds() ?? true;
  }

  /**
   * PostgreSQL: readings in the transaction `t` (the journal's group commit): the bins' rows locked in bin order,
   * each reading judged from what its bin's row holds, in the group's order, the rows written back.
   */
  private async applyReadings(t: Decisions, readings: readonly RuleReading[]): Promise<AppliedEvent[]> {
    if (readings.length === 0) return [];
    const now = this.clock.now();
    const stored = await t.ruleStates.lock(
      readings.map((r) => r.binId),
      now,
    );
    const states = new Map<string, BinRuleState>();
    const happened: { binId: string; events: BinEvent[] }[] = [];
    for (const r of readings) {
      const prev = states.get(r.binId) ?? parsed(stored.get(r.binId));
      try {
        const { state, events } = evaluateReading(r, prev, this.rulesFor(r.binId));
        states.set(r.binId, state);
        if (events.length > 0) happened.push({ binId: r.binId, events });
      } catch (err) {
        // a rule that throws on one reading must not keep the group from committing (the devices would resend it for ever)
        this.deps.log.error({ err, bin: r.binId }, 'rules failed on a reading; its state stays as it was');
      }
    }
    await t.ruleStates.write([...states].map(([binId, state]) => ({ binId, state: JSON.stringify(state), at: now })));
    t.afterCommit(() => {
      for (const [binId, state] of states) this.deps.states.remember(binId, state);
    });
    return this.decide(t, happened);
  }

  /**
   * SQLite, after evaluating from the cache: states of bins with nothing decisive are staged for the journal's
   * commits (no transaction, no fsync of their own; StagedRuleStates); the others' alerts, states and `onApplied` go in one
   * `decisions.tx`. Without anything decisive, the bus hears of the events at once.
   */
  private settleLocal(changed: Map<string, BinRuleState>, happened: { binId: string; events: BinEvent[] }[], at: number): Promise<AppliedEvent[]> | undefined {
    const deciding = new Set<string>();
    for (const { binId, events } of happened) if (events.some(decisive)) deciding.add(binId);
    if (deciding.size === 0) {
      this.deps.states.stage(changed, at);
      if (happened.length === 0) return undefined;
      const applied = this.appliedOf(happened);
      if (applied.length === 0) return undefined;
      const emit = (): void => this.deps.events.emit('alerts.applied', applied);
      // after an earlier group's transaction has told the bus of its events, not before
      if (this.lastTx) return this.track(this.lastTx.then(emit)).then(() => applied);
      emit();
      return undefined;
    }
    for (const binId of deciding) changed.delete(binId);
    this.deps.states.stage(changed, at);
    return this.track(this.deps.decisions.tx(async (t) => {
      // the cache's state as it is when this commits: a group evaluated after this one (the journal's listeners
      // run group after group before this transaction's turn) already holds the newer state, which must win
      this.deps.states.write(
        [...deciding].map((binId) => [binId, this.deps.states.get(binId)!] as [string, BinRuleState]),
        at,
      );
      return this.decide(t, happened);
    }));
  }

  /** Remembers the newest of the readings' transactions until it settles (its failure is the caller's to report). */
  private track<R>(work: Promise<R>): Promise<R> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.lastTx = settled;
    void settled.then(() => {
      if (this.lastTx === settled) this.lastTx = null;
    });
    return work;
  }

  /** Opens and closes the events' alerts in `t`, hands them to `onApplied` there, and to the bus after the commit. */
  private async decide(t: Decisions, happened: readonly { binId: string; events: BinEvent[] }[]): Promise<AppliedEvent[]> {
    const applied: AppliedEvent[] = [];
    for (const { binId, events } of happened) {
      const bin = this.deps.registry.get(binId);
      if (!bin) continue;
      for (const e of events) {
        const opened = e.opens
          ? await t.alerts.open({ binId, zone: bin.zone, type: e.opens, at: e.ts, value: e.value, message: e.message, cause: e.cause, hoursToFull: e.hoursToFull })
          : false;
        for (const type of e.closes ?? []) await t.alerts.close(binId, type, e.ts);
        applied.push({ ...e, zone: bin.zone, opened });
      }
    }
    if (applied.length === 0) return applied;
    if (this.deps.onApplied && applied.some(decisive)) await this.deps.onApplied(t, applied);
    t.afterCommit(() => this.deps.events.emit('alerts.applied', applied));
    return applied;
  }

  /** Events that open nothing, as applied. */
  private appliedOf(happened: readonly { binId: string; events: BinEvent[] }[]): AppliedEvent[] {
    const applied: AppliedEvent[] = [];
    for (const { binId, events } of happened) {
      const bin = this.deps.registry.get(binId);
      if (bin) for (const e of events) applied.push({ ...e, zone: bin.zone, opened: false });
    }
    return applied;
  }
}
