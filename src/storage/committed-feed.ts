import type { Logger } from '../log.js';
import type { JournalEntry } from './reading-journal.js';

/** A listener may return a promise (the rules' transaction): settled() and flush() wait for it. */
type Listener = (entries: JournalEntry[]) => unknown;

/**
 * Hands committed groups to the journal's listeners (rules, live page, writer) on a later turn, in commit order.
 * They used to run in the commit's own turn, before the acknowledged readings' PUBACKs were written: a group's
 * rules then held up every device waiting in it. Here the PUBACK microtasks and socket writes go first; the
 * listeners run from setImmediate, and flush() (shutdown) runs what is left, so no committed group is skipped.
 */
export class CommittedFeed {
  private readonly listeners: Listener[] = [];
  private queue: JournalEntry[][] = [];
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** what the listeners returned that has not settled yet */
  private readonly working = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  listen(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** A committed group; its listeners run on a later turn, after every group committed before it. */
  push(entries: JournalEntry[]): void {
    if (entries.length === 0 || this.listeners.length === 0) return;
    this.queue.push(entries);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  /** Runs the listeners of every group still waiting, now. */
  drain(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const groups = this.queue;
      this.queue = [];
      for (const entries of groups) for (const work of notifyCommitted(this.listeners, entries, this.log)) this.track(work);
    }
    const idle = this.idle;
    this.idle = [];
    for (const done of idle) done();
  }

  /** Resolves once every group committed so far has been through its listeners, and what they started has settled. */
  async settled(): Promise<void> {
    if (this.queue.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    while (this.working.size > 0) await Promise.all([...this.working]);
  }

  private track(work: Promise<void>): void {
    const done = work.then(
      () => void this.working.delete(done),
      (err: unknown) => {
        this.working.delete(done);
        this.log.error({ err }, 'journal listener failed');
      },
    );
    this.working.add(done);
  }
}

/** Hands a committed group to each listener; one that throws is logged and the others still run. Returns the promises they returned. */
export function notifyCommitted(listeners: readonly Listener[], entries: JournalEntry[], log: Logger): Promise<void>[] {
  const working: Promise<void>[] = [];
  for (const listener of listeners) {
    try {
      const work = listener(entries);
      if (work instanceof Promise) working.push(work as Promise<void>);
    } catch (err) {
      log.error({ err }, 'journal listener failed');
    }
  }
  return working;
}
