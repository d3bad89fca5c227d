export type LiveEventType = 'reading' | 'alert' | 'dispatch' | 'report' | 'message';

/** One open page: receives every event, and is ended when the hub closes. */
export type LiveListener = (type: LiveEventType, data: unknown, id: number) => void;

/**
 * Who is connected to the live page, and the fan-out to them: every event published goes to every open stream,
 * numbered (the SSE `id:`). Knows nothing of where events come from (the live room wires the bus to it) nor of
 * HTTP (the SSE route subscribes one listener per open page).
 */
export class LiveHub {
  private readonly streams = new Map<LiveListener, () => void>();
  private seq = 0;
  private closed = false;

  /** Sends an event to every open page. */
  publish(type: LiveEventType, data: unknown): void {
    if (this.closed) return;
    const id = ++this.seq;
    for (const listener of [...this.streams.keys()]) {
      try {
        listener(type, data, id);
      } catch {
        // a broken stream is dropped by its own route; the others go on
      }
    }
  }

  /** Adds an open page; `end` is called when the hub closes first. Returns the unsubscribe. */
  subscribe(listener: LiveListener, end: () => void = () => undefined): () => void {
    if (this.closed) {
      end();
      return () => undefined;
    }
    this.streams.set(listener, end);
    return () => void this.streams.delete(listener);
  }

  /** how many pages are open */
  get subscribers(): number {
    return this.streams.size;
  }

  /** Publishes nothing more and ends every open stream (at a shutdown, before the HTTP server waits for them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const ends = [...this.streams.values()];
    this.streams.clear();
    for (const end of ends) end();
  }
}
