import type { Logger } from './log.js';

/** What a room may emit: an event name and its payload, typed by the room's own map. */
export interface Emitter<M> {
  emit<K extends keyof M & string>(type: K, payload: M[K]): void;
}

/** What a room may listen to. `on` returns the unsubscribe. */
export interface Subscriber<M> {
  on<K extends keyof M & string>(type: K, listener: (payload: M[K]) => void): () => void;
}

/**
 * One typed, in-process event bus. Rooms emit domain events (a reading committed, an alert opened, a job changed,
 * a message counted) and other rooms follow them without knowing the emitter. Listeners are isolated here, in
 * one place: a listener that throws is logged and counted, and neither the emitter nor the other listeners notice.
 * Listeners run synchronously, in subscription order, after the emitter's own transaction has committed.
 */
export class EventBus<M> implements Emitter<M>, Subscriber<M> {
  private readonly listeners = new Map<keyof M, ((payload: never) => void)[]>();

  constructor(
    private readonly log: Logger,
    private readonly onListenerFailure: (type: string) => void = () => undefined,
  ) {}

  on<K extends keyof M & string>(type: K, listener: (payload: M[K]) => void): () => void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener as (payload: never) => void);
    this.listeners.set(type, list);
    return () => {
      const i = list.indexOf(listener as (payload: never) => void);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof M & string>(type: K, payload: M[K]): void {
    const list = this.listeners.get(type);
    if (!list) return;
    for (const listener of [...list]) {
      try {
        (listener as (payload: M[K]) => void)(payload);
      } catch (err) {
        this.onListenerFailure(type);
        this.log.error({ err, event: type }, 'event listener failed');
      }
    }
  }
}
