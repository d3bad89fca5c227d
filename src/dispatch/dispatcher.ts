import { realClock, type Clock, type Timer } from '../clock.js';
import type { AppliedEvent } from '../alerts/index.js';
import type { Config } from '../config/index.js';
import type { Decisions } from '../decisions.js';
import type { Logger } from '../log.js';
import type { Bin, BinRegistry } from '../registry/index.js';
import type { Emitter } from '../events.js';
import { forecast, type BinRuleState } from '../rules/index.js';
import type { BinStateStore, Lease } from '../storage/index.js';
import { SEND_PRIORITY, buttonsMessage, templateMessage, textMessage, type InboundMessage, type OutboundMessage } from '../whatsapp/index.js';
import { planJobs } from './batcher.js';
import { crewCatalog, crewIntent, templateParams, type JobText } from './crew-messages.js';
import { OPEN_STATUSES, stopOf, type Dispatch, type DispatchStatus, type DispatchStore } from './dispatch-store.js';
import { emptyProfile, hourWeights, learnHour, type FillProfile } from './fill-profile.js';
import { planningRate, type Emptied } from './fill-rate.js';
import { cannotWait, hoursUntil, nearAny, planRound, rideAlong, roundMinutes, roundTimes, type PlanBin, type Rhythm, type StopWhy } from './planner.js';
import { mapLink, routeOrder } from './route.js';
import { crewsOnShift, localMinutes } from './shift.js';

type Crew = Config['crews'][number];
const HOUR_MS = 3_600_000;
/** the reach time is the median over this many latest round jobs of a zone */
const REACH_SAMPLES = 20;
/** the cause of a request that no alert made */
const REPORT = 'report';

/** What the dispatcher needs of the WhatsApp outbox besides adding messages (which it does in `t.outbox`). */
export interface DispatchOutbox {
  /** whether a free-form message may reach the user now (the contacts' store: sync on SQLite, async on PostgreSQL) */
  inWindow(waId: string, now: number): boolean | Promise<boolean>;
}

/** The unit of work the dispatcher decides in (DecisionWork): one transaction per decision, and reads outside one. */
export interface DispatchWork {
  tx<R>(work: (t: Decisions) => Promise<R>): Promise<R>;
  readonly read: Decisions;
}

/** What the dispatcher tells the rest of the program (through the event bus). */
export interface DispatchEvents {
  'job.changed': { job: Dispatch; status: DispatchStatus; at: number };
}

export interface OutboxResult {
  ref?: string | null | undefined;
  key: string;
  status: 'sent' | 'failed';
  error?: { code?: number | string | undefined; message?: string | undefined } | undefined;
}

export interface DispatcherDeps {
  /** the jobs, the queue and their messages: each decision one transaction (SQLite, or PostgreSQL shared by instances) */
  decisions: DispatchWork;
  /** batching, rounds, escalation and jobs waiting for a crew run only while this instance holds it */
  lease: Pick<Lease, 'holds'>;
  registry: BinRegistry;
  binState: BinStateStore;
  outbox: DispatchOutbox;
  /** zones and crews as they are now (the admin API edits them) */
  zonesAndCrews: { zones(): readonly Config['zones'][number][]; crews(): readonly Crew[] };
  config: Pick<Config, 'dispatch' | 'timezone'> & { rules: Pick<Config['rules'], 'full_pct'> } & { whatsapp: { templates: Pick<Config['whatsapp']['templates'], 'dispatch'> } };
  /** told of every job status change (the residents' reports, the live page, the `dispatch` points) */
  events: Emitter<DispatchEvents>;
  log: Logger;
  clock?: Clock;
  /** the rules engine's memory of a bin, for its fill-rate estimate */
  ruleState?: (binId: string) => BinRuleState | undefined;
}

/**
 * Turns alerts into jobs for the crews: batches the bins of one zone within the batch window into one job in
 * route order, sends it to the zone's on-shift crew (fire at once, unbatched), never sends a bin that is in an
 * open job, escalates to the supervisor when nobody accepts, follows the crew's Accept / Done, and closes jobs
 * when the sensors see the bins emptied. Every decision and the message it causes commit in one transaction
 * (`decisions.tx`, `t.outbox.add`).
 *
 * Instances sharing a PostgreSQL store: requests, collections and the crews' answers are decided where they arrive
 * (a job's row lock orders them); the timed work — batching the queue, rounds, escalation, jobs waiting for a crew —
 * runs only at the lease holder, whose tick picks up what any instance queued. What this class keeps in memory (when
 * bins were emptied, the fill rhythm, reach delays, the last round) is this instance's, as after a restart.
 */
