// A simulated crew and its truck: takes jobs in the order it gets them, drives from the zone's depot through the
// stops, lifts, goes back to unload when the truck is full, works only within its shift, and says Done.
import { distance } from 'geokdbush';
import type { Clock } from '../src/clock.js';
import { localMinutes, onShift } from '../src/dispatch/index.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const SPEED_KMH = 25;
/** straight-line distance times this is the road distance */
export const ROAD_FACTOR = 1.3;
export const LIFT_MS = 2 * MINUTE;
export const TRUCK_LITRES = 20_000;

interface Place {
  lat: number;
  lon: number;
}

export interface CrewJob {
  id: string;
  zone: string;
  /** in route order */
  binIds: string[];
}

export interface SimulatedCrewDeps {
  clock: Clock;
  timezone: string;
  bin(id: string): (Place & { capacity_l: number }) | undefined;
  depot(zone: string): Place;
  /** the crew lifted the bin now */
  lift(binId: string, job: CrewJob): void;
  /** every stop of the job is lifted */
  done(job: CrewJob): Promise<void>;
  /** a job's work failed (a bug of the twin): the run reports it */
  fail(err: unknown): void;
}

export class SimulatedCrew {
  /** road kilometres driven */
  km = 0;
  private readonly queue: CrewJob[] = [];
  private busy = false;

  constructor(
    readonly id: string,
    private readonly shift: string,
    private readonly deps: SimulatedCrewDeps,
  ) {}

  /** idle: nothing queued, nothing under way */
  get idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  take(job: CrewJob): void {
    this.queue.push(job);
    if (!this.busy) void this.work();
  }

  private async work(): Promise<void> {
    this.busy = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.run(job);
    } catch (err) {
      this.deps.fail(err);
    } finally {
      this.busy = false;
    }
  }

  private async run(job: CrewJob): Promise<void> {
    const depot = this.deps.depot(job.zone);
    let at: Place = depot;
    let load = 0;
    for (const id of job.binIds) {
      const bin = this.deps.bin(id);
      if (!bin) continue;
      await this.untilOnShift();
      if (load > 0 && load + bin.capacity_l > TRUCK_LITRES) {
        await this.drive(at, depot);
        at = depot;
        load = 0;
      }
      await this.drive(at, bin);
      at = bin;
      await this.deps.clock.sleep(LIFT_MS);
      this.deps.lift(id, job);
      load += bin.capacity_l;
    }
    await this.deps.done(job);
    await this.drive(at, depot);
  }

  private async drive(from: Place, to: Place): Promise<void> {
    const km = distance(from.lon, from.lat, to.lon, to.lat) * ROAD_FACTOR;
    this.km += km;
    await this.deps.clock.sleep((km / SPEED_KMH) * HOUR);
  }

  /** Off shift: waits for the shift's next start (a stop begun before its end is finished). */
  private async untilOnShift(): Promise<void> {
    const now = this.deps.clock.now();
    const minute = localMinutes(now, this.deps.timezone);
    if (onShift(this.shift, minute)) return;
    const [from] = this.shift.split('-') as [string];
    const [h, m] = from.split(':').map(Number) as [number, number];
    const wait = (h * 60 + m - minute + 1440) % 1440 || 1440;
    await this.deps.clock.sleep(wait * MINUTE - (now % MINUTE));
  }
}
