// Short slices of the two ingest benchmarks (README "How fast"), so that CI keeps them working: bench:ingest with
// --compare-raw (a bare aedes, then binbridge with a real influxd, the load generator in a process of its own) and
// bench:connections (devices with secrets, a restart, all back). Their full runs are `npm run` scripts; here the
// figures are not judged (CI's machine is busy with other tests), only what must hold at any speed: every reading
// published was acknowledged and, through binbridge, stored; every device came back.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** Runs a bench script as its npm script does (tsx), with the bridge from dist/; its one JSON object. */
async function bench(script: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', script), ...args], {
    cwd: ROOT,
    maxBuffer: 64 << 20,
    timeout: 170_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

interface IngestRun {
  target: 'raw' | 'binbridge';
  published: number;
  acked: number;
  stored?: number;
  errors: number;
  target_met: boolean;
}

describe('benchmark slices', () => {
  beforeAll(async () => {
    // the benches start the bridge as the image does: node dist/src/cli.js
    await run('npm', ['run', '-s', 'build'], { cwd: ROOT, timeout: 120_000 });
  }, 130_000);

  it('bench:ingest --compare-raw: the same load acknowledged by a bare aedes, and acknowledged and stored by binbridge', async () => {
    const out = await bench('ingest.ts', ['--compare-raw', '--rates', '500', '--duration', '2', '--warmup', '1', '--sensors', '20']);
    const runs = out.runs as Record<'raw' | 'binbridge', IngestRun[]>;
    expect(runs.raw).toHaveLength(1);
    expect(runs.binbridge).toHaveLength(1);
    const raw = runs.raw[0]!;
    const bb = runs.binbridge[0]!;
    expect(raw.published).toBeGreaterThanOrEqual(1400);
    expect(raw.acked).toBe(raw.published);
    expect(bb.published).toBeGreaterThanOrEqual(1400);
    expect(bb.acked).toBe(bb.published);
    expect(bb.stored).toBe(bb.published);
    expect([raw.errors, bb.errors]).toEqual([0, 0]);
    expect(out.side_by_side).toEqual([expect.objectContaining({ rate: 500, raw: expect.any(Object), binbridge: expect.any(Object) })]);
    // one rate: a target that held it held the ladder's top rate, so its highest is a lower bound (whether it held it
    // depends on the machine's load, which the slice does not judge)
    expect(out.highest_is_lower_bound).toEqual({ raw: raw.target_met, binbridge: bb.target_met });
    expect(out.highest_sustained).toEqual({ raw: raw.target_met ? 500 : null, binbridge: bb.target_met ? 500 : null });
  }, 180_000);

  it('bench:connections: devices with secrets connect, the bridge restarts, every device is back and acknowledged', async () => {
    const out = await bench('connections.ts', ['--devices', '200']);
    expect(out.complete).toBe(true);
    const restart = out.restart as { connected: number; acked: number; last_acked_after_stop_s: number };
    expect((out.first_connect as { acked: number }).acked).toBe(200);
    expect(restart.acked).toBe(200);
    expect(restart.last_acked_after_stop_s).toBeGreaterThan(0);
  }, 180_000);
});