export class Dispatcher {
  private readonly clock: Clock;
  private timer: Timer | null = null;
  /** the ticks in order: the one running (or done), and one waiting behind it that later calls join */
  private tail: Promise<void> = Promise.resolve();
  private waiting: { now: number | undefined; done: Promise<void> } | null = null;
  private running = false;
  /** when each bin was last seen emptied, for its planning rate (a restart forgets: the rules' estimate stands in) */
  private readonly emptied = new Map<string, Emptied>();
  /** the round planned last; a start plans no round of its own, it waits for the next */
  private lastRound: number | null = null;
  /** the city's fill rhythm over the day, learned from an hourly look at every bin's fill */
  private profile: FillProfile = emptyProfile();
  private lastLook: { hour: number; fills: Map<string, number> } | null = null;
  /** per zone, how long after their planning the latest round jobs' crews typically reached a bin (ms) */
  private readonly reachDelays = new Map<string, number[]>();

  constructor(private readonly deps: DispatcherDeps) {
    this.clock = deps.clock ?? realClock;
  }

  /** The jobs and the queue for reads outside a transaction (the API, the metrics). */
  get store(): DispatchStore {
    return this.deps.decisions.read.dispatch;
  }

  start(intervalMs = 1000): void {
    this.timer ??= this.clock.setInterval(() => this.scheduleTick(), intervalMs).unref();
  }

  /** Stops the timer and waits for a tick under way. */
  async stop(): Promise<void> {
    this.timer?.clear();
    this.timer = null;
    await this.tail;
  }

  /** Whether a tick runs or waits to (a simulation holds its clock still meanwhile). */
  get ticking(): boolean {
    return this.running || this.waiting !== null;
  }

  /** Resolves once the ticks asked for so far have run (tests, and a stop). */
  settled(): Promise<void> {
    return this.tail;
  }

