import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  InfluxWriter,
  SqliteSpool,
  WriteError,
  openDatabase,
  type InfluxSink,
  type SpoolBatch,
  type SpoolTable,
  type WriterMetrics,
} from '../../../src/storage/index.js';
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

  it('sends smaller batches when InfluxDB says one is too large, and sets aside a single spool row it still refuses', async () => {
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'bb-writer-')));
    const spool = new SqliteSpool(db, 1 << 20);
    // one group commit's ten points share a row; the next point is a row of its own
    const big = Array.from({ length: 10 }, (_, i) => `m v=${i} ${i}`);
    spool.append(big);
    spool.append(['m v=10 10']);
    const written: string[][] = [];
    const sink = {
      write: async (l: readonly string[]) => {
        if (l.length > 3) throw new WriteError('Request Entity Too Large', 413, undefined);
        written.push([...l]);
      },
      close: async () => undefined,
    } as unknown as InfluxSink;
    const writer = new InfluxWriter(spool, sink, { batchSize: 11, flushIntervalMs: 10 }, createMetrics() as unknown as WriterMetrics, pino({ level: 'silent' }));
    writer.start();
    await waitFor(() => spool.size === 0, { timeoutMs: 10_000, message: 'spool emptied' });
    await writer.stop(1000);
    // both rows at first (refused, so smaller batches), then the big row alone: no smaller batch holds it
    expect(written).toEqual([['m v=10 10']]);
    const dead = db.prepare('SELECT line, points FROM spool_dead_letter').all() as { line: string; points: number }[];
    expect(dead).toEqual([{ line: big.join('\n'), points: 10 }]);
  });
});
