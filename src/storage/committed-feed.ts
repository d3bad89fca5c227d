import type { Logger } from '../log.js';
import type { JournalEntry } from './reading-journal.js';

type Listener = (entries: JournalEntry[]) => void;

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
      for (const entries of groups) notifyCommitted(this.listeners, entries, this.log);
    }
    const idle = this.idle;
    this.idle = [];
    for (const done of idle) done();
  }

  /** Resolves once every group committed so far has been through its listeners. */
  settled(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idle.push(resolve));
  }
}

/** Hands a committed group to each listener; one that throws is logged and the others still run. */
export function notifyCommitted(listeners: readonly Listener[], entries: JournalEntry[], log: Logger): void {
  for (const listener of listeners) {
    try {
      listener(entries);
    } catch (err) {
      log.error({ err }, 'journal listener failed');
    }
  }
}
