// The journal, bin state, history and spool on PostgreSQL (store.url): the journal contract on a real server, two
// instances' journals and writers on one database with a real influxd, and the server stopped under load.
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../src/clock.js';
import { configSchema } from '../../src/config/index.js';
import { createMetrics } from '../../src/metrics.js';
import { InfluxWriter, JournalUnavailableError, WriteError, createSink, type InfluxSink, type JournalEntry, type JournalPace } from '../../src/storage/index.js';
import { PostgresBinStateStore, PostgresReadingHistory, PostgresReadingJournal, PostgresSpool } from '../../src/storage/postgres/index.js';
import { cityBins, connectClient, publishAcked, startInstances, type InProcessBridge } from '../helpers/bridge.js';
import { journalContract } from '../helpers/journal-contracts.js';
import { freshDatabase, postgresCluster } from '../helpers/postgres.js';
import { startInfluxd, type Influxd } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const silent = pino({ level: 'silent' });

/** One instance's telemetry on the database: its own pool, journal, bin state view, history and spool. */
function instance(pool: pg.Pool, maxBytes = 1 << 20, maxBatch = 100, pace: JournalPace = { delayMs: 0 }) {
  const source = (): pg.Pool => pool;
  const spool = new PostgresSpool(source, { maxBytes, clock: realClock, log: silent, countEveryMs: 0 });
  const state = new PostgresBinStateStore(source, realClock, silent);
  const history = new PostgresReadingHistory(source, realClock, silent);
  const journal = new PostgresReadingJournal(source, spool, state, history, { maxBatch, ...pace }, createMetrics(), silent);
  return { spool, state, history, journal };
}

