import type pg from 'pg';
import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { LatestReading } from '../bin-state.js';
import { BUCKET_MS, HISTORY_MS, downsample } from '../history-bucket.js';
import { historyPoints, type HistoryPoint, type HistoryRow, type ReadingHistory } from '../reading-history.js';
import type { PoolSource } from './spool.js';

const PRUNE_EVERY_MS = 3_600_000;

/**
 * The history in PostgreSQL (`reading_history`, `history_bins`), the same rows as on SQLite, written in the
 * journal's group commit (`recordIn`). Two instances add to the same bin and quarter: the upsert merges (counts add,
 * min/max/last are commutative), so the row ends the same whichever instance received which reading, and the rows
 * go in (bucket, bin) order so that two commits wait for each other rather than deadlock. Pruned every hour by each
 * instance (a DELETE of old quarters; running it twice does no harm).
 */
export class PostgresReadingHistory implements ReadingHistory {
  private readonly binNumbers = new Map<string, number>();
  private timer: Timer | null = null;

  constructor(
    private readonly pool: PoolSource,
    private readonly clock: Clock,
    private readonly log?: Logger,
  ) {}

  /** Adds a group of readings in the caller's transaction; readings older than the history keeps are left out. */
  async recordIn(client: pg.ClientBase, readings: readonly LatestReading[], now: number): Promise<void> {
    const buckets = downsample(readings, now - HISTORY_MS);
    if (buckets.length === 0) return;
    const numbers = await this.binNumbersIn(client, [...new Set(buckets.map((b) => b.binId))]);
    const rows = buckets.map((b) => ({ ...b, bin: numbers.get(b.binId)! })).sort((a, b) => a.bucket - b.bucket || a.bin - b.bin);
    const col = <T>(f: (r: (typeof rows)[number]) => T): T[] => rows.map(f);
    await client.query(
      `INSERT INTO reading_history AS h (bin, bucket, readings, fill, fill_at, fill_min, fill_max, battery_min, temperature_max)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::bigint[], $6::int[], $7::int[], $8::int[], $9::int[])
       ON CONFLICT (bucket, bin) DO UPDATE SET
         readings = h.readings + excluded.readings,
         fill = CASE WHEN (excluded.fill_at, excluded.fill) > (h.fill_at, h.fill) THEN excluded.fill ELSE h.fill END,
         fill_at = GREATEST(h.fill_at, excluded.fill_at),
         fill_min = LEAST(h.fill_min, excluded.fill_min),
         fill_max = GREATEST(h.fill_max, excluded.fill_max),
         battery_min = LEAST(h.battery_min, excluded.battery_min),
         temperature_max = GREATEST(h.temperature_max, excluded.temperature_max)`,
      [col((r) => r.bin), col((r) => r.bucket), col((r) => r.readings), col((r) => r.fill), col((r) => r.fillAt), col((r) => r.fillMin), col((r) => r.fillMax), col((r) => r.batteryMin), col((r) => r.temperatureMax)],
    );
  }

  /** Not used on PostgreSQL (the journal calls recordIn in its transaction). */
  record(): void {
    throw new Error('PostgresReadingHistory.record: the journal records history with recordIn in its own transaction');
  }

  /** After a failed commit: bin numbers handed out in it were rolled back with it. */
  forgetUncommitted(): void {
    this.binNumbers.clear();
  }

  async range(binId: string, fromMs: number, toMs: number): Promise<HistoryPoint[]> {
    if (toMs < fromMs) return [];
    const to = Math.floor(toMs / BUCKET_MS);
    const from = Math.max(Math.floor(fromMs / BUCKET_MS), to - HISTORY_MS / BUCKET_MS);
    const { rows } = await this.pool().query<HistoryRow>(
      `SELECT h.bucket, readings, fill, fill_at, fill_min, fill_max, battery_min, temperature_max
         FROM reading_history h JOIN history_bins b ON b.n = h.bin
        WHERE b.id = $1 AND h.bucket BETWEEN $2 AND $3 ORDER BY h.bucket`,
      [binId, from, to],
    );
    return historyPoints(rows, fromMs, toMs);
  }

  async prune(now = this.clock.now()): Promise<number> {
    const { rowCount } = await this.pool().query('DELETE FROM reading_history WHERE bucket < $1', [Math.floor((now - HISTORY_MS) / BUCKET_MS)]);
    return rowCount ?? 0;
  }

  /** Prunes now and every hour. */
  start(): void {
    const run = (): void => {
      this.prune().then(
        (deleted) => {
          if (deleted > 0) this.log?.debug({ deleted }, 'history pruned');
        },
        (err: unknown) => this.log?.error({ err }, 'history prune failed; the next round tries again'),
      );
    };
    run();
    this.timer ??= this.clock.setInterval(run, PRUNE_EVERY_MS).unref();
  }

  stop(): void {
    this.timer?.clear();
    this.timer = null;
  }

  /** The bins' numbers, new ones added (in id order, so two commits adding the same bins do not deadlock). */
  private async binNumbersIn(client: pg.ClientBase, ids: string[]): Promise<Map<string, number>> {
    const missing = ids.filter((id) => !this.binNumbers.has(id)).sort();
    if (missing.length > 0) {
      await client.query('INSERT INTO history_bins (id) SELECT id FROM unnest($1::text[]) AS u (id) ORDER BY id ON CONFLICT (id) DO NOTHING', [missing]);
      const { rows } = await client.query<{ n: number; id: string }>('SELECT n, id FROM history_bins WHERE id = ANY($1::text[])', [missing]);
      for (const r of rows) this.binNumbers.set(r.id, r.n);
    }
    return new Map(ids.map((id) => [id, this.binNumbers.get(id)!]));
  }
}
