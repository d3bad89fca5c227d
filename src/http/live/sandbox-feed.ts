import type { SandboxMessage } from '../../whatsapp/index.js';

/**
 * The sandbox's recorded messages that are news to the live page: each call (one per message the outbox sent)
 * hands over those recorded since the last call, oldest first. What was recorded before the first call (`prime`)
 * is not news.
 */
export class SandboxFeed {
  private lastId: number | null = null;

  /** `list`: the newest recorded messages first, with ids */
  constructor(private readonly list: (limit: number) => SandboxMessage[]) {}

  /** Remembers where the record stands now. */
  prime(): void {
    this.lastId = this.list(1)[0]?.id ?? 0;
  }

  /** The messages recorded since the last call, oldest first (at most 200: a page shows the latest anyway). */
  fresh(): SandboxMessage[] {
    if (this.lastId === null) this.prime();
    const since = this.lastId!;
    const newest = this.list(1)[0];
    if (!newest || newest.id <= since) return [];
    this.lastId = newest.id;
    return this.list(Math.min(200, newest.id - since))
      .filter((m) => m.id > since)
      .reverse();
  }
}
