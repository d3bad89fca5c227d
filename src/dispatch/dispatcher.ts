import type Database from 'better-sqlite3';
import { realClock, type Clock, type Timer } from '../clock.js';
import type { AppliedEvent } from '../alerts/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Bin, BinRegistry } from '../registry/index.js';
import type { Emitter } from '../events.js';
import { forecast, type BinRuleState } from '../rules/index.js';
import type { BinStateStore } from '../storage/index.js';
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

/** What the dispatcher needs of the WhatsApp outbox. */
export interface DispatchOutbox {
  enqueue(item: { to: string; message: OutboundMessage; fallback?: OutboundMessage; key: string; ref?: string; priority?: number }): { id: number; created: boolean };
  inWindow(waId: string, now: number): boolean;
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
  db: Database.Database;
  registry: BinRegistry;
  binState: BinStateStore;
  outbox: DispatchOutbox;
  /** zones and crews as they are now (the admin API edits them) */
  zonesAndCrews: { zones(): readonly Config['zones'][number][]; crews(): readonly Crew[] };
  config: Pick<Config, 'dispatch' | 'timezone'> & { rules: Pick<Config['rules'], 'full_pct'> } & { whatsapp: { templates: Pick<Config['whatsapp']['templates'], 'dispatch'> } };
  /** told of every job status change (the residents' reports, the live page, the `dispatch` points) */
  events: Emitter<DispatchEvents>;
  /** the jobs and the queue, built once by the dispatch room */
  store: DispatchStore;
  log: Logger;
  clock?: Clock;
  /** the rules engine's memory of a bin, for its fill-rate estimate */
  ruleState?: (binId: string) => BinRuleState | undefined;
}

/**
 * Turns alerts into jobs for the crews: batches the bins of one zone within the batch window into one job in
 * route order, sends it to the zone's on-shift crew (fire at once, unbatched), never sends a bin that is in an
 * open job, escalates to the supervisor when nobody accepts, follows the crew's Accept / Done, and closes jobs
 * when the sensors see the bins emptied. Every decision and the message it causes commit in one transaction.
 */
