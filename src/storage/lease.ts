import type { Counter, Gauge } from 'prom-client';

/**
 * The right to run timed work (dispatch batching, escalation, offline checks, retention, scheduled notices) when
 * several instances share one store: exactly one instance holds it at a time. Timed work asks `holds()` before it
 * acts; `onChange` says when this instance gained or lost it.
 */
export interface Lease {
  readonly name: string;
  /** whether this instance holds the lease now */
  holds(): boolean;
  /** the holder as last seen (this instance's id while it holds), null when not known yet */
  holder(): string | null;
  /** `fn(true)` when this instance takes the lease, `fn(false)` when it loses it; returns the unsubscribe */
  onChange(fn: (holds: boolean) => void): () => void;
  start(): Promise<void>;
  /** lets go of the lease (another instance may take it at once) and stops renewing it */
  stop(): Promise<void>;
}

/** The two lease metrics (metrics.ts), so a lease can be built without the whole registry. */
export interface LeaseMetrics {
  leaseHeld: Gauge<'lease'>;
  leaseChanges: Counter<'lease' | 'change'>;
}

/** What every lease does when it is taken or lost: the listeners and the metrics. */
export class LeaseState {
  private held = false;
  private seen: string | null = null;
  private readonly listeners = new Set<(holds: boolean) => void>();

  constructor(
    readonly name: string,
    private readonly metrics: LeaseMetrics | undefined,
    private readonly onListenerError: (err: unknown) => void = () => {},
  ) {
    metrics?.leaseHeld.set({ lease: name }, 0);
  }

  get holds(): boolean {
    return this.held;
  }

  get holder(): string | null {
    return this.seen;
  }

  onChange(fn: (holds: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /** Records who holds the lease now; tells the listeners when this instance's part changed. */
  set(holds: boolean, holder: string | null): void {
    this.seen = holder;
    if (holds === this.held) return;
    this.held = holds;
    this.metrics?.leaseHeld.set({ lease: this.name }, holds ? 1 : 0);
    this.metrics?.leaseChanges.inc({ lease: this.name, change: holds ? 'acquired' : 'lost' });
    for (const fn of this.listeners) {
      try {
        fn(holds);
      } catch (err) {
        // one failing listener must not keep the others from hearing that the lease moved
        this.onListenerError(err);
      }
    }
  }
}

/**
 * The lease of a single instance on its own SQLite file: nobody else can run the timed work, so it holds from start
 * to stop.
 */
export class LocalLease implements Lease {
  private readonly state: LeaseState;

  constructor(
    readonly name: string,
    private readonly id: string,
    metrics?: LeaseMetrics,
  ) {
    this.state = new LeaseState(name, metrics);
  }

  holds(): boolean {
    return this.state.holds;
  }

  holder(): string | null {
    return this.state.holder;
  }

  onChange(fn: (holds: boolean) => void): () => void {
    return this.state.onChange(fn);
  }

  async start(): Promise<void> {
    this.state.set(true, this.id);
  }

  async stop(): Promise<void> {
    this.state.set(false, null);
  }
}
