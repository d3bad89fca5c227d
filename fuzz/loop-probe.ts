// Loaded into the fuzzed bridge (FUZZ_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR --import ./fuzz/loop-probe.ts",
// LOOP_PROBE_FILE=FILE): a 10 ms timer that writes each time it fired late by more than LOOP_PROBE_MS (default 80)
// as "startUs endUs" on the monotonic clock the CPU profile uses, so that fuzz/long-tasks.ts can say what ran in
// exactly that window. A diagnostic only: binbridge never loads it.
import fs from 'node:fs';

const file = process.env.LOOP_PROBE_FILE;
const overNs = BigInt(Number(process.env.LOOP_PROBE_MS ?? 80) * 1e6);
if (file) {
  const periodNs = 10_000_000n;
  let last = process.hrtime.bigint();
  setInterval(() => {
    const now = process.hrtime.bigint();
    if (now - last - periodNs > overNs) fs.appendFileSync(file, `${last / 1000n} ${now / 1000n}\n`);
    last = now;
  }, 10).unref();
}
