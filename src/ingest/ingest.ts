import { realClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { BinRegistry } from '../registry/index.js';
import { JournalUnavailableError, SpoolFullError, checkPoints, type JournalEntry, type ReadingJournal } from '../storage/index.js';
import { decodeNative, type Decoded } from './decode-native.js';
import type { Reading, ReadingSource, Rejection } from './reading.js';
import type { RejectionLog } from './rejection-log.js';
import { toReading } from './to-reading.js';

export type IngestOutcome =
  | { ok: true; reading: Reading }
  /** retryable: the reading was valid but could not be recorded; the sender must not get an acknowledgement */
  | ({ ok: false; retryable: boolean } & Rejection);

export interface IngestOptions {
  maxFutureMs: number;
  /** false when no InfluxDB is configured: readings update the bin state but are not spooled */
  writeInflux: boolean;
  /** at most one bin_state point per bin in this interval (0: with every reading) */
  stateIntervalMs: number;
  clock?: Clock;
}

/**
 * decode -> validate -> Reading -> durable journal. Resolves after the reading is durably recorded,
 * which is when the broker may acknowledge it; refusals are counted and logged without flooding.
 */
export class Ingest {
  private readonly lastStatePoint = new Map<string, number>();

  constructor(
    private readonly registry: BinRegistry,
    private readonly journal: ReadingJournal,
    private readonly rejections: RejectionLog,
    private readonly opts: IngestOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** A native JSON payload published for a bin. */
  acceptPayload(binId: string, payload: Buffer, source: ReadingSource = 'mqtt'): Promise<IngestOutcome> {
    return this.acceptDecoded(binId, decodeNative(payload), source);
  }

  /** A payload some decoder already turned into measurement fields (or refused). */
  async acceptDecoded(binId: string, decoded: Decoded, source: ReadingSource): Promise<IngestOutcome> {
    if (!decoded.ok) return this.reject(binId, decoded, false);
    const bin = this.registry.get(binId);
    if (!bin) return this.reject(binId, { reason: 'unknown_bin', detail: `no bin ${binId} in the registry` }, false);
    const r = toReading(decoded.measurement, bin, { now: (this.opts.clock ?? realClock).now(), maxFutureMs: this.opts.maxFutureMs, source });
    if (!r.ok) return this.reject(binId, r, false);
    const reading = r.reading;
    let points: JournalEntry['points'];
    if (this.opts.writeInflux) {
      points = { bin, withState: this.stateDue(reading) };
      // the points are made where the journal commits them (off the event loop with the journal worker); a reading
      // they could not be made of is refused here, alone
      checkPoints(reading, bin, points.withState);
    }
    try {
      await this.journal.record({ reading, lines: [], points });
    } catch (err) {
      if (err instanceof SpoolFullError) return this.reject(binId, { reason: 'spool_full', detail: err.message }, true);
      // the journal logged its one line when its worker died; each refused reading is counted, not logged
      if (err instanceof JournalUnavailableError) return this.reject(binId, { reason: 'store_error', detail: err.message }, true);
      this.log.error({ err, bin: binId }, 'could not record reading');
      return this.reject(binId, { reason: 'store_error', detail: (err as Error).message }, true);
    }
    this.metrics.readingsAccepted.inc({ source });
    return { ok: true, reading };
  }

  private stateDue(r: Reading): boolean {
    const last = this.lastStatePoint.get(r.binId);
    if (last !== undefined && Math.abs(r.ts - last) < this.opts.stateIntervalMs) return false;
    this.lastStatePoint.set(r.binId, r.ts);
    return true;
  }

  private reject(device: string, rejection: Rejection, retryable: boolean): IngestOutcome {
    this.rejections.note(device, rejection);
    return { ok: false, retryable, ...rejection };
  }
}