describe('the journal on PostgreSQL', () => {
  // its own cluster: a test here stops and starts the server
  const cluster = postgresCluster({ own: true });
  const stops: (() => Promise<void>)[] = [];
  const migrated = async (): Promise<pg.Pool> => (await cluster.database()).pool;
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  describe('contract', () => {
    // one migrated database for the contract's cases, emptied before each (they run one after the other)
    let shared: pg.Pool | null = null;
    journalContract(async (maxBytes, pace) => {
      shared ??= await migrated();
      const pool = shared;
      await pool.query('TRUNCATE spool, bin_state, reading_history, history_bins, rule_state RESTART IDENTITY');
      const { spool, state, journal } = instance(pool, maxBytes, undefined, pace);
      await state.start();
      stops.push(() => state.stop());
      return {
        journal,
        spool,
        state,
        firstLine: async () => (await pool.query<{ line: string }>('SELECT line FROM spool ORDER BY seq LIMIT 1')).rows[0]?.line,
        storedState: async (binId) => (await pool.query<{ ts: number | null; fill_pct: number | null }>('SELECT ts, fill_pct FROM bin_state WHERE bin_id = $1', [binId])).rows[0],
        ruleState: async (binId) => (await pool.query<{ state: string; seq: number }>('SELECT state, seq FROM rule_state WHERE bin_id = $1', [binId])).rows[0],
      };
    });
  });

  describe('spool claims', () => {
    const twoSpools = async () => {
      const [a, b] = await cluster.twoInstances();
      const spool = (pool: pg.Pool) => new PostgresSpool(() => pool, { maxBytes: 1 << 20, clock: realClock, log: silent, countEveryMs: 0 });
      const lines = Array.from({ length: 10 }, (_, i) => `m v=${i} ${1000 + i}`);
      await spool(a).insertIn(a, lines, 1);
      return { a, b, spoolA: spool(a), spoolB: spool(b), lines };
    };

    it('a claim whose instance died is free at once: its connection ends and the other writer takes the points', async () => {
      const { a, b, spoolA, spoolB, lines } = await twoSpools();
      const claim = await spoolA.peek(10);
      expect(claim?.lines).toEqual(lines);
      expect(await spoolB.peek(10)).toBeNull();
      // the first instance dies: its claim's connection goes (kill -9 closes the socket; here the server ends it)
      await b.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'binbridge-a' AND state LIKE 'idle in transaction%'");
      const taken = await waitFor(() => spoolB.peek(10), { message: 'the second writer claims the points' });
      expect(taken.lines).toEqual(lines);
      await expect(spoolA.ack(claim!)).rejects.toThrow();
      await spoolB.ack(taken);
      expect((await a.query<{ n: number }>('SELECT count(*)::int AS n FROM spool')).rows[0]!.n).toBe(0);
    });

    it('a writer that cannot reach InfluxDB holds no claim through its retries: the other instance\'s writer sends the points', async () => {
      const { spoolA, spoolB, lines } = await twoSpools();
      let failures = 0;
      const sent: string[] = [];
      const failing = {
        write: async () => {
          failures++;
          throw new WriteError('connect ECONNREFUSED', 0, undefined);
        },
        close: async () => undefined,
      } as unknown as InfluxSink;
      const up = { write: async (l: readonly string[]) => void sent.push(...l), close: async () => undefined } as unknown as InfluxSink;
      const opts = { batchSize: 10, flushIntervalMs: 20, maxRetryDelayMs: 200 };
      const writerA = new InfluxWriter(spoolA, failing, opts, createMetrics(), silent);
      writerA.start();
      await waitFor(() => failures >= 2, { message: 'the first writer failed twice' });
      const writerB = new InfluxWriter(spoolB, up, opts, createMetrics(), silent);
      writerB.start();
      await waitFor(() => sent.length === lines.length, { message: 'the second writer sent the points' });
      await writerB.stop(1000);
      await writerA.stop(0);
      await spoolA.close();
      expect(sent).toEqual(lines);
    });
  });

  describe('two instances on one database', () => {
    let influx: Influxd;
    beforeAll(async () => {
      influx = await startInfluxd();
    }, 60_000);
    afterAll(async () => {
      await influx?.destroy();
    });

    it('every reading of either reaches InfluxDB once, each batch sent by one writer, and each bin\'s state is its newest reading', async () => {
      const [first, second] = await cluster.twoInstances();
      const config = configSchema.shape.influx.parse({ url: influx.url, api: 'v1', db: 'binbridge', batch_size: 50, flush_interval_ms: 20 });
      const sent = [0, 0];
      const started = [first, second].map((pool, k) => {
        const inst = instance(pool);
        const real = createSink(config, silent);
        // counts what each writer sends: a batch sent twice would show as more lines than readings
        const sink: InfluxSink = { write: async (lines) => ((sent[k]! += lines.length), real.write(lines)), close: () => real.close() } as InfluxSink;
        const writer = new InfluxWriter(inst.spool, sink, { batchSize: config.batch_size, flushIntervalMs: config.flush_interval_ms }, createMetrics(), silent);
        inst.journal.onCommitted(() => writer.notify());
        return { ...inst, writer };
      });
      for (const s of started) {
        await s.state.start();
        s.writer.start();
      }
      const BINS = 20;
      const PER_INSTANCE = 1500;
      const base = Date.now() - 3_600_000;
      const newest = new Map<string, number>();
      // the same bins at both instances, their readings interleaved: even times at the first, odd at the second, which
      // gets them newest first (a device's backlog): its later commits must not take a bin's state back
      const entry = (k: number, i: number): JournalEntry => {
        const n = 2 * i + k;
        const binId = `B-${n % BINS}`;
        const ts = base + n;
        newest.set(binId, Math.max(newest.get(binId) ?? 0, ts));
        return { reading: { binId, ts, receivedAt: ts, fillPct: n % 100 }, lines: [], points: { bin: { id: binId, zone: 'z1', kind: 'rest', lat: 52.37, lon: 4.89 }, withState: false } };
      };
      const pending: Promise<void>[] = [];
      for (let i = 0; i < PER_INSTANCE; i += 50) {
        for (let j = i; j < i + 50; j++) {
          pending.push(started[0]!.journal.record(entry(0, j)));
          pending.push(started[1]!.journal.record(entry(1, PER_INSTANCE - 1 - j)));
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(pending);
      const total = 2 * PER_INSTANCE;
      await waitFor(async () => (await first.query<{ n: number }>('SELECT count(*)::int AS n FROM spool')).rows[0]!.n === 0, { timeoutMs: 60_000, message: 'both writers drained the shared spool' });
      for (const s of started) await s.writer.stop(5000);
      expect(await influx.count('SELECT count(fill_pct) FROM bin_reading')).toBe(total);
      expect(sent[0]! + sent[1]!).toBe(total);
      // both wrote: the claims were shared, not one writer doing it all
      expect(sent[0]).toBeGreaterThan(0);
      expect(sent[1]).toBeGreaterThan(0);
      // the table, as a third instance starting now would read it
      const table = await first.query<{ bin_id: string; ts: number }>('SELECT bin_id, ts FROM bin_state ORDER BY bin_id');
      expect(Object.fromEntries(table.rows.map((r) => [r.bin_id, r.ts]))).toEqual(Object.fromEntries([...newest].sort()));
      for (const s of started) {
        await s.state.refresh();
        for (const [binId, ts] of newest) expect(s.state.get(binId), binId).toMatchObject({ ts });
        await s.state.stop();
      }
      const { rows } = await first.query<{ n: number }>('SELECT coalesce(sum(readings), 0)::int AS n FROM reading_history');
      expect(rows[0]!.n).toBe(total);
    }, 120_000);

    it('two bridges on the database: a bin whose readings alternate between them is stored once per reading and shows its newest at both; with the database down no PUBACK', async () => {
      const url = await freshDatabase(cluster.server);
      const env = { BINBRIDGE_STORE_URL: url, BINBRIDGE_INFLUX_URL: influx.url, BINBRIDGE_INFLUX_API: 'v1', BINBRIDGE_INFLUX_DB: 'bridges' };
      await influx.query('CREATE DATABASE bridges', '');
      const bridges: InProcessBridge[] = [];
      const clients: Awaited<ReturnType<typeof connectClient>>[] = [];
      try {
        bridges.push(...(await startInstances(2, env)));
        const [bin] = cityBins(1) as [string];
        // one device, one secret: issued through the first, known to the second once it has looked (about a second)
        const secret = await bridges[0]!.secrets.issue(bin);
        await waitFor(() => bridges[1]!.secrets.has(bin), { timeoutMs: 10_000, message: 'the second bridge knows the secret' });
        const device = async (b: InProcessBridge) => {
          const c = await connectClient(b.mqttUrl, { clientId: bin, username: bin, password: secret });
          clients.push(c);
          return c;
        };
        const devices = [await device(bridges[0]!), await device(bridges[1]!)];
        const base = Date.now() - 60_000;
        for (let i = 0; i < 10; i++) await publishAcked(devices[i % 2]!, `bins/${bin}/telemetry`, { fill_pct: 10 + i, ts: base + i * 1000 });
        // the PUBACK followed the commit: the table has the newest, whichever bridge took it
        expect(bridges.map((b) => b.journal instanceof PostgresReadingJournal)).toEqual([true, true]);
        const table = cluster.pool(url);
        expect((await table.query('SELECT bin_id, fill_pct FROM bin_state')).rows).toEqual([{ bin_id: bin, fill_pct: 19 }]);
        for (const b of bridges) {
          await waitFor(async () => ((await (await fetch(`${b.httpUrl}/api/bins/${bin}`)).json()) as { state: { fill_pct: number } | null }).state?.fill_pct === 19, {
            timeoutMs: 15_000,
            message: 'each bridge shows the newest reading',
          });
          const history = (await (await fetch(`${b.httpUrl}/api/bins/${bin}/readings?hours=2`)).json()) as { items: { readings: number }[] };
          expect(history.items.reduce((n, p) => n + p.readings, 0)).toBe(10);
        }
        await waitFor(async () => (await influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${bin}'`, 'bridges')) === 10, { timeoutMs: 15_000, message: 'ten points in InfluxDB' });

        await cluster.server.stop();
        try {
          await expect(publishAcked(devices[0]!, `bins/${bin}/telemetry`, { fill_pct: 99, ts: base + 20_000 })).rejects.toThrow(/connection closed before PUBACK/);
        } finally {
          await cluster.server.start();
        }
        const again = await device(bridges[0]!);
        await publishAcked(again, `bins/${bin}/telemetry`, { fill_pct: 99, ts: base + 20_000 });
        expect(((await (await fetch(`${bridges[0]!.httpUrl}/api/bins/${bin}`)).json()) as { state: { fill_pct: number } }).state.fill_pct).toBe(99);
      } finally {
        for (const c of clients) c.end(true);
        for (const b of bridges) await b.stop();
      }
      expect(await influx.count(`SELECT count(fill_pct) FROM bin_reading WHERE bin_id = '${cityBins(1)[0]!}'`, 'bridges')).toBe(11);
    }, 120_000);
  });

  it('stopped under load: readings are refused (not acknowledged) while it is down, and every acknowledged one is stored after it is back', async () => {
    const { pool } = await cluster.database({ pool: { connectTimeoutMs: 2000 } });
    const { journal, state } = instance(pool);
    await state.start();
    stops.push(() => state.stop());
    const acked = new Set<number>();
    let refused = 0;
    let other = 0;
    let n = 0;
    let load = true;
    const loop = (async () => {
      while (load) {
        for (let j = 0; j < 20; j++) {
          const i = n++;
          journal.record({ reading: { binId: `B-${i % 10}`, ts: 1_000_000 + i, receivedAt: 1_000_000 + i, fillPct: 1 }, lines: [`m i=${i}i ${1_000_000 + i}`] }).then(
            () => acked.add(i),
            (err: unknown) => (err instanceof JournalUnavailableError ? refused++ : other++),
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await waitFor(() => acked.size >= 200, { timeoutMs: 20_000, message: 'readings acknowledged before the stop' });
      await cluster.server.stop();
      await waitFor(() => refused >= 20, { timeoutMs: 20_000, message: 'readings refused while PostgreSQL is down' });
      await cluster.server.start();
      const before = acked.size;
      await waitFor(() => acked.size >= before + 200, { timeoutMs: 30_000, message: 'readings acknowledged again after the restart' });
    } finally {
      load = false;
      await loop;
    }
    await journal.flush();
    expect(other).toBe(0);
    const { rows } = await pool.query<{ line: string }>('SELECT line FROM spool');
    const stored = new Set(rows.map((r) => Number(/^m i=(\d+)i/.exec(r.line)![1])));
    const lost = [...acked].filter((i) => !stored.has(i));
    expect(lost).toEqual([]);
    // nothing stored twice, nothing stored that was never sent
    expect(rows.length).toBe(stored.size);
    expect([...stored].every((i) => i < n)).toBe(true);
    expect(refused).toBeGreaterThan(0);
  }, 120_000);
});
