import { realClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { retryDelay, type RetryPolicy } from '../retry.js';
import { WriteError, type InfluxSink } from './influx-sink.js';
import type { SpoolBatch, SpoolQueue } from './spool.js';

export interface WriterOptions {
  batchSize: number;
  flushIntervalMs: number;
  /** longest pause between retries while InfluxDB is down */
  maxRetryDelayMs?: number;
  clock?: Clock;
}

// the pause before the spool is read again after a read failed (the database locked by another connection)
const STORE_RETRY_MS = 200;

// the longest Retry-After honoured: a server asking for more is retried sooner, on the backoff's own schedule
const MAX_RETRY_AFTER_MS = 60_000;

/** The metrics the writer moves (a journal worker relays them to the main thread's registry). */
export type WriterMetrics = Pick<Metrics, 'influxWrite' | 'influxPointsWritten' | 'influxFailures' | 'influxDeadLetters'>;

/** What the rest of the program sees of the writer, wherever it runs. */
export interface SpoolWriter {
  /** null until the first write; then whether the last write succeeded */
  readonly healthy: boolean | null;
  start(): void;
  /** Tells the writer that points arrived. */
  notify(): void;
  /** Writes what it can within the deadline, then stops; what is left stays in the spool for the next start. */
  stop(deadlineMs?: number): Promise<void>;
}

/**
 * Drains the spool into InfluxDB in order: a batch leaves the spool only after InfluxDB accepted it.
 * Network errors, 5xx, 429 and auth/config errors (401/403/404) are retried with exponential backoff
 * and jitter (Retry-After honoured) while the spool grows; 400/422 batches go to the dead-letter table;
 * 413 halves the batch size.
 */
export class InfluxWriter implements SpoolWriter {
  private stopping = false;
  private readonly stopped = new AbortController();
  private readonly clock: Clock;
  private readonly retry: RetryPolicy;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private batchSize: number;
  /** null until the first write; then whether the last write succeeded */
  healthy: boolean | null = null;
  private failingSince: number | null = null;
  private lastFailureLog = 0;

  constructor(
    private readonly spool: SpoolQueue,
    private readonly sink: InfluxSink,
    private readonly opts: WriterOptions,
    private readonly metrics: WriterMetrics,
    private readonly log: Logger,
  ) {
    this.batchSize = opts.batchSize;
    this.clock = opts.clock ?? realClock;
    this.retry = { baseMs: 200, maxMs: opts.maxRetryDelayMs ?? 10_000, jitter: 'full' };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Tells the writer that points arrived; it writes at once when a full batch is waiting. */
  notify(): void {
    if (this.wake && this.spool.size >= this.batchSize) this.wake();
  }

  /** Writes what it can within the deadline, then stops; what is left stays in the spool for the next start. */
  async stop(deadlineMs = 5000): Promise<void> {
    this.stopping = true;
    this.stopped.abort(new Error('stopping'));
    this.wake?.();
    if (this.loop) {
      const deadline = new AbortController();
      await Promise.race([this.loop, this.clock.sleep(deadlineMs, deadline.signal).catch(() => undefined)]);
      deadline.abort();
    }
    await this.sink.close();
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = this.clock.setTimeout(resolve, ms);
      this.wake = () => {
        t.clear();
        resolve();
      };
    });
    this.wake = null;
  }

  private async run(): Promise<void> {
    let lastWrite = 0;
    for (;;) {
      if (this.spool.refresh) {
        // points other instances spooled (one that died leaves its points to the others)
        await this.spool.refresh().catch((err: unknown) => this.log.warn({ err }, 'could not count the spool; going by the last count'));
      }
      const depth = this.spool.size;
      if (this.stopping && depth === 0) return;
      const since = this.clock.now() - lastWrite;
      if (!this.stopping && (depth === 0 || (depth < this.batchSize && since < this.opts.flushIntervalMs))) {
        await this.idle(depth === 0 ? this.opts.flushIntervalMs : this.opts.flushIntervalMs - since);
        continue;
      }
      let batch: SpoolBatch | null;
      try {
        batch = await this.spool.peek(this.batchSize);
      } catch (err) {
        // another connection held the database past busy_timeout (the journal worker's spool shares the file)
        if (this.stopping) return;
        this.log.warn({ err }, 'could not read the spool; trying again');
        await this.idle(STORE_RETRY_MS);
        continue;
      }
      if (!batch) {
        // nothing to claim although points wait: other instances' writers hold them (PostgreSQL); not asked again at once
        if (this.stopping) return;
        await this.idle(this.opts.flushIntervalMs);
        continue;
      }
      lastWrite = this.clock.now();
      const delivered = await this.deliver(batch);
      if (!delivered && this.stopping) return;
    }
  }

  /** true when the batch left the spool (written or dead-lettered) */
  private async deliver(first: SpoolBatch): Promise<boolean> {
    let batch = first;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeOnce(batch);
        break;
      } catch (err) {
        const e = err instanceof WriteError ? err : new WriteError(String(err), 0, undefined);
        this.noteFailure(e, batch);
        // a smaller batch is one of fewer spool rows: a single row (many points, on SQLite) is as small as it gets
        if (e.tooLarge && (batch.rows ?? batch.lines.length) > 1) {
          this.batchSize = Math.max(1, Math.floor(batch.lines.length / 2));
          this.log.warn({ batchSize: this.batchSize }, 'influx refused the batch as too large; smaller batches from now on');
          await this.release(batch);
          return false;
        }
        if (e.invalid || e.tooLarge) {
          try {
            await this.spool.deadLetter(batch, e.message);
          } catch (err) {
            // still spooled: it is tried (and refused) again
            this.log.warn({ err, points: batch.lines.length }, 'could not move refused points to spool_dead_letter; trying again');
            await this.release(batch);
            return false;
          }
          this.metrics.influxDeadLetters.inc(batch.lines.length);
          this.log.error({ points: batch.lines.length, status: e.status, reason: e.message }, 'influx refused points as invalid; moved to spool_dead_letter');
          return true;
        }
        const pause = Math.max(retryDelay(attempt, this.retry), Math.min(e.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
        if (this.spool.release) {
          // no claim is held through the pause: another instance's writer may get through meanwhile
          await this.release(batch);
          if (this.stopping) return false;
          await this.clock.sleep(pause, this.stopped.signal).catch(() => undefined);
          if (this.stopping) return false;
          const next = await Promise.resolve(this.spool.peek(this.batchSize)).catch((err: unknown) => {
            this.log.warn({ err }, 'could not read the spool; trying again');
            return undefined;
          });
          // nothing left to write (another instance wrote it), or the spool could not be read: back to the loop
          if (!next) return next === null;
          batch = next;
          continue;
        }
        if (this.stopping) return false;
        await this.clock.sleep(pause, this.stopped.signal).catch(() => undefined);
        if (this.stopping) return false;
      }
    }
    try {
      await this.spool.ack(batch);
    } catch (err) {
      // written but still spooled: it is written again with the next batch, and InfluxDB keeps one point per
      // series and time, so it is stored once
      this.log.warn({ err, points: batch.lines.length }, 'could not remove written points from the spool; they will be written again');
    }
    this.metrics.influxPointsWritten.inc(batch.lines.length);
    if (this.healthy === false) {
      this.log.warn({ downForS: Math.round((this.clock.now() - (this.failingSince ?? this.clock.now())) / 1000) }, 'influx writes recovered; replaying spool');
    }
    this.healthy = true;
    this.failingSince = null;
    return true;
  }

  /** Ends a claim unwritten (PostgreSQL); a failure to do so ended it anyway (the connection is dropped). */
  private async release(batch: SpoolBatch): Promise<void> {
    await this.spool.release?.(batch).catch((err: unknown) => this.log.warn({ err }, 'could not release a spool claim; its connection is dropped'));
  }

  private async writeOnce(batch: SpoolBatch): Promise<void> {
    const end = this.metrics.influxWrite.startTimer();
    try {
      await this.sink.write(batch.lines);
    } finally {
      end();
    }
  }

  private noteFailure(err: WriteError, batch: SpoolBatch): void {
    this.metrics.influxFailures.inc({ code: err.status === 0 ? 'network' : String(err.status) });
    const now = this.clock.now();
    const first = this.healthy !== false;
    this.healthy = false;
    this.failingSince ??= now;
    // loud on the first failure, then once a minute while it lasts
    if (first || now - this.lastFailureLog > 60_000) {
      this.lastFailureLog = now;
      const s = this.spool.stats();
      this.log.error(
        { status: err.status, reason: err.message, batch: batch.lines.length, spoolDepth: s.depth, spoolBytes: s.bytes },
        'influx write failed; points stay in the spool and will be retried',
      );
    }
  }
}
