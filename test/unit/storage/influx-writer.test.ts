import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InfluxWriter, type InfluxSink, type SpoolBatch, type SpoolTable, type WriterMetrics } from '../../../src/storage/index.js';
import { createMetrics } from '../../../src/metrics.js';
import { waitFor } from '../../helpers/wait.js';

/** An in-memory spool whose table calls fail as often as asked, as SQLite's do when another connection holds it (SQLITE_BUSY). */
function flakySpool(lines: string[], fail: { peek: number; ack: number }): SpoolTable {
  const busy = (): Error => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  return {
    get size() {
      return lines.length;
    },
    full: false,
    assertRoom: () => undefined,
    append: () => undefined,
    appendSoon: () => undefined,
    flushSoon: () => undefined,
    stats: () => ({ depth: lines.length, bytes: 0, oldestMs: null, full: false }),
    recount: () => undefined,
    insert: () => undefined,
    peek(limit: number): SpoolBatch | null {
      if (fail.peek-- > 0) throw busy();
      return lines.length === 0 ? null : { lastSeq: Math.min(limit, lines.length), lines: lines.slice(0, limit), bytes: 0 };
    },
    ack(batch: SpoolBatch): void {
      if (fail.ack-- > 0) throw busy();
      lines.splice(0, batch.lines.length);
    },
    deadLetter: () => undefined,
  };
}

describe('InfluxWriter', () => {
  it('keeps writing when the spool cannot be read or trimmed for a while: a batch written but not removed is written again', async () => {
    const written: string[][] = [];
    const sink: InfluxSink = { write: async (l: readonly string[]) => void written.push([...l]), close: async () => undefined } as unknown as InfluxSink;
    const spool = flakySpool(['a 1', 'b 2', 'c 3'], { peek: 2, ack: 1 });
    const writer = new InfluxWriter(spool, sink, { batchSize: 2, flushIntervalMs: 10 }, createMetrics() as unknown as WriterMetrics, pino({ level: 'silent' }));
    writer.start();
    await waitFor(() => spool.size === 0, { timeoutMs: 10_000, message: 'spool drained' });
    await writer.stop(1000);
    // the first batch went twice (its removal failed once); InfluxDB keeps one point per series and time
    expect(written).toEqual([['a 1', 'b 2'], ['a 1', 'b 2'], ['c 3']]);
    expect(writer.healthy).toBe(true);
  });
});
