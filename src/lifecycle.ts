import type { Logger } from './log.js';

/** Why rooms are being stopped: a shutdown gives InfluxDB its last chance; a failed start leaves the points spooled. */
export type StopCause = 'shutdown' | 'failed start';

/**
 * One part of the program with its own life: a factory builds it (and wires it to the rooms built before it),
 * `start()` makes it take work, `stop()` makes it let go of everything it holds. `stop` runs after a failed or
 * partial start too, and before `start` when a later room could not be built, so it must tolerate either.
 */
export interface Room {
  readonly name: string;
  start(): void | Promise<void>;
  stop(cause: StopCause): void | Promise<void>;
}

/**
 * Starts rooms in the order they were added and stops them in exactly the reverse order, so that a room is stopped
 * before the rooms it depends on: the edges stop taking work before the workers behind them stop, and the
 * database closes last. Every room added belongs to the runner from then on: a failed start stops all of them,
 * started or merely built, and rethrows.
 */
export class Lifecycle {
  private readonly rooms: Room[] = [];
  private stopping: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  /** Takes a built room into the lifecycle; returns it, so that the next room's factory can use what it offers. */
  add<R extends Room>(room: R): R {
    this.rooms.push(room);
    return room;
  }

  /** the rooms, in start order */
  get names(): string[] {
    return this.rooms.map((r) => r.name);
  }

  /** Starts every room in order; when one fails, stops them all in reverse and rethrows its error. */
  async start(): Promise<void> {
    for (const room of this.rooms) {
      try {
        await room.start();
      } catch (err) {
        await this.stop('failed start');
        throw err;
      }
    }
  }

  /**
   * Stops every room in reverse order, once (a second call waits for the first). A room whose stop throws is
   * logged and the others still stop: leaving the database open because a listener failed to close helps nobody.
   */
  stop(cause: StopCause = 'shutdown'): Promise<void> {
    return (this.stopping ??= (async () => {
      for (const room of [...this.rooms].reverse()) {
        try {
          await room.stop(cause);
        } catch (err) {
          this.log.warn({ err, room: room.name, cause }, 'room failed to stop');
        }
      }
    })());
  }
}
