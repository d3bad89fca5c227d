// --profile: the top self-time functions of a .cpuprofile written by `node --cpu-prof --cpu-prof-dir=<dir>`.
import fs from 'node:fs';
import path from 'node:path';
import { r1, ROOT } from './harness.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  fn: string;
  where: string;
  self_ms: number;
  pct: number;
}

/** The .cpuprofile files in the folder, the main thread's first: node names them CPU.<date>.<time>.<pid>.<thread>.<seq>. */
function profileFiles(profileDir: string): { file: string; thread: number }[] {
  const files = fs.existsSync(profileDir) ? fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) throw new Error('the bridge wrote no .cpuprofile');
  return files.map((file) => ({ file, thread: Number(file.split('.')[4] ?? 0) })).sort((a, b) => a.thread - b.thread);
}

export function topSelfTime(profileDir: string, n: number, file = profileFiles(profileDir)[0]!.file): SelfTime[] {
  const prof = JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const nd = byId.get(prof.samples[i]!);
    const dt = prof.timeDeltas[i] ?? 0;
    if (!nd) continue;
    total += dt;
    const cf = nd.callFrame;
    let where = cf.url.replace(/^file:\/\//, '');
    if (where.startsWith(ROOT + '/')) where = where.slice(ROOT.length + 1);
    const key = `${cf.functionName || '(anonymous)'}\t${where ? `${where}:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => {
      const [fn, where] = key.split('\t') as [string, string];
      return { fn, where, self_ms: Math.round(us / 1000), pct: r1((us / total) * 100) };
    });
}

/** Logs the top entries to stderr. */
export function logTop(top: SelfTime[], log: (m: string) => void, thread = 'main thread'): void {
  log(`bridge CPU profile (${thread}), top self time:`);
  for (const t of top) log(`  ${String(t.self_ms).padStart(7)} ms ${String(t.pct).padStart(5)}%  ${t.fn}  ${t.where}`);
}

/**
 * Adds the bridge's top self-time functions to a bench's JSON (`profile_top`, the main thread's; `profile_threads`,
 * each worker thread's, such as the journal worker's: node profiles every thread with --cpu-prof) and logs them,
 * or says why there are none (`profile_error`): the bridge must have been stopped first, since --cpu-prof writes at exit.
 */
export function addProfile(out: Record<string, unknown>, profileDir: string, log: (m: string) => void, n = 20): void {
  try {
    const [main, ...workers] = profileFiles(profileDir);
    const top = topSelfTime(profileDir, n, main!.file);
    out.profile_top = top;
    logTop(top, log);
    const threads = workers.map(({ file, thread }) => ({ thread, top: topSelfTime(profileDir, n, file) }));
    if (threads.length > 0) out.profile_threads = threads;
    for (const t of threads) logTop(t.top, log, `worker thread ${t.thread}`);
  } catch (err) {
    out.profile_error = (err as Error).message;
  }
}
