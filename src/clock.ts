/** A pending timer of a Clock; `clear()` cancels it, `unref()` lets the process exit while it waits. */
export interface Timer {
  clear(): void;
  unref(): Timer;
}

/**
 * Time and waiting, injected: everything in binbridge that reads the time or waits takes a Clock, so the whole
 * program runs either on the wall clock (`realClock`) or in simulated time (`ManualClock`, advanced by a test or
 * the city twin).
 */
export interface Clock {
  /** epoch milliseconds */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  setInterval(fn: () => void, ms: number): Timer;
  /** resolves after `ms`; rejects with the signal's reason when it is aborted first */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepOn(clock: Pick<Clock, 'setTimeout'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      timer.clear();
      reject(signal!.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function wrap(handle: NodeJS.Timeout, clear: (h: NodeJS.Timeout) => void): Timer {
  const timer: Timer = {
    clear: () => clear(handle),
    unref: () => {
      handle.unref();
      return timer;
    },
  };
  return timer;
}

/** The wall clock and Node's timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => wrap(setTimeout(fn, ms), clearTimeout),
  setInterval: (fn, ms) => wrap(setInterval(fn, ms), clearInterval),
  sleep: (ms, signal) => sleepOn(realClock, ms, signal),
};

interface Pending {
  due: number;
  seq: number;
  fn: () => void;
  every: number | null;
}

/**
 * Simulated time: `now()` stands still until `advance()` moves it; timers fire in due order, each at its own
 * due time, as they would on the wall clock, but without waiting. `advance` lets promise callbacks run between
 * timers, so chains started by one timer (a write, then a retry) settle before the next fires.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private busy: (() => boolean) | null = null;
  private maxHeldTurns = MAX_HELD_TURNS;

  constructor(start: number | Date = 0) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }

  /**
   * Holds time still while `check` says work started by a timer is unfinished, however many turns of the event loop
   * it takes (a simulation's people whose messages go through several commits and turns): without it, how far time
   * moved meanwhile would depend on the machine's load, and a simulation would not repeat itself.
   */
  holdWhile(check: (() => boolean) | null, maxTurns = MAX_HELD_TURNS): void {
    this.busy = check;
    this.maxHeldTurns = maxTurns;
  }

  /** Lets the event loop turn until the held work is done (one turn at least). */
  private async settleAll(): Promise<void> {
    await settle();
    for (let turns = 0; this.busy?.(); turns++) {
      if (turns > this.maxHeldTurns) throw new Error(`ManualClock: work still unfinished after ${this.maxHeldTurns} turns of the event loop at ${new Date(this.t).toISOString()}`);
      await settle();
    }
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** how many timers wait */
  get timers(): number {
    return this.pending.size;
  }

  /** the due time of the next timer, or null when none waits */
  nextDue(): number | null {
    let next: number | null = null;
    for (const p of this.pending.values()) if (next === null || p.due < next) next = p.due;
    return next;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (those they set included). */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  /** Moves time to `target` (never backwards), firing due timers in order. */
  async advanceTo(target: number): Promise<void> {
    await this.settleAll();
    for (;;) {
      const next = this.takeNext(target);
      if (!next) break;
      this.t = Math.max(this.t, next.due);
      if (next.every !== null) this.pending.set(next.seq, { ...next, due: next.due + next.every });
      next.fn();
      await this.settleAll();
    }
    this.t = Math.max(this.t, target);
  }

  private takeNext(until: number): Pending | null {
    let best: Pending | null = null;
    for (const p of this.pending.values()) {
      if (p.due > until) continue;
      if (!best || p.due < best.due || (p.due === best.due && p.seq < best.seq)) best = p;
    }
    if (best) this.pending.delete(best.seq);
    return best;
  }

  private add(fn: () => void, ms: number, every: number | null): Timer {
    const seq = ++this.seq;
    this.pending.set(seq, { due: this.t + Math.max(0, ms), seq, fn, every });
    const timer: Timer = {
      clear: () => void this.pending.delete(seq),
      unref: () => timer,
    };
    return timer;
  }
}

/**
 * `work`'s value, or `null` when it has not settled within `ms` of the clock's time (the work itself goes on); a
 * rejection rejects. For answers nobody should wait long for, such as a scrape's counts from a database.
 */
export async function within<T>(clock: Pick<Clock, 'setTimeout'>, ms: number, work: Promise<T>): Promise<T | null> {
  let timer: Timer | null = null;
  const late = new Promise<null>((resolve) => {
    timer = clock.setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    (timer as Timer | null)?.clear();
  }
}

/**
 * Resolves on the event loop's next turn, after the I/O callbacks that are due: a long piece of work awaits it
 * between steps so that readings and requests are served meanwhile. Not a timer, so it is the same on any clock.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Lets queued promise callbacks and I/O callbacks that are already due run. */
const settle = nextTurn;

/** How long held work may take, in turns of the event loop, before the clock says it hangs. */
const MAX_HELD_TURNS = 1_000_000;