  /** Alerts and collections from the rules engine, in the rules' transaction. */
  async onEvents(t: Decisions, events: readonly AppliedEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'collected') {
        const emptied = { at: e.ts, fillPct: e.value ?? 0 };
        t.afterCommit(() => this.emptied.set(e.binId, emptied));
        await this.onCollected(t, e.binId);
      } else if (e.opened && e.opens === 'fire') await this.request(t, e.binId, true, e.message, 'fire');
      else if (e.opened && e.opens === 'full') await this.request(t, e.binId, false, e.message, e.cause ?? 'threshold');
    }
  }

  /**
   * Asks for a bin to be collected, in the caller's transaction; true when it should go out now (urgent, or no batch
   * window), and then the tick is asked for once the transaction has committed. `cause` is the alert's; without one
   * the request is a person's (a resident's report), and a person who saw the bin full is not made to wait for the
   * next round. At an instance that does not hold the lease, the holder's next tick (within a second) batches it.
   */
  async request(t: Decisions, binId: string, urgent: boolean, reason: string, cause: string | null = REPORT): Promise<boolean> {
    if (!this.deps.config.dispatch.enabled) return false;
    const bin = this.deps.registry.get(binId);
    if (!bin) return false;
    if (await t.dispatch.inOpenJob(binId)) return false;
    await t.dispatch.enqueue(binId, bin.zone, this.clock.now(), urgent, reason, cause);
    const due = urgent || this.deps.config.dispatch.batch_window_s === 0;
    if (due) t.afterCommit(() => this.scheduleTick());
    return due;
  }

  /** A tick from the timer or after a commit: nobody awaits it, so its failure is logged here. */
  private scheduleTick(): void {
    this.tick().catch((err: unknown) => this.deps.log.error({ err }, 'dispatch tick failed'));
  }

  /** What the planner knows of a bin now: where, how big, how full, how fast it fills. */
  private planBin(bin: Bin, now: number, queued?: { cause?: string | undefined }): PlanBin {
    const fillPct = this.deps.binState.get(bin.id)?.fill_pct ?? null;
    const state = this.deps.ruleState?.(bin.id);
    const rulesRate = state ? forecast(state, { ...(this.deps.config.rules as Config['rules']) }).ratePctPerH : null;
    const ratePctPerH = planningRate({ emptied: this.emptied.get(bin.id), fillPct, now, rulesRate, rhythm: this.rhythm(now) });
    return { id: bin.id, lat: bin.lat, lon: bin.lon, capacityL: bin.capacity_l, fillPct, ratePctPerH, ...(queued ? { queued } : {}) };
  }

  /** The rhythm the planner reads rates against: the learned hour weights at the city's offset now. */
  rhythm(now: number): Rhythm {
    const utcMinute = Math.floor((((now % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
    let offset = localMinutes(now, this.deps.config.timezone) - utcMinute;
    if (offset > 720) offset -= 1440;
    if (offset < -720) offset += 1440;
    if (this.rhythmCache?.at === Math.floor(now / HOUR_MS)) return this.rhythmCache.rhythm;
    const rhythm = { weights: hourWeights(this.profile), utcOffsetMin: offset };
    this.rhythmCache = { at: Math.floor(now / HOUR_MS), rhythm };
    return rhythm;
  }

  private rhythmCache: { at: number; rhythm: Rhythm } | null = null;

  /** Once an hour: every bin's fill now against an hour ago teaches the profile that hour's share of the day. */
  private lookHourly(now: number): void {
    const utcMinute = Math.floor((((now % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
    const offsetMin = ((localMinutes(now, this.deps.config.timezone) - utcMinute + 720 + 1440) % 1440) - 720;
    const hour = Math.floor((now + offsetMin * 60_000) / HOUR_MS);
    if (this.lastLook?.hour === hour) return;
    const fills = new Map<string, number>();
    for (const bin of this.deps.registry.all()) {
      const f = this.deps.binState.get(bin.id)?.fill_pct;
      if (f !== null && f !== undefined) fills.set(bin.id, f);
    }
    if (this.lastLook?.hour === hour - 1) {
      this.profile = learnHour(this.profile, (((hour - 1) % 24) + 24) % 24, this.lastLook.fills, fills);
      this.rhythmCache = null;
    }
    this.lastLook = { hour, fills };
  }

  /** The typical delay from a round's planning to its crew's lift in the zone: the median of its latest jobs'. */
  reachMs(zone: string): number {
    const d = this.reachDelays.get(zone);
    if (!d || d.length === 0) return 0;
    const s = [...d].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  }

  /** One job per zone for the round: its queued bins, the bins forecast full before the next round, and ride-alongs. */
  private async planRounds(now: number, next: number, after: number): Promise<{ zone: string; stops: StopWhy[] }[]> {
    const { dispatch, rules } = this.deps.config;
    const queued = new Map((await this.store.queue()).filter((q) => !q.urgent).map((q) => [q.binId, q]));
    const byZone = new Map<string, PlanBin[]>();
    const inOpenJob = await this.store.openJobBins();
    for (const bin of this.deps.registry.all()) {
      if (inOpenJob.has(bin.id)) continue;
      const q = queued.get(bin.id);
      const list = byZone.get(bin.zone) ?? [];
      list.push(this.planBin(bin, now, q ? { cause: q.cause ?? undefined } : undefined));
      byZone.set(bin.zone, list);
    }
    const jobs: { zone: string; stops: StopWhy[] }[] = [];
    for (const [zone, bins] of byZone) {
      const stops = planRound({
        now,
        nextRoundAt: next,
        roundAfterAt: after,
        reachMs: this.reachMs(zone),
        rhythm: this.rhythm(now),
        fullPct: rules.full_pct,
        truckL: dispatch.truck_l,
        rideAlongKm: dispatch.ride_along_m / 1000,
        bins,
      });
      if (stops.length > 0) jobs.push({ zone, stops });
    }
    return jobs;
  }

  /** Bins near a job's due bins that will be full before the next round ride along, while the truck has room. */
  private async withRideAlong(zone: string, binIds: readonly string[], now: number, next: number): Promise<StopWhy[]> {
    const { dispatch, rules } = this.deps.config;
    const queued = new Map((await this.store.queue()).map((q) => [q.binId, q]));
    const due = new Set(binIds);
    const inZone = this.deps.registry.all().filter((b) => b.zone === zone);
    const dueBins = inZone.filter((b) => due.has(b.id)).map((b) => this.planBin(b, now));
    const candidates: { bin: PlanBin; hours: number }[] = [];
    const inOpenJob = await this.store.openJobBins();
    const rideAlongKm = dispatch.ride_along_m / 1000;
    for (const bin of inZone) {
      if (due.has(bin.id) || queued.has(bin.id) || inOpenJob.has(bin.id)) continue;
      // only a bin near the route is worth a forecast (a zone has thousands of bins, a job a few stops)
      if (!nearAny(dueBins, bin, rideAlongKm)) continue;
      const p = this.planBin(bin, now);
      const hours = hoursUntil(p, now, rules.full_pct, this.rhythm(now));
      if (hours !== null && now + hours * HOUR_MS <= next + this.reachMs(zone)) candidates.push({ bin: p, hours });
    }
    const stops: StopWhy[] = dueBins.map((b) => ({ binId: b.id, reason: 'alert', cause: queued.get(b.id)?.cause ?? undefined, hoursToFull: hoursUntil(b, now, rules.full_pct, this.rhythm(now)) ?? undefined }));
    return [...stops, ...rideAlong(dueBins, candidates, dispatch.truck_l, rideAlongKm)];
  }

  /**
   * Plans due jobs, assigns jobs that waited for a crew, escalates unanswered ones: only while this instance holds
   * the lease. Idempotent. One tick at a time: a call while one runs is done by the next one (calls meanwhile join
   * it), so what a commit asked for is never skipped.
   */
  tick(now?: number): Promise<void> {
    if (this.waiting) {
      if (now !== undefined) this.waiting.now = now;
      return this.waiting.done;
    }
    const slot: { now: number | undefined; done: Promise<void> } = { now, done: Promise.resolve() };
    slot.done = this.tail.then(async () => {
      this.waiting = null;
      this.running = true;
      try {
        await this.tickOnce(slot.now ?? this.clock.now());
      } finally {
        this.running = false;
      }
    });
    this.waiting = slot;
    this.tail = slot.done.catch(() => {});
    return slot.done;
  }

  private async tickOnce(now: number): Promise<void> {
    const { dispatch } = this.deps.config;
    if (!dispatch.enabled || !this.deps.lease.holds()) return;
    this.lookHourly(now);
    const rounds = roundTimes(now, localMinutes(now, this.deps.config.timezone), roundMinutes(dispatch.rounds));
    let queue = await this.store.queue();
    const made: { zone: string; stops: StopWhy[]; urgent: boolean }[] = [];
    if (rounds && this.lastRound !== null && rounds.last > this.lastRound) {
      for (const job of await this.planRounds(now, rounds.next, rounds.after)) made.push({ ...job, urgent: false });
      const planned = new Set(made.flatMap((j) => j.stops.map((s) => s.binId)));
      queue = queue.filter((q) => q.urgent || !planned.has(q.binId));
    }
    if (rounds) {
      this.lastRound = rounds.last;
      // between rounds a bin waits for the next one unless it would overflow first (or nothing says it would not)
      queue = queue.filter((q) => {
        if (q.urgent || q.cause === REPORT) return true;
        const bin = this.deps.registry.get(q.binId);
        return bin === undefined || cannotWait(this.planBin(bin, now), now, rounds.next, this.rhythm(now), this.reachMs(bin.zone));
      });
    }
    const inOpenJob = queue.length > 0 ? await this.store.openJobBins() : new Set<string>();
    const plan = planJobs(queue, now, dispatch.batch_window_s * 1000, (id) => inOpenJob.has(id), dispatch.max_bins_per_job);
    const tx = <R>(work: (t: Decisions) => Promise<R>): Promise<R> => this.deps.decisions.tx(work);
    if (plan.dropped.length > 0) await tx((t) => t.dispatch.dequeue(plan.dropped));
    for (const job of plan.jobs) {
      const cause = new Map(queue.map((q) => [q.binId, q.cause]));
      const stops: StopWhy[] = job.urgent
        ? job.binIds.map((id) => ({ binId: id, reason: 'fire', cause: cause.get(job.binIds[0]!) ?? 'fire' }))
        : rounds
          ? await this.withRideAlong(job.zone, job.binIds, now, rounds.next)
          : job.binIds.map((id) => ({ binId: id, reason: 'alert', cause: cause.get(id) ?? undefined }));
      made.push({ zone: job.zone, stops, urgent: job.urgent });
    }
    // one job that cannot be made or sent must not stop the others (nor the process: tick runs on a timer)
    const guarded = async (what: string, id: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.deps.log.error({ err, what, id }, 'dispatch step failed');
      }
    };
    for (const job of made) {
      // one round is as many bins as a crew can take: a longer list becomes several jobs
      const max = job.urgent ? 1 : dispatch.max_bins_per_job;
      for (let i = 0; i < job.stops.length; i += max) await guarded('create', job.zone, () => this.createJob(job.zone, job.stops.slice(i, i + max), job.urgent, now));
    }
    for (const job of await this.store.unassigned()) {
      await guarded('assign', job.id, () =>
        tx(async (t) => {
          // locked and read again: it may have found its crew meanwhile (a lease changing hands)
          const j = await t.dispatch.lock(job.id);
          if (j?.status === 'pending' && j.crew_id === null) await this.assign(t, j, now);
        }),
      );
    }
    if (dispatch.escalate_after_s > 0) {
      const cutoff = now - dispatch.escalate_after_s * 1000;
      for (const job of await this.store.unaccepted(cutoff)) await guarded('escalate', job.id, () => this.escalate(job.id, cutoff, now));
    }
  }

  private jobText(job: Dispatch): JobText {
    const zone = this.deps.zonesAndCrews.zones().find((z) => z.id === job.zone);
    return {
      jobId: job.id,
      zoneName: zone?.name ?? job.zone,
      map: job.map_url,
      stops: job.bin_ids.map((id, i) => ({
        id,
        address: this.deps.registry.get(id)?.address ?? '',
        fillPct: this.deps.binState.get(id)?.fill_pct ?? null,
        rideAlong: job.stops[i]?.reason === 'ride_along',
      })),
    };
  }

  /** The job message for one recipient: reply buttons inside the 24-hour window, else the approved template. */
  /** A job's message: buttons inside the window, else the template; a fire goes before everything else in the outbox. */
  private async jobMessage(job: Dispatch, to: string, lang: string, body: string): Promise<{ message: OutboundMessage; fallback?: OutboundMessage; priority: number }> {
    const priority = job.urgent ? SEND_PRIORITY.fireDispatch : SEND_PRIORITY.crewJob;
    const cat = crewCatalog(lang);
    const tpl = this.deps.config.whatsapp.templates.dispatch;
    const payloads = [`accept:${job.id}`, `done:${job.id}`];
    const template = templateMessage(to, tpl.name, tpl.lang, templateParams(this.jobText(job)), payloads);
    if (!(await this.deps.outbox.inWindow(to, this.clock.now()))) return { message: template, priority };
    const text = body.length > 1024 ? body.slice(0, 1021) + '...' : body;
    return {
      message: buttonsMessage(to, text, [
        { id: payloads[0]!, title: cat.accept },
        { id: payloads[1]!, title: cat.doneButton },
      ]),
      fallback: template,
      priority,
    };
  }

  private async createJob(zone: string, stops: readonly StopWhy[], urgent: boolean, now: number): Promise<void> {
    const binIds = stops.map((s) => s.binId);
    const known = binIds.map((id) => this.deps.registry.get(id)).filter((b): b is Bin => b !== undefined);
    const why = new Map(stops.map((s) => [s.binId, s]));
    const made = await this.deps.decisions.tx(async (t) => {
      // one zone's jobs are made one at a time across instances, and a bin another job took meanwhile stays out
      await t.dispatch.lockZone(zone);
      const open = known.length > 0 ? await t.dispatch.openJobBins() : new Set<string>();
      const bins = routeOrder(known.filter((b) => !open.has(b.id)));
      await t.dispatch.dequeue(binIds);
      if (bins.length === 0) return null;
      const draft = {
        zone,
        crew_id: null,
        status: 'pending' as const,
        urgent,
        bin_ids: bins.map((b) => b.id),
        created_at: now,
        sent_at: null,
        accepted_at: null,
        done_at: null,
        escalated_at: null,
        cancelled_at: null,
        error: null,
        map_url: mapLink(bins),
        stops: bins.map((b) => stopOf(why.get(b.id)!)),
      };
      const job: Dispatch = { ...draft, id: await t.dispatch.insert(draft) };
      await this.assign(t, job, now);
      const sup = this.deps.config.dispatch.supervisor_phone;
      if (urgent && sup) {
        const body = crewCatalog('en').fire(this.jobText(job), this.deps.binState.get(job.bin_ids[0]!)?.temperature_c ?? null);
        await t.outbox.add({ to: sup, ...(await this.jobMessage(job, sup, 'en', body)), key: `job:${job.id}:supervisor`, ref: job.id });
      }
      await this.changed(t, job, 'pending', now);
      return job;
    });
    if (made) this.deps.log.info({ job: made.id, bins: made.bin_ids.length, zone, urgent }, 'job created');
  }

  /** Gives a pending job to the zone's first on-shift crew and adds its message, in the caller's transaction. */
  private async assign(t: Decisions, job: Dispatch, now: number): Promise<void> {
    const crew = crewsOnShift(this.deps.zonesAndCrews.crews(), job.zone, now, this.deps.config.timezone)[0];
    if (!crew) {
      if (job.crew_id === null && job.created_at === now) this.deps.log.warn({ job: job.id, zone: job.zone }, 'no crew on shift for the zone; the job waits');
      return;
    }
    await t.dispatch.update(job.id, { crew_id: crew.id });
    const cat = crewCatalog(crew.lang);
    const text = this.jobText(job);
    const body = job.urgent ? cat.fire(text, this.deps.binState.get(job.bin_ids[0]!)?.temperature_c ?? null) : cat.job(text);
    // the key is the job's: whichever instance adds it, the crew gets one message
    await t.outbox.add({ to: crew.phone, ...(await this.jobMessage(job, crew.phone, crew.lang, body)), key: `job:${job.id}:crew`, ref: job.id });
  }

  /** Escalates a job nobody accepted since before `cutoff`: locked and read again, so an Accept meanwhile wins. */
  private async escalate(id: string, cutoff: number, now: number): Promise<void> {
    const sup = this.deps.config.dispatch.supervisor_phone;
    const job = await this.deps.decisions.tx(async (t) => {
      const job = await t.dispatch.lock(id);
      if (!job || job.status !== 'sent' || job.sent_at === null || job.sent_at > cutoff) return null;
      const crew = this.deps.zonesAndCrews.crews().find((c) => c.id === job.crew_id);
      await t.dispatch.update(job.id, { status: 'escalated', escalated_at: now });
      if (sup) {
        const minutes = Math.round((now - (job.sent_at ?? job.created_at)) / 60_000);
        const body = crewCatalog('en').escalated(this.jobText(job), crew?.name ?? 'the crew', minutes);
        await t.outbox.add({ to: sup, ...(await this.jobMessage(job, sup, 'en', body)), key: `job:${job.id}:escalate`, ref: job.id });
      }
      await this.changed(t, { ...job, escalated_at: now }, 'escalated', now);
      return job;
    });
    if (job) this.deps.log.warn({ job: job.id, zone: job.zone, supervisor: sup !== '' }, 'job escalated: not accepted in time');
  }

  /** The sensors saw a bin emptied (in the rules' transaction): it leaves its open jobs; a job whose bins are all emptied is done. */
  async onCollected(t: Decisions, binId: string, now = this.clock.now()): Promise<void> {
    await t.dispatch.dequeue([binId]);
    for (const id of await t.dispatch.markCollected(binId, now)) {
      const job = await t.dispatch.get(id);
      if (job) await this.finish(t, job, now, 'sensors');
    }
  }

  /** Outcome of a queued message: the job moves to sent, or carries the error for operators to see. */
  async onOutboxResult(r: OutboxResult): Promise<void> {
    const ref = r.ref;
    // a sent reply or supervisor message changes no job: no transaction for it
    if (!ref || (r.status === 'sent' && !r.key.endsWith(':crew'))) return;
    await this.deps.decisions.tx(async (t) => {
      const job = await t.dispatch.lock(ref);
      if (!job) return;
      if (r.status === 'sent' && job.status === 'pending') {
        const now = this.clock.now();
        await t.dispatch.update(job.id, { status: 'sent', sent_at: now, error: null });
        await this.changed(t, { ...job, sent_at: now }, 'sent', now);
      } else if (r.status === 'failed') {
        const error = `${r.error?.code ?? ''} ${r.error?.message ?? 'send failed'}`.trim();
        await t.dispatch.update(job.id, { error });
        this.deps.log.error({ job: job.id, error }, 'job message could not be delivered');
      }
    });
  }

  /**
   * A message from a crew member or the supervisor; false when the sender is neither. The job is locked in the
   * transaction, so the same answer reaching two instances (or Accept racing an escalation) is applied once.
   */
  async handleMessage(m: InboundMessage): Promise<boolean> {
    const crew = this.deps.zonesAndCrews.crews().find((c) => c.phone === m.from);
    const supervisor = this.deps.config.dispatch.supervisor_phone !== '' && this.deps.config.dispatch.supervisor_phone === m.from;
    if (!crew && !supervisor) return false;
    const intent = crewIntent(m);
    if (!intent) return true;
    const lang = crew?.lang ?? 'en';
    const statuses: DispatchStatus[] = intent.action === 'accept' ? ['sent', 'pending', 'escalated'] : ['accepted', 'sent', 'escalated', 'pending'];
    await this.deps.decisions.tx(async (t) => {
      const latest = !intent.jobId && crew ? await t.dispatch.latestOfCrew(crew.id, statuses) : undefined;
      const id = intent.jobId ?? latest?.id;
      const job = id ? await t.dispatch.lock(id) : undefined;
      // nothing open: a repeated Done for a finished job is not worth a reply
      if (!job || !OPEN_STATUSES.includes(job.status)) return;
      if (!supervisor && job.crew_id !== crew?.id) {
        await this.reply(t, m, `no-job:${m.id}`, textMessage(m.from, crewCatalog(lang).unknownJob));
        return;
      }
      const now = this.clock.now();
      if (intent.action === 'accept') {
        if (job.status === 'accepted') return;
        const crewId = supervisor && !crew ? job.crew_id : (crew?.id ?? job.crew_id);
        await t.dispatch.update(job.id, { status: 'accepted', accepted_at: now, crew_id: crewId });
        await this.changed(t, { ...job, accepted_at: now, crew_id: crewId }, 'accepted', now);
        const cat = crewCatalog(lang);
        await this.reply(t, m, `job:${job.id}:accepted`, buttonsMessage(m.from, cat.accepted(job.id), [{ id: `done:${job.id}`, title: cat.doneButton }]));
      } else {
        await this.finish(t, job, now, 'crew');
        await this.reply(t, m, `job:${job.id}:done`, textMessage(m.from, crewCatalog(lang).done(job.id)));
      }
    });
    return true;
  }

  private async reply(t: Decisions, m: InboundMessage, key: string, message: OutboundMessage): Promise<void> {
    await t.outbox.add({ to: m.from, message, key, ref: key.split(':')[1], priority: SEND_PRIORITY.crewJob });
  }

  private async finish(t: Decisions, job: Dispatch, now: number, by: 'crew' | 'sensors'): Promise<void> {
    await t.dispatch.update(job.id, { status: 'done', done_at: now, accepted_at: job.accepted_at ?? now });
    await this.changed(t, { ...job, done_at: now, accepted_at: job.accepted_at ?? now }, 'done', now);
    t.afterCommit(() => {
      this.deps.log.info({ job: job.id, zone: job.zone, by }, 'job done');
      if (job.urgent) return;
      // the crew reaches a job's bins evenly between its start and its end: half the span is the typical reach
      const delays = this.reachDelays.get(job.zone) ?? [];
      delays.push((now - job.created_at) / 2);
      if (delays.length > REACH_SAMPLES) delays.shift();
      this.reachDelays.set(job.zone, delays);
    });
  }

  /** Cancels an open job (the API); the job as it is then, undefined when there is none. */
  cancel(id: string, now = this.clock.now()): Promise<Dispatch | undefined> {
    return this.deps.decisions.tx(async (t) => {
      const job = await t.dispatch.lock(id);
      if (!job || !OPEN_STATUSES.includes(job.status)) return job;
      await t.dispatch.update(id, { status: 'cancelled', cancelled_at: now });
      await this.changed(t, job, 'cancelled', now);
      return t.dispatch.get(id);
    });
  }

  /**
   * Every status change ends here: the bus is told once the transaction has committed (never of a change rolled
   * back), with the job as it is stored then (the snapshot if it is gone).
   */
  private async changed(t: Decisions, job: Dispatch, status: DispatchStatus, now: number): Promise<void> {
    const stored = (await t.dispatch.get(job.id)) ?? { ...job, status };
    t.afterCommit(() => this.deps.events.emit('job.changed', { job: stored, status, at: now }));
  }
}
