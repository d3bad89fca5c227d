// npx tsx fuzz/long-tasks.ts PROFILE.cpuprofile [--blocks FILE] [--over MS] [--top N]
// Finds what blocked an event loop: reads a V8 CPU profile (node --cpu-prof) and prints, per window, where its
// time went: the project's own frames by inclusive time, then the functions with the most self time. The windows
// are the blocks fuzz/loop-probe.ts wrote (--blocks), or else every stretch of samples without an idle one that
// lasted longer than --over ms (default 80). For the fuzzed bridge:
//   FUZZ_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --import ./fuzz/loop-probe.ts" \
//   LOOP_PROBE_FILE=/tmp/prof/blocks npm run fuzz -- --count 20000
//   npx tsx fuzz/long-tasks.ts /tmp/prof/CPU.*.0.001.cpuprofile --blocks /tmp/prof/blocks
import fs from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

export interface Stretch {
  /** ms since the profile started */
  startMs: number;
  ms: number;
  /** own frames ("fn file:line") by inclusive ms, most first */
  own: [string, number][];
  /** any frame by self ms, most first */
  self: [string, number][];
}

const frameName = (f: CallFrame): string => {
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(src|fuzz|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
};

/** Windows [startUs, endUs] on the profile's clock. */
export type Window = [number, number];

export function longStretches(profile: Profile, overMs: number, top = 12, windows?: Window[]): Stretch[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const idle = (id: number): boolean => byId.get(id)?.callFrame.functionName === '(idle)';
  const out: Stretch[] = [];
  let t = profile.startTime;
  let run: { start: number; samples: { id: number; us: number }[] } | null = null;
  /** Ends the current run; keeps it when it is a window's, or longer than overMs. */
  const close = (always: boolean): void => {
    if (!run) return;
    const us = run.samples.reduce((s, x) => s + x.us, 0);
    if (always || us / 1000 > overMs) out.push(summarize(run.start, us, run.samples));
    run = null;
  };
  const summarize = (start: number, us: number, samples: { id: number; us: number }[]): Stretch => {
    const own = new Map<string, number>();
    const self = new Map<string, number>();
    for (const s of samples) {
      const leaf = byId.get(s.id)!.callFrame;
      self.set(frameName(leaf), (self.get(frameName(leaf)) ?? 0) + s.us);
      const seen = new Set<string>();
      for (let id: number | undefined = s.id; id !== undefined; id = parent.get(id)) {
        const f = byId.get(id)!.callFrame;
        if (!/\/(src|fuzz)\//.test(f.url) || /node_modules/.test(f.url)) continue;
        const name = frameName(f);
        if (seen.has(name)) continue;
        seen.add(name);
        own.set(name, (own.get(name) ?? 0) + s.us);
      }
    }
    const sorted = (m: Map<string, number>): [string, number][] =>
      [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, Math.round(v / 100) / 10]);
    return { startMs: Math.round((start - profile.startTime) / 1000), ms: Math.round(us / 1000), own: sorted(own), self: sorted(self) };
  };
  let w = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    t += us;
    if (windows) {
      while (w < windows.length && t > windows[w]![1]) {
        close(true);
        w++;
      }
      if (w >= windows.length || t < windows[w]![0]) return;
    } else if (idle(id)) return close(false);
    run ??= { start: t, samples: [] };
    run.samples.push({ id, us });
  });
  close(windows !== undefined);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { over: { type: 'string', default: '80' }, top: { type: 'string', default: '12' }, blocks: { type: 'string' } },
  });
  if (positionals.length === 0) {
    process.stderr.write('usage: npx tsx fuzz/long-tasks.ts PROFILE.cpuprofile [--blocks FILE] [--over MS] [--top N]\n');
    process.exit(2);
  }
  const windows = values.blocks
    ? fs
        .readFileSync(values.blocks, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ').map(Number) as Window)
        .sort((a, b) => a[0] - b[0])
    : undefined;
  for (const file of positionals) {
    const stretches = longStretches(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile, Number(values.over), Number(values.top), windows);
    process.stdout.write(`${file}: ${stretches.length} ${windows ? 'blocked window(s)' : `stretch(es) over ${values.over} ms without an idle sample`}\n`);
    for (const s of stretches.sort((a, b) => b.ms - a.ms)) {
      process.stdout.write(`\n${s.ms} ms at +${(s.startMs / 1000).toFixed(1)} s\n  own frames (inclusive ms):\n`);
      for (const [name, ms] of s.own) process.stdout.write(`    ${String(ms).padStart(7)}  ${name}\n`);
      process.stdout.write('  self ms:\n');
      for (const [name, ms] of s.self) process.stdout.write(`    ${String(ms).padStart(7)}  ${name}\n`);
    }
  }
}