export class Dispatcher {
  readonly store: DispatchStore;
  private readonly clock: Clock;
  private timer: Timer | null = null;
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
    this.store = deps.store;
    this.clock = deps.clock ?? realClock;
  }

  start(intervalMs = 1000): void {
    this.timer ??= this.clock.setInterval(() => this.tick(), intervalMs).unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  /** Alerts and collections from the rules engine. */
  onEvents(events: readonly AppliedEvent[]): void {
    let due = false;
    for (const e of events) {
      if (e.type === 'collected') {
        this.emptied.set(e.binId, { at: e.ts, fillPct: e.value ?? 0 });
        this.onCollected(e.binId);
      } else if (e.opened && e.opens === 'fire') due = this.request(e.binId, true, e.message, 'fire') || due;
      else if (e.opened && e.opens === 'full') due = this.request(e.binId, false, e.message, e.cause ?? 'threshold') || due;
    }
    if (due) this.tick();
  }

  /**
   * Asks for a bin to be collected; true when it should go out now (urgent, or no batch window). `cause` is the
   * alert's; without one the request is a person's (a resident's report), and a person who saw the bin full is
   * not made to wait for the next round.
   */
  request(binId: string, urgent: boolean, reason: string, cause: string | null = REPORT): boolean {
    if (!this.deps.config.dispatch.enabled) return false;
    const bin = this.deps.registry.get(binId);
    if (!bin) return false;
    if (this.store.inOpenJob(binId)) return false;
    this.store.enqueue(binId, bin.zone, this.clock.now(), urgent, reason, cause);
    return urgent || this.deps.config.dispatch.batch_window_s === 0;
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
  private planRounds(now: number, next: number, after: number): { zone: string; stops: StopWhy[] }[] {
    const { dispatch, rules } = this.deps.config;
    const queued = new Map(this.store.queue().filter((q) => !q.urgent).map((q) => [q.binId, q]));
    const byZone = new Map<string, PlanBin[]>();
    const inOpenJob = this.store.openJobBins();
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
  private withRideAlong(zone: string, binIds: readonly string[], now: number, next: number): StopWhy[] {
    const { dispatch, rules } = this.deps.config;
    const queued = new Map(this.store.queue().map((q) => [q.binId, q]));
    const due = new Set(binIds);
    const inZone = this.deps.registry.all().filter((b) => b.zone === zone);
    const dueBins = inZone.filter((b) => due.has(b.id)).map((b) => this.planBin(b, now));
    const candidates: { bin: PlanBin; hours: number }[] = [];
    const inOpenJob = this.store.openJobBins();
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

  /** Plans due jobs, assigns jobs that waited for a crew, escalates unanswered ones. Idempotent. */
  tick(now = this.clock.now()): void {
    const { dispatch } = this.deps.config;
    if (!dispatch.enabled) return;
    this.lookHourly(now);
    const rounds = roundTimes(now, localMinutes(now, this.deps.config.timezone), roundMinutes(dispatch.rounds));
    let queue = this.store.queue();
    const made: { zone: string; stops: StopWhy[]; urgent: boolean }[] = [];
    if (rounds && this.lastRound !== null && rounds.last > this.lastRound) {
      for (const job of this.planRounds(now, rounds.next, rounds.after)) made.push({ ...job, urgent: false });
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
    const inOpenJob = queue.length > 0 ? this.store.openJobBins() : new Set<string>();
    const plan = planJobs(queue, now, dispatch.batch_window_s * 1000, (id) => inOpenJob.has(id), dispatch.max_bins_per_job);
    if (plan.dropped.length > 0) this.store.dequeue(plan.dropped);
    for (const job of plan.jobs) {
      const cause = new Map(queue.map((q) => [q.binId, q.cause]));
      const stops: StopWhy[] = job.urgent
        ? job.binIds.map((id) => ({ binId: id, reason: 'fire', cause: cause.get(job.binIds[0]!) ?? 'fire' }))
        : rounds
          ? this.withRideAlong(job.zone, job.binIds, now, rounds.next)
          : job.binIds.map((id) => ({ binId: id, reason: 'alert', cause: cause.get(id) ?? undefined }));
      made.push({ zone: job.zone, stops, urgent: job.urgent });
    }
    // one job that cannot be made or sent must not stop the others (nor the process: tick runs on a timer)
    const guarded = (what: string, id: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        this.deps.log.error({ err, what, id }, 'dispatch step failed');
      }
    };
    for (const job of made) {
      // one round is as many bins as a crew can take: a longer list becomes several jobs
      const max = job.urgent ? 1 : dispatch.max_bins_per_job;
      for (let i = 0; i < job.stops.length; i += max) guarded('create', job.zone, () => this.createJob(job.zone, job.stops.slice(i, i + max), job.urgent, now));
    }
    for (const job of this.store.unassigned()) guarded('assign', job.id, () => this.assign(job, now));
    if (dispatch.escalate_after_s > 0) {
      for (const job of this.store.unaccepted(now - dispatch.escalate_after_s * 1000)) guarded('escalate', job.id, () => this.escalate(job, now));
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
  private jobMessage(job: Dispatch, to: string, lang: string, body: string): { message: OutboundMessage; fallback?: OutboundMessage; priority: number } {
    const priority = job.urgent ? SEND_PRIORITY.fireDispatch : SEND_PRIORITY.crewJob;
    const cat = crewCatalog(lang);
    const tpl = this.deps.config.whatsapp.templates.dispatch;
    const payloads = [`accept:${job.id}`, `done:${job.id}`];
    const template = templateMessage(to, tpl.name, tpl.lang, templateParams(this.jobText(job)), payloads);
    if (!this.deps.outbox.inWindow(to, this.clock.now())) return { message: template, priority };
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

  private createJob(zone: string, stops: readonly StopWhy[], urgent: boolean, now: number): void {
    const binIds = stops.map((s) => s.binId);
    const bins = routeOrder(binIds.map((id) => this.deps.registry.get(id)).filter((b): b is Bin => b !== undefined));
    const why = new Map(stops.map((s) => [s.binId, s]));
    if (bins.length === 0) {
      this.store.dequeue(binIds);
      return;
    }
    this.deps.db.transaction(() => {
      const job: Dispatch = {
        id: this.store.newId(),
        zone,
        crew_id: null,
        status: 'pending',
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
      this.store.insert(job);
      this.store.dequeue(binIds);
      this.assign(job, now);
      if (urgent && this.deps.config.dispatch.supervisor_phone) {
        const sup = this.deps.config.dispatch.supervisor_phone;
        const body = crewCatalog('en').fire(this.jobText(job), this.deps.binState.get(job.bin_ids[0]!)?.temperature_c ?? null);
        this.deps.outbox.enqueue({ to: sup, ...this.jobMessage(job, sup, 'en', body), key: `job:${job.id}:supervisor`, ref: job.id });
      }
      this.changed(job, 'pending', now);
    }).immediate();
    this.deps.log.info({ job: bins.length, zone, urgent }, 'job created');
  }

  /** Gives a pending job to the zone's first on-shift crew and queues its message. */
  private assign(job: Dispatch, now: number): void {
    const crew = crewsOnShift(this.deps.zonesAndCrews.crews(), job.zone, now, this.deps.config.timezone)[0];
    if (!crew) {
      if (job.crew_id === null && job.created_at === now) this.deps.log.warn({ job: job.id, zone: job.zone }, 'no crew on shift for the zone; the job waits');
      return;
    }
    this.deps.db.transaction(() => {
      this.store.update(job.id, { crew_id: crew.id });
      const cat = crewCatalog(crew.lang);
      const text = this.jobText(job);
      const body = job.urgent ? cat.fire(text, this.deps.binState.get(job.bin_ids[0]!)?.temperature_c ?? null) : cat.job(text);
      this.deps.outbox.enqueue({ to: crew.phone, ...this.jobMessage(job, crew.phone, crew.lang, body), key: `job:${job.id}:crew`, ref: job.id });
    }).immediate();
  }

  private escalate(job: Dispatch, now: number): void {
    const sup = this.deps.config.dispatch.supervisor_phone;
    const crew = this.deps.zonesAndCrews.crews().find((c) => c.id === job.crew_id);
    this.deps.db.transaction(() => {
      this.store.update(job.id, { status: 'escalated', escalated_at: now });
      if (sup) {
        const minutes = Math.round((now - (job.sent_at ?? job.created_at)) / 60_000);
        const body = crewCatalog('en').escalated(this.jobText(job), crew?.name ?? 'the crew', minutes);
        this.deps.outbox.enqueue({ to: sup, ...this.jobMessage(job, sup, 'en', body), key: `job:${job.id}:escalate`, ref: job.id });
      }
      this.changed({ ...job, escalated_at: now }, 'escalated', now);
    }).immediate();
    this.deps.log.warn({ job: job.id, zone: job.zone, supervisor: sup !== '' }, 'job escalated: not accepted in time');
  }

  /** The sensors saw a bin emptied: it leaves its open jobs; a job whose bins are all emptied is done. */
  onCollected(binId: string, now = this.clock.now()): void {
    this.deps.db.transaction(() => {
      this.store.dequeue([binId]);
      for (const id of this.store.markCollected(binId, now)) {
        const job = this.store.get(id)!;

        this.finish(job, now, 'sensors');
      }
    }).immediate();
  }

  /** Outcome of a queued message: the job moves to sent, or carries the error for operators to see. */
  onOutboxResult(r: OutboxResult): void {
    const job = r.ref ? this.store.get(r.ref) : undefined;
    if (!job) return;
    if (r.status === 'sent' && r.key.endsWith(':crew') && job.status === 'pending') {
      const now = this.clock.now();
      this.store.update(job.id, { status: 'sent', sent_at: now, error: null });
      this.changed({ ...job, sent_at: now }, 'sent', now);
    } else if (r.status === 'failed') {
      const error = `${r.error?.code ?? ''} ${r.error?.message ?? 'send failed'}`.trim();
      this.store.update(job.id, { error });
      this.deps.log.error({ job: job.id, error }, 'job message could not be delivered');
    }
  }

  /** A message from a crew member or the supervisor; false when the sender is neither. */
  handleMessage(m: InboundMessage): boolean {
    const crew = this.deps.zonesAndCrews.crews().find((c) => c.phone === m.from);
    const supervisor = this.deps.config.dispatch.supervisor_phone !== '' && this.deps.config.dispatch.supervisor_phone === m.from;
    if (!crew && !supervisor) return false;
    const intent = crewIntent(m);
    if (!intent) return true;
    const lang = crew?.lang ?? 'en';
    const statuses: DispatchStatus[] = intent.action === 'accept' ? ['sent', 'pending', 'escalated'] : ['accepted', 'sent', 'escalated', 'pending'];
    const job = intent.jobId ? this.store.get(intent.jobId) : crew ? this.store.latestOfCrew(crew.id, statuses) : undefined;
    // nothing open: a repeated Done for a finished job is not worth a reply
    if (!job || !OPEN_STATUSES.includes(job.status)) return true;
    if (!supervisor && job.crew_id !== crew?.id) {
      this.reply(m, `no-job:${m.id}`, textMessage(m.from, crewCatalog(lang).unknownJob));
      return true;
    }
    const now = this.clock.now();
    if (intent.action === 'accept') {
      if (job.status === 'accepted') return true;
      this.deps.db.transaction(() => {
        const crewId = supervisor && !crew ? job.crew_id : (crew?.id ?? job.crew_id);
        this.store.update(job.id, { status: 'accepted', accepted_at: now, crew_id: crewId });
        this.changed({ ...job, accepted_at: now, crew_id: crewId }, 'accepted', now);
        const cat = crewCatalog(lang);
        this.reply(m, `job:${job.id}:accepted`, buttonsMessage(m.from, cat.accepted(job.id), [{ id: `done:${job.id}`, title: cat.doneButton }]));
      }).immediate();
    } else {
      this.deps.db.transaction(() => {
        this.finish(job, now, 'crew');
        this.reply(m, `job:${job.id}:done`, textMessage(m.from, crewCatalog(lang).done(job.id)));
      }).immediate();
    }
    return true;
  }

  private reply(m: InboundMessage, key: string, message: OutboundMessage): void {
    this.deps.outbox.enqueue({ to: m.from, message, key, ref: key.split(':')[1], priority: SEND_PRIORITY.crewJob });
  }

  private finish(job: Dispatch, now: number, by: 'crew' | 'sensors'): void {
    if (!job.urgent) {
      // the crew reaches a job's bins evenly between its start and its end: half the span is the typical reach
      const delays = this.reachDelays.get(job.zone) ?? [];
      delays.push((now - job.created_at) / 2);
      if (delays.length > REACH_SAMPLES) delays.shift();
      this.reachDelays.set(job.zone, delays);
    }
    this.store.update(job.id, { status: 'done', done_at: now, accepted_at: job.accepted_at ?? now });
    this.changed({ ...job, done_at: now, accepted_at: job.accepted_at ?? now }, 'done', now);
    this.deps.log.info({ job: job.id, zone: job.zone, by }, 'job done');
  }

  cancel(id: string, now = this.clock.now()): Dispatch | undefined {
    const job = this.store.get(id);
    if (!job || !OPEN_STATUSES.includes(job.status)) return job;
    this.store.update(id, { status: 'cancelled', cancelled_at: now });
    this.changed(job, 'cancelled', now);
    return this.store.get(id);
  }

  /** Every status change ends here: the bus is told, with the job as it is stored now (the snapshot if it is gone). */
  private changed(job: Dispatch, status: DispatchStatus, now: number): void {
    this.deps.events.emit('job.changed', { job: this.store.get(job.id) ?? { ...job, status }, status, at: now });
  }
}
