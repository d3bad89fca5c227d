// Loaded into a bridge a bench starts (`node --import <this file> dist/src/cli.js start`), only when the bench is
// asked for a memory breakdown (bench:connections --mem / --heap-snapshot). On SIGUSR2 it writes, into
// BENCH_MEM_DIR, mem-<label>.json: process.memoryUsage() and V8's heap spaces before and after a full GC (so the
// young generation's garbage and the heap's free space show apart from what is live), and the handles libuv holds;
// with BENCH_HEAP_SNAPSHOT=1 also <label>.heapsnapshot (after the GC). The label is read from BENCH_MEM_DIR/next-label.
// The bridge itself knows nothing of it.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import v8 from 'node:v8';
import vm from 'node:vm';

const dir = process.env.BENCH_MEM_DIR;
if (dir) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const snapshot = process.env.BENCH_HEAP_SNAPSHOT === '1';
  const kb = (n) => Math.round(n / 1024);
  const sample = () => ({
    memory_kb: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, kb(v)])),
    spaces_kb: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: kb(s.space_size), used: kb(s.space_used_size), available: kb(s.space_available_size) }])),
  });
  process.on('SIGUSR2', () => {
    let label = `probe-${Date.now()}`;
    try {
      label = fs.readFileSync(path.join(dir, 'next-label'), 'utf8').trim() || label;
    } catch {
      // no label asked for: the time
    }
    const before = sample();
    gc();
    const after = sample();
    const handles = {};
    for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1;
    if (snapshot) v8.writeHeapSnapshot(path.join(dir, `${label}.heapsnapshot`));
    fs.writeFileSync(path.join(dir, `mem-${label}.json`), JSON.stringify({ label, before_gc: before, after_gc: after, handles }, null, 1));
  });
}
